"""`python -m mychannels.serve [daphne options] mychannels.asgi:application`

Daphne's command line, with the frame limits from settings (CHAT_MAX_FRAME_BYTES) as defaults
instead of Daphne's 1 MiB, oversized frames answered with a 1009 close frame
(mychannels/runtime/server.py), a handshake timeout that survives a reconnect storm, Twisted's
reactor on uvloop, and the cycle collector run less often. Every `daphne` option works; a
flag given here wins over the default.
"""

import asyncio
import gc
import os
import sys

import uvloop

# Before daphne.server is imported: it creates Twisted's asyncio loop at import time.
asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

from daphne.cli import CommandLineInterface  # noqa: E402

from mychannels.runtime.server import ChatServer  # noqa: E402


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


def collect_garbage_less_often() -> None:
    """Python's cycle collector runs after every 700 net allocations by default: a socket's
    opening makes thousands (protocol, scope, consumer, tasks), and in a storm of 2,000 the
    collector took 15-20% of the server's CPU (docs/performance.md). After every
    SERVER_GC_GEN0_THRESHOLD instead; the older generations keep their ratios."""
    from django.conf import settings

    _, older, oldest = gc.get_threshold()
    gc.set_threshold(settings.SERVER_GC_GEN0_THRESHOLD, older, oldest)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mychannels.settings")
    collect_garbage_less_often()
    ChatCommandLine().run(default_flags() + args)  # argparse: the later flag wins


if __name__ == "__main__":
    main()
