"""A small cache of values computed from objects, found by the objects' identity."""

from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class IdentityCache(Generic[K, V]):
    """The values made from the latest few objects, found by identity: a broadcast hands the
    same object to every member, and hashing a long string or message per member would cost
    what the cache saves. Each entry keeps its object alive, so an id is never reused while
    it is in here; past `size` entries the cache starts again."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: dict[int, tuple[K, V]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K, make: Callable[[K], V]) -> V:
        entry = self._entries.get(id(key))
        if entry is None or entry[0] is not key:
            if len(self._entries) >= self._size:
                self._entries.clear()
            entry = self._entries[id(key)] = (key, make(key))
        return entry[1]
