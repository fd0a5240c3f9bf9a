"""One whole client text frame, unmasked without autobahn's per-frame machinery.

A client's chat message arrives as one small masked text frame per read. autobahn parses it
through its general state machine: a frame header object, a masker made for the frame (a
CFFI object with its own buffer), a UTF-8 validator reset for the message, lists of payload
chunks joined at the end. `masked_text_payload` reads that common case in a few slices and
one XOR, and answers None for anything else, so that the caller hands those bytes to
autobahn untouched: fragments, control frames, compressed or binary frames, unmasked client
frames, a 64-bit or non-minimal length, a frame over the limits, a partial frame, more than
one frame or trailing bytes. Every refusal (1002, 1007, 1009) stays autobahn's.
Used by mychannels/runtime/wsprotocol.py; measured in docs/performance.md.
"""

from autobahn.websocket import USES_NVX
from autobahn.websocket.xormasker import create_xor_masker

_FIN_TEXT = 0x81  # FIN set, RSV1-3 clear, opcode 1 (text)
_MASKED = 0x80  # the MASK bit of the second byte
_LENGTH_16 = 126  # the 7-bit length field's marker for a 16-bit length (127: 64-bit)
_MASK_SIZE = 4
# Up to this size one Python int XOR is faster than autobahn's masker (a CFFI object and two
# copies per frame): 0.4-2.4 us against 3.0-3.2 us for 20 B-1 KiB; past ~1.4 KiB its SIMD
# loop wins (3.3 us against 4.2 us at 2 KiB, 8.7 against 125 us at 64 KiB). autobahn's
# pure-Python masker (no NVX) is a loop over bytes, slower than the int XOR at every size.
_INT_XOR_MAX = 1024


def payload_limit(max_frame: int, max_message: int) -> int:
    """The largest payload autobahn takes in one unfragmented message under its two limits
    (maxFramePayloadSize, maxMessagePayloadSize; 0 is no limit), 0 when neither is set."""
    if max_frame > 0 and max_message > 0:
        return min(max_frame, max_message)
    return max(max_frame, max_message, 0)  # the one set, if any (autobahn: 0 < limit)


def masked_text_payload(data: bytes, limit: int) -> bytes | None:
    """The unmasked payload when `data` is exactly one whole frame autobahn would take from a
    client without a question: FIN, no RSV bit, opcode 1 (text), masked, a 7-bit or minimal
    16-bit length at most `limit` (0: none), and nothing after it. None otherwise. The payload
    is not checked for UTF-8 here (the caller decodes it once)."""
    header_size = _header_size(data)
    if header_size is None:
        return None
    length = len(data) - header_size
    if header_size > 2 + _MASK_SIZE and int.from_bytes(data[2:4]) != length:
        return None  # the 16-bit length says otherwise: partial, or more than one frame
    if limit and length > limit:
        return None  # autobahn answers it 1009
    mask = data[header_size - _MASK_SIZE : header_size]
    return unmask(mask, data[header_size:])


def _header_size(data: bytes) -> int | None:
    """The header's size (with the mask) for a frame that can be taken, None otherwise. The
    7-bit length is checked against the data here; a 16-bit one by the caller."""
    if len(data) < 2 + _MASK_SIZE or data[0] != _FIN_TEXT:
        return None
    second = data[1]
    if second < _MASKED:
        return None  # an unmasked client frame: autobahn fails the connection (1002)
    length = second - _MASKED
    if length < _LENGTH_16:
        return 2 + _MASK_SIZE if len(data) == 2 + _MASK_SIZE + length else None
    if length == _LENGTH_16 and len(data) >= 4 + _MASK_SIZE + _LENGTH_16:
        # A 16-bit length under 126 breaks the minimal encoding rule (autobahn: 1002): it
        # cannot match, since the data is at least 126 bytes past the header.
        return 4 + _MASK_SIZE
    return None  # the 64-bit length form, or a 16-bit frame shorter than any valid one


def unmask(mask: bytes, payload: bytes) -> bytes:
    """The payload XORed with the 4-byte mask repeated (RFC 6455, 5.3)."""
    size = len(payload)
    if size > _INT_XOR_MAX and USES_NVX:
        return create_xor_masker(mask, size).process(payload)
    key = (mask * ((size >> 2) + 1))[:size]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(
        size, "little"
    )
