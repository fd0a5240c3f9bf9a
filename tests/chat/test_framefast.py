"""The client text frame reader (mychannels/runtime/framefast.py): it takes exactly one whole,
masked, unfragmented text frame and nothing else, and unmasks it as autobahn does. Unit tests:
no protocol, no server (the protocol's use of it: tests/chat/test_wsprotocol.py)."""

import os
import random
import struct

import pytest
from autobahn.websocket.utf8validator import Utf8Validator
from autobahn.websocket.xormasker import create_xor_masker

from mychannels.runtime.framefast import masked_text_payload, payload_limit, unmask
from tests.wsframes import client_frame

LIMIT = 64 * 1024  # the server's (CHAT_MAX_FRAME_BYTES)


def autobahns_unmasking(mask: bytes, masked: bytes) -> bytes:
    return create_xor_masker(mask, len(masked)).process(masked)


SIZES = [0, 1, 2, 3, 4, 5, 125, 126, 127, 1023, 1024, 1025, 4096, 65535]


@pytest.mark.parametrize("size", SIZES)
def test_a_whole_text_frame_of_any_7_or_16_bit_length_is_unmasked_exactly(size):
    payload = os.urandom(size)
    assert masked_text_payload(client_frame(payload), limit=0) == payload
    assert masked_text_payload(client_frame(payload), limit=LIMIT) == payload


def test_unmasking_equals_autobahns_masker_for_random_masks_and_sizes():
    rng = random.Random(6455)
    sizes = [*SIZES, *(rng.randrange(0, 65536) for _ in range(200))]
    for size in sizes:
        mask, data = rng.randbytes(4), rng.randbytes(size)
        assert unmask(mask, data) == autobahns_unmasking(mask, data), size


def random_text(rng: random.Random, characters: int) -> str:
    """ASCII, 2-, 3- and 4-byte UTF-8 mixed (no surrogates: they are not text)."""
    ranges = [(0x20, 0x7E), (0x80, 0x7FF), (0x800, 0xD7FF), (0xE000, 0xFFFF), (0x10000, 0x10FFFF)]
    out = []
    for _ in range(characters):
        low, high = rng.choice(ranges)
        out.append(chr(rng.randint(low, high)))
    return "".join(out)


def test_random_multibyte_texts_come_back_as_the_text_sent():
    rng = random.Random(2026)
    for _ in range(300):
        text = random_text(rng, rng.choice([0, 1, 2, 31, 32, 125, 126, 300, 4000, 16383]))
        encoded = text.encode()
        if len(encoded) > 0xFFFF:
            continue
        mask = rng.randbytes(4)
        payload = masked_text_payload(client_frame(encoded, mask=mask), limit=LIMIT)
        assert payload == encoded
        assert payload.decode("utf-8") == text


def test_the_length_edges_of_each_form():
    for size in (125, 126, 65535):
        payload = b"z" * size
        assert masked_text_payload(client_frame(payload), limit=LIMIT) == payload


TEXT = b'{"type":"message","body":"hello"}'
LONG_TEXT = b"y" * 300
FALLBACKS = {
    # Message and frame kinds autobahn must see.
    "fragment, FIN clear": client_frame(TEXT, first=0x01),
    "continuation frame": client_frame(TEXT, first=0x80),
    "RSV1 (compression) set": client_frame(TEXT, first=0xC1),
    "RSV2 set": client_frame(TEXT, first=0xA1),
    "RSV3 set": client_frame(TEXT, first=0x91),
    "binary": client_frame(TEXT, first=0x82),
    "reserved data opcode": client_frame(TEXT, first=0x83),
    "close": client_frame(struct.pack("!H", 1000), first=0x88),
    "ping": client_frame(b"ping?", first=0x89),
    "pong": client_frame(b"pong!", first=0x8A),
    "reserved control opcode": client_frame(b"", first=0x8B),
    "unmasked client frame": client_frame(TEXT, mask=None),
    "unmasked, 16-bit length": client_frame(LONG_TEXT, mask=None),
    # Length forms autobahn refuses or that are not taken here.
    "64-bit length": client_frame(b"w" * 70000),
    "64-bit length for a short payload": client_frame(TEXT, length_form=64),
    "16-bit length for a 7-bit payload (not minimal)": client_frame(TEXT, length_form=16),
    # Not exactly one frame.
    "empty read": b"",
    "one byte": client_frame(TEXT)[:1],
    "header only": client_frame(TEXT)[:6],
    "partial mask": client_frame(TEXT)[:4],
    "partial payload": client_frame(TEXT)[:-1],
    "partial 16-bit header": client_frame(LONG_TEXT)[:3],
    "partial 16-bit payload": client_frame(LONG_TEXT)[:-1],
    "two frames in one read": client_frame(TEXT) + client_frame(TEXT),
    "a frame and a ping": client_frame(TEXT) + client_frame(b"", first=0x89),
    "16-bit frame and another": client_frame(LONG_TEXT) + client_frame(TEXT),
    "trailing byte": client_frame(TEXT) + b"\x00",
    "trailing bytes after a 16-bit frame": client_frame(LONG_TEXT) + b"\x81\x80",
    "an empty frame and another": client_frame(b"") + client_frame(TEXT),
}


