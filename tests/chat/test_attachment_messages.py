"""Attachments in messages: who may attach what, the message object, deletion and purging."""

from datetime import timedelta
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import AsyncClient
from django.utils import timezone

from chat.models import Attachment, Message
from chat.services.attachments import attachments_delete_for_message
from tests.chat.attachment_files import png_bytes
from tests.chat.test_attachments import media, stored_files  # noqa: F401  (fixture)
from tests.conftest import make_room, make_user

pytestmark = pytest.mark.django_db(transaction=True)


async def upload(user, room, name: str = "a.txt", data: bytes = b"data") -> dict:
    client = AsyncClient()
    await client.aforce_login(user)
    file = SimpleUploadedFile(name, data)
    response = await client.post(f"/api/rooms/{room.pk}/attachments/", {"file": file})
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
async def pair():
    alice, bob = await make_user("alice"), await make_user("bob")
    room = await make_room("general", [alice, bob])
    return alice, bob, room


async def test_a_message_carries_its_attachments_to_every_member(pair, open_room_socket):
    alice, bob, room = pair
    image = await upload(alice, room, "p.png", png_bytes(40, 30))
    text = await upload(alice, room, "n.txt", b"notes")
    sender, _, _ = await open_room_socket(alice, room)
    reader, _, _ = await open_room_socket(bob, room)
    await sender.send({"type": "message", "body": "", "attachments": [image["id"], text["id"]]})
    frame = await reader.recv_type("message")
    assert frame["body"] == "" and frame["attachments"] == [image, text]
    # History pages show them too: the opening frame and the API.
    _, history, _ = await open_room_socket(bob, room)
    assert history["messages"][-1]["attachments"] == [image, text]
    client = AsyncClient()
    await client.aforce_login(bob)
    page = (await client.get(f"/api/rooms/{room.pk}/messages/")).json()
    assert page["messages"][-1]["attachments"] == [image, text]
    # Now that it is sent, the other member may fetch it.
    assert (await client.get(text["url"])).status_code == 200


async def refused(socket, attachments, body: str = "x") -> dict:
    await socket.send({"type": "message", "body": body, "attachments": attachments})
    return await socket.recv_type("error")


async def test_bad_attachment_lists_are_invalid_and_store_nothing(pair, open_room_socket):
    alice, bob, room = pair
    other_room = await make_room("other", [alice])
    bobs = await upload(bob, room)
    elsewhere = await upload(alice, other_room)
    mine = [(await upload(alice, room))["id"] for _ in range(11)]
    socket, _, _ = await open_room_socket(alice, room)
    for attachments in (
        [bobs["id"]],  # someone else's upload
        [elsewhere["id"]],  # an upload to another room
        mine,  # eleven
        [mine[0], mine[0]],
        "1",
        [999999],
    ):
        assert (await refused(socket, attachments))["code"] == "invalid", attachments
    assert (await refused(socket, None, body=""))["code"] == "invalid"  # no body, no files
    assert await Message.objects.acount() == 0
    assert await Attachment.objects.filter(message__isnull=False).acount() == 0


async def test_an_attached_upload_cannot_be_reused(pair, open_room_socket):
    alice, _, room = pair
    upload_id = (await upload(alice, room))["id"]
    socket, _, _ = await open_room_socket(alice, room)
    await socket.send({"type": "message", "body": "first", "attachments": [upload_id]})
    await socket.recv_type("message")
    assert (await refused(socket, [upload_id]))["code"] == "invalid"
    assert await Message.objects.acount() == 1


async def test_the_api_takes_attachments_and_a_resend_answers_them_again(pair):
    alice, _, room = pair
    upload_id = (await upload(alice, room))["id"]
    client = AsyncClient()
    await client.aforce_login(alice)
    url = f"/api/rooms/{room.pk}/messages/"
    data = {"body": "", "attachments": [upload_id], "client_id": "c-1"}
    first = await client.post(url, data, content_type="application/json")
    assert first.status_code == 201 and first.json()["attachments"][0]["id"] == upload_id
    again = await client.post(url, data, content_type="application/json")
    assert again.status_code == 200 and again.json() == first.json()


async def test_deleting_a_message_deletes_its_files(pair, open_room_socket, media):  # noqa: F811
    alice, _, room = pair
    uploaded = await upload(alice, room, "p.png", png_bytes(40, 30))
    socket, _, _ = await open_room_socket(alice, room)
    await socket.send({"type": "message", "body": "pic", "attachments": [uploaded["id"]]})
    frame = await socket.recv_type("message")
    assert len(stored_files(media)) == 2  # the file and its thumbnail
    message = await Message.objects.aget(pk=frame["id"])
    assert await attachments_delete_for_message(message) == 1
    assert stored_files(media) == [] and await Attachment.objects.acount() == 0


async def test_deleting_over_the_socket_leaves_a_tombstone_without_files(
    pair,
    open_room_socket,
    media,  # noqa: F811
):
    alice, bob, room = pair
    uploaded = await upload(alice, room, "p.png", png_bytes(40, 30))
    sender, _, _ = await open_room_socket(alice, room)
    reader, _, _ = await open_room_socket(bob, room)
    await sender.send({"type": "message", "body": "pic", "attachments": [uploaded["id"]]})
    sent = await reader.recv_type("message")
    await sender.send({"type": "delete", "id": sent["id"]})
    deleted = (await reader.recv_type("message_deleted"))["message"]
    assert deleted["deleted"] is True and deleted["attachments"] == []
    assert stored_files(media) == [] and await Attachment.objects.acount() == 0
    client = AsyncClient()
    await client.aforce_login(bob)
    assert (await client.get(uploaded["url"])).status_code == 404
    _, history, _ = await open_room_socket(bob, room)
    assert history["messages"][-1]["attachments"] == []


async def test_purge_removes_only_old_uploads_never_sent(pair, open_room_socket, media):  # noqa: F811
    alice, _, room = pair
    old_orphan = await upload(alice, room, "old.txt")
    new_orphan = await upload(alice, room, "new.txt")
    sent = await upload(alice, room, "sent.txt")
    socket, _, _ = await open_room_socket(alice, room)
    await socket.send({"type": "message", "body": "x", "attachments": [sent["id"]]})
    await socket.recv_type("message")
    long_ago = timezone.now() - timedelta(hours=25)
    await Attachment.objects.filter(pk__in=[old_orphan["id"], sent["id"]]).aupdate(created=long_ago)
    await sync_to_async(call_command)("purge_attachments")
    remaining = {a.id async for a in Attachment.objects.all()}
    assert remaining == {new_orphan["id"], sent["id"]}
    assert len(stored_files(Path(media))) == 2
