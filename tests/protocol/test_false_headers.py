"""Crafted false headers: the decoder's resynchronisation checks each candidate's CRC in
constant time (not by re-reading its claimed payload) and still finds a legitimate frame
hidden after any number of false candidates."""
from __future__ import annotations

import binascii
import random

from protocol import StreamDecoder, encode_frame
from protocol import MessageType as MT
from protocol.crc_window import WindowCrc

FALSE_HEADER = b"\xa5\x5a\x01\x00" + b"\x11" * 8 + b"\x03\x03"  # claims 933 bytes, next one 14 on


def test_window_crc_equals_the_plain_crc() -> None:
    rng = random.Random(3)
    buf = bytes(rng.randrange(256) for _ in range(6000))
    window = WindowCrc(buf)
    for _ in range(3000):
        i = rng.randrange(len(buf))
        j = min(len(buf), i + rng.randrange(2049))
        assert window.crc(i, j) == binascii.crc_hqx(buf[i:j], 0xFFFF)


def test_legitimate_frame_after_false_headers_is_found(monkeypatch) -> None:
    crc_bytes = [0]
    real = binascii.crc_hqx

    def counting(data, value):  # type: ignore[no-untyped-def]
        crc_bytes[0] += len(data)
        return real(data, value)
    monkeypatch.setattr("protocol.frame._crc_hqx", counting)
    monkeypatch.setattr("protocol.crc_window._crc_hqx", counting)
    junk = FALSE_HEADER * 20_000  # 280 KB, 20,000 false candidates
    legit = encode_frame(MT.IDENTIFY, None, seq=77)
    stream = junk + legit + FALSE_HEADER * 100
    dec = StreamDecoder()
    frames = []
    for at in range(0, len(stream), 4096):
        frames += dec.feed(stream[at:at + 4096])
    frames += dec.flush()
    assert [(f.name, f.seq) for f in frames] == [("IDENTIFY", 77)]
    # CRC work per stream byte is bounded by a constant, not by the claimed payload length
    # (one CRC over each false candidate's 950 bytes would be ~68 bytes per stream byte)
    per_byte = crc_bytes[0] / len(stream)
    print(f"CRC bytes per stream byte under false headers: {per_byte:.1f}")
    assert per_byte < 12
