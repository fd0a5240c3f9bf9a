"""Baseline (b): a bare `websockets` broadcast server, the ceiling of Python on this machine.
Every socket on /room/<name> gets every message sent to that room, serialized once.
Run: `python -m bench.bare <port>`."""

import json
import sys

import websockets

rooms: dict[str, set] = {}


async def handler(socket) -> None:
    members = rooms.setdefault(socket.request.path, set())
    members.add(socket)
    try:
        async for text in socket:
            body = json.loads(text)["body"]
            websockets.broadcast(members, json.dumps({"type": "message", "body": body}))
    finally:
        members.discard(socket)


async def main(port: int) -> None:
    async with websockets.serve(
        handler, "127.0.0.1", port, compression=None, ping_interval=None, backlog=4096
    ) as server:
        await server.serve_forever()


if __name__ == "__main__":
    import uvloop

    uvloop.run(main(int(sys.argv[1])))
