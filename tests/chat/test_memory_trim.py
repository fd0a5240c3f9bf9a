"""The server hands the C allocator's free memory back every SERVER_MALLOC_TRIM_SECONDS
(mychannels/runtime/memorytrim.py)."""

from twisted.internet.task import Clock

from mychannels.runtime import memorytrim


def test_glibc_has_the_call_and_it_runs():
    """Debian's glibc, where the service runs and CI does."""
    trim = memorytrim.malloc_trim()
    assert trim is not None
    assert trim() in (0, 1)  # 1: memory was given back, 0: there was none to give


def test_it_trims_on_each_interval_and_not_at_once(monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(memorytrim, "malloc_trim", lambda: lambda: calls.append(1) or 1)
    clock = Clock()
    looping = memorytrim.trim_every(60, clock=clock)
    try:
        assert calls == []
        clock.advance(59)
        assert calls == []
        clock.advance(1)
        clock.advance(60)
        assert calls == [1, 1]
    finally:
        looping.stop()


def test_zero_seconds_or_no_call_means_never(monkeypatch):
    assert memorytrim.trim_every(0, clock=Clock()) is None
    monkeypatch.setattr(memorytrim, "malloc_trim", lambda: None)
    assert memorytrim.trim_every(60, clock=Clock()) is None
