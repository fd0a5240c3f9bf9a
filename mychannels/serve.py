"""`python -m mychannels.serve [daphne options] mychannels.asgi:application`

Daphne's command line, with the frame limits from settings (CHAT_MAX_FRAME_BYTES) as defaults
instead of Daphne's 1 MiB, oversized frames answered with a 1009 close frame
(mychannels/server.py), a handshake timeout that survives a reconnect storm, and Twisted's
reactor on uvloop. Every `daphne` option works; a flag given here wins over the default.
"""

import asyncio
import os
import sys

import uvloop

# Before daphne.server is imported: it creates Twisted's asyncio loop at import time.
asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

from daphne.cli import CommandLineInterface  # noqa: E402

from mychannels.server import ChatServer  # noqa: E402


class ChatCommandLine(CommandLineInterface):
    server_class = ChatServer


def default_flags() -> list[str]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mychannels.settings")
    from django.conf import settings

    return [
        "--websocket-max-frame-size",
        str(settings.DAPHNE_WEBSOCKET_MAX_FRAME_SIZE),
        "--websocket-max-message-size",
        str(settings.DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE),
        "--websocket_connect_timeout",
        str(settings.DAPHNE_WEBSOCKET_CONNECT_TIMEOUT),
    ]


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    ChatCommandLine().run(default_flags() + args)  # argparse: the later flag wins


if __name__ == "__main__":
    main()
