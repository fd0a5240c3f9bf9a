"""`python -m bench --dashboard`: the service measured with an operations dashboard open.

One staff socket on /ws/dashboard/ for the whole of each phase, read in a thread of the
orchestrator (never in the load client, whose timing it would disturb). The dashboard must
add nothing measurable to the service: compare the headline with and without this option.
The frames it received are recorded, so that a dashboard that went quiet or was closed shows
in the results instead of passing for "no cost"."""

import asyncio
import json
import threading

import websockets

from bench.servers import Server


class DashboardWatcher:
    """A staff dashboard socket held open in a thread of its own, counting stats frames."""

    def __init__(self, server: Server, staff_session: str) -> None:
        self.url = f"ws://127.0.0.1:{server.port}/ws/dashboard/"
        self.headers = {"Origin": server.origin, "Cookie": f"sessionid={staff_session}"}
        self.frames = 0
        self.close_code: int | None = None
        self.error: str | None = None
        self._opened = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Future | None = None
        self._thread = threading.Thread(target=self._run, name="bench-dashboard", daemon=True)

    def __enter__(self) -> "DashboardWatcher":
        self._thread.start()
        if not self._opened.wait(15) or self.error:
            raise RuntimeError(f"the dashboard socket did not open: {self.error}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(15)

    def result(self) -> dict:
        return {"frames": self.frames, "close_code": self.close_code, "error": self.error}

    def _run(self) -> None:
        self._loop.run_until_complete(self._watch())
        self._loop.close()

    async def _watch(self) -> None:
        self._stop = self._loop.create_future()
        try:
            async with websockets.connect(self.url, additional_headers=self.headers) as socket:
                first = json.loads(await asyncio.wait_for(socket.recv(), 10))
                if first.get("type") != "stats":
                    raise RuntimeError(f"the first frame was not stats: {first}")
                self.frames = 1
                self._opened.set()
                reader = asyncio.ensure_future(self._count(socket))
                await asyncio.wait([reader, self._stop], return_when=asyncio.FIRST_COMPLETED)
                reader.cancel()
                self.close_code = socket.close_code
        except Exception as error:  # recorded in the results, raised by __enter__ if early
            self.error = repr(error)
        finally:
            self._opened.set()

    async def _count(self, socket) -> None:
        async for _ in socket:
            self.frames += 1
