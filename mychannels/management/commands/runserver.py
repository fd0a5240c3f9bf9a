"""`manage.py runserver`: Daphne's, on the server that answers oversized frames with 1009
(mychannels/runtime/server.py). The limits come from DAPHNE_WEBSOCKET_MAX_*_SIZE in settings."""

from daphne.management.commands.runserver import Command as DaphneRunserver

from mychannels.runtime.server import ChatServer


class Command(DaphneRunserver):
    server_cls = ChatServer
