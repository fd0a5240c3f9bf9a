"""Memory the C allocator keeps after a peak, handed back to the system every minute.

glibc keeps what Python frees inside its heap for the next allocation. A server's peaks (a
page of reconnects catching up, events queued for a member that fell behind) leave that
memory in the process's RSS after the objects are gone: in a 10-minute soak, glibc's free
space inside the heap doubled while the live objects stayed flat (docs/performance.md,
"Soak"). `malloc_trim(0)` gives the free pages back. Where the C library has no such call
(musl, macOS), nothing is done.
"""

import ctypes
from collections.abc import Callable

from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall


def malloc_trim() -> Callable[[], int] | None:
    """glibc's `malloc_trim(0)`, or None where the process's C library has none."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


def trim_every(seconds: float, clock: IReactorTime | None = None) -> LoopingCall | None:
    """Trim every `seconds` on Twisted's reactor, or `clock` (not at once: nothing is freed
    yet); the LoopingCall, or None when `seconds` is 0 or there is nothing to call."""
    trim = malloc_trim()
    if seconds <= 0 or trim is None:
        return None
    looping = LoopingCall(trim)
    if clock is not None:
        looping.clock = clock
    looping.start(seconds, now=False)
    return looping