@pytest.mark.parametrize("data", FALLBACKS.values(), ids=FALLBACKS.keys())
def test_anything_but_one_whole_masked_text_frame_is_left_to_autobahn(data):
    assert masked_text_payload(data, limit=0) is None
    assert masked_text_payload(data, limit=LIMIT) is None


@pytest.mark.parametrize("limit", [1, 33, 125, 126, 1000, 65534])
def test_a_frame_over_the_limit_is_left_to_autobahn_and_one_at_it_is_taken(limit):
    at_limit = os.urandom(limit)
    assert masked_text_payload(client_frame(at_limit), limit=limit) == at_limit
    assert masked_text_payload(client_frame(at_limit + b"!"), limit=limit) is None


@pytest.mark.parametrize(
    ("max_frame", "max_message", "limit"),
    [(0, 0, 0), (65536, 0, 65536), (0, 1000, 1000), (100, 1000, 100), (1000, 100, 100)],
)
def test_the_limit_is_the_smaller_of_autobahns_two_zero_meaning_none(max_frame, max_message, limit):
    assert payload_limit(max_frame, max_message) == limit


INVALID_UTF8 = {
    "lone continuation byte": b"\x80",
    "truncated 2-byte sequence": b"abc\xc3",
    "truncated 4-byte sequence": "😀".encode()[:3],
    "overlong slash": b"\xc0\xaf",
    "overlong NUL": b"\xe0\x80\x80",
    "overlong 4-byte": b"\xf0\x82\x82\xac",
    "UTF-16 surrogate (high)": b"\xed\xa0\x80",
    "UTF-16 surrogate (low)": b"\xed\xbf\xbf",
    "surrogate pair as CESU-8": b"\xed\xa0\xbd\xed\xb8\x80",
    "above U+10FFFF": b"\xf4\x90\x80\x80",
    "0xFF byte": b"ok\xff",
}


@pytest.mark.parametrize("payload", INVALID_UTF8.values(), ids=INVALID_UTF8.keys())
def test_invalid_utf8_is_unmasked_as_sent_and_refused_by_a_strict_decode(payload):
    """The reader does not judge UTF-8; the protocol's strict decode refuses what autobahn's
    validator refuses (and then hands the read to autobahn: tests/chat/test_wsprotocol.py)."""
    unmasked = masked_text_payload(client_frame(payload), limit=LIMIT)
    assert unmasked == payload
    with pytest.raises(UnicodeDecodeError):
        unmasked.decode("utf-8")


def decodes(payload: bytes) -> bool:
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def autobahn_accepts(payload: bytes) -> bool:
    """autobahn's verdict on a whole text message: valid so far, and ended on a code point."""
    valid, ended, _, _ = Utf8Validator().validate(payload)
    return valid and ended


def test_the_strict_decode_accepts_exactly_what_autobahns_utf8_validator_accepts():
    rng = random.Random(3629)
    # Bytes that UTF-8's lead and continuation rules are made of, so that many are near-valid.
    alphabet = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
                0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF]  # fmt: skip
    cases = [*INVALID_UTF8.values(), random_text(rng, 500).encode()]
    cases += [bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 8))) for _ in range(20000)]
    cases += [bytes(rng.randrange(256) for _ in range(rng.randint(1, 6))) for _ in range(20000)]
    accepted = 0
    for payload in cases:
        assert decodes(payload) == autobahn_accepts(payload), payload
        accepted += decodes(payload)
    assert 1000 < accepted < len(cases) - 1000  # both verdicts well represented
