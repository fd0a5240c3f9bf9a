"""Writes, one module per entity (Zulip's `zerver/actions/`, the HackSoft styleguide).

Every write that others must see goes through one function here, and only services talk to
the channel layer: the consumer, the API, the admin and the management commands all call
these, so a message from a bot looks exactly like one typed in a browser. Callers import the
function from its entity's module (`from chat.services.messages import message_create`).
"""
