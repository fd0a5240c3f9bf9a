"""Several Redis servers: which one holds a key, for the service's own clients.

`REDIS_URL` may list several servers, comma-separated. The channel layer shards over them
itself (channels-redis picks a group's server by a CRC of the group's channel name:
`_consistent_hash`). The service's own state is placed by the same rule, so that a room's
presence lives on the server that carries the room's broadcasts, and a user's flood-control
buckets and socket-cap set on the server that carries that user's group: when one server is
away, the rooms and users it holds lose their live state together, and everything else keeps
working (docs/deploy.md). State that is one for the whole service (the dashboard's counters,
Django's cache) lives on the first server.

Each key that a script or a transaction touches together with another carries the same
Redis Cluster hash tag (`{...}`), so the same keys would also be valid on a Cluster. The
mapping is plain modulo over the list (crc32 & 0xFFF scaled to N, as channels-redis does):
adding a server moves most rooms, which costs nothing lasting here, since every key is live
state that rebuilds itself (presence from the sockets' heartbeats, buckets refill, sockets
reconnect and catch up from the database, the record).
"""

from collections.abc import Callable
from typing import Generic, TypeVar

from channels_redis.utils import _consistent_hash

T = TypeVar("T")


def redis_urls(value: str) -> list[str]:
    """The servers `REDIS_URL` names, in order (empty when unset)."""
    return [url.strip() for url in value.split(",") if url.strip()]


def group_channel_name(prefix: str, group: str) -> str:
    """The name the pub/sub channel layer publishes a group's events under, and picks its
    server by (channels_redis.pubsub `_get_group_channel_name`)."""
    return f"{prefix}__group__{group}"


def shard_index(name: str, count: int) -> int:
    """Which of `count` servers holds `name`: the channel layer's own rule."""
    return _consistent_hash(name, count)


class Shards(Generic[T]):
    """One client (or anything else) per Redis server, picked by group name."""

    def __init__(self, urls: list[str], prefix: str, make: Callable[[str], T]) -> None:
        if not urls:
            raise ValueError("no Redis server")
        self.prefix = prefix
        self.all: list[T] = [make(url) for url in urls]

    @property
    def first(self) -> T:
        """The server of service-wide state."""
        return self.all[0]

    def for_group(self, group: str) -> T:
        """The server that carries this channel-layer group (e.g. `room.5`, `user.7`)."""
        if len(self.all) == 1:
            return self.all[0]
        return self.all[shard_index(group_channel_name(self.prefix, group), len(self.all))]
