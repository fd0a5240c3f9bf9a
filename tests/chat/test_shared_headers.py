"""The scope's common headers are shared among sockets (idle memory), equal to what Daphne
made (mychannels/runtime/server.py)."""

from mychannels.runtime.server import SharedHeaders

BROWSER = [
    (b"host", b"chat.example.org"),
    (b"origin", b"https://chat.example.org"),
    (b"upgrade", b"websocket"),
    (b"user-agent", b"Mozilla/5.0"),
]


def headers_of(socket: int) -> list:
    return [
        *BROWSER,
        (b"sec-websocket-key", f"key{socket}".encode()),
        (b"cookie", f"sessionid=s{socket}".encode()),
    ]


def test_shared_headers_are_equal_to_daphnes_in_order_and_type():
    shared = SharedHeaders()
    for socket in range(3):
        headers = headers_of(socket)
        result = shared(headers)
        assert result == headers and type(result) is list
        assert all(type(pair) is tuple and len(pair) == 2 for pair in result)


def test_common_pairs_are_one_object_among_sockets_and_own_ones_keep_their_value():
    shared = SharedHeaders()
    first, second = shared(headers_of(1)), shared(headers_of(2))
    for a, b in zip(first[: len(BROWSER)], second[: len(BROWSER)], strict=True):
        assert a is b
    for a, b in zip(first[len(BROWSER) :], second[len(BROWSER) :], strict=True):
        assert a[0] is b[0] and a[1] != b[1]  # the name shared, the value its own
    assert len(shared._pairs) == len(BROWSER)  # no cookie or key kept in the cache


def test_shared_headers_stay_bounded_under_made_up_headers():
    shared = SharedHeaders(size=8)
    for socket in range(100):
        made_up = [(f"x-{socket}".encode(), f"v{socket}".encode()), (b"x-long", b"v" * 600)]
        assert shared(made_up) == made_up
        assert len(shared._pairs) <= 8 and len(shared._names) <= 8
