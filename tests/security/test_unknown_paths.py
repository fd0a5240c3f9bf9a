"""A socket to a path no consumer serves is refused at the handshake, whoever asks and however
odd the path: a close before accept (a 403 under every server, tests/e2e/
test_upgrade_handshakes.py), one warning line, no traceback."""

import logging

import pytest

from tests.conftest import communicator, make_room, make_user, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

ODD_PATHS = [
    "/ws/nowhere/",
    "/ws/chat/room/abc/",
    "/ws/chat/room/1/extra/",
    "/ws/chat/room/-1/",
    "/ws/chat/room/../../admin/",
    "/ws/chät/room/1/",
    "/ws/rooms",
    "/",
    "/ws/" + "x" * 5000 + "/",
]


@pytest.mark.parametrize("path", ODD_PATHS)
async def test_an_unknown_path_is_refused_for_a_logged_in_user(path, caplog):
    cookie = await session_cookie(await make_user("alice"))
    comm = communicator(path, cookie)
    with caplog.at_level(logging.WARNING, logger="mychannels.sockets"):
        connected, code = await comm.connect(timeout=5)
    assert (connected, code) == (False, 1000)
    logged = [r.getMessage() for r in caplog.records if r.name == "mychannels.sockets"]
    assert logged == [f"Not Found: {path}"]


async def test_an_unknown_path_is_refused_without_a_session():
    connected, _ = await communicator("/ws/nowhere/", None).connect(timeout=5)
    assert not connected


async def test_a_known_path_still_opens_next_to_the_catch_all():
    alice = await make_user("alice")
    room = await make_room("general", [alice])
    comm = communicator(f"/ws/chat/room/{room.pk}/", await session_cookie(alice))
    connected, _ = await comm.connect(timeout=5)
    assert connected
    assert (await comm.receive_json_from(timeout=3))["type"] == "history"
    await comm.disconnect()
