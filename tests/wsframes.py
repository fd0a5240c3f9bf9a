"""WebSocket frames as a client sends them (RFC 6455, 5.2), built by hand so that tests can
send any header: unit tests of the frame reader and raw sockets to real servers."""

import struct

MASK = b"\x37\xfa\x21\x3d"


def client_frame(
    payload: bytes,
    first: int = 0x81,
    mask: bytes | None = MASK,
    length_form: int | None = None,
) -> bytes:
    """A client frame: `first` is FIN, RSV and the opcode (0x81: a whole text frame); the
    length in its shortest form unless `length_form` (7, 16 or 64) says which; masked with
    `mask` unless it is None."""
    size = len(payload)
    form = length_form or (7 if size <= 125 else 16 if size <= 0xFFFF else 64)
    mask_bit = 0x80 if mask is not None else 0
    if form == 7:
        header = bytes([first, mask_bit | size])
    elif form == 16:
        header = struct.pack("!BBH", first, mask_bit | 126, size)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, size)
    if mask is None:
        return header + payload
    return header + mask + bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
