"""Reads, one module per entity: every query the views, the API and the consumers need, async.
Callers import from the entity's module (`from chat.selectors.rooms import room_access`)."""
