"""Edges of the framer and the encoder, checked by their results: empty input, bytes in front of
a frame, encoder argument checks, and a refused candidate away from offset 0."""
from __future__ import annotations

import pytest

from protocol import FrameKind, MessageType as MT, NakCode, ProtocolError, encode_frame
from protocol.frame import DecoderStats, decode, parse_frame

pytestmark = pytest.mark.requirement("PRO-1", "PRO-2")

GOOD = encode_frame(MT.GET_STATUS, None, 5, FrameKind.REQUEST)


@pytest.mark.parametrize("final", [False, True])
def test_empty_input_needs_more_and_never_raises(final: bool) -> None:
    assert decode(b"", final=final) == (0, None)
    assert decode(bytearray(), final=final) == (0, None)


def test_a_lone_sync_byte_is_kept_until_the_end() -> None:
    assert decode(b"xy\xa5") == (2, None)
    assert decode(b"xy\xa5", final=True) == (3, None)


@pytest.mark.parametrize("data", [b"\x00" + GOOD, GOOD + b"\x00", GOOD[:-1], GOOD + GOOD, b""],
                         ids=["byte-before", "byte-after", "short", "two", "empty"])
def test_parse_frame_takes_exactly_one_frame(data: bytes) -> None:
    with pytest.raises(ProtocolError) as exc:
        parse_frame(data)
    assert exc.value.code == NakCode.FRAMING
    assert parse_frame(GOOD).seq == 5


@pytest.mark.parametrize("seq", [-1, 2**32])
def test_encoder_refuses_a_seq_outside_u32(seq: int) -> None:
    with pytest.raises(ProtocolError) as exc:
        encode_frame(MT.GET_STATUS, None, seq, FrameKind.REQUEST)
    assert exc.value.code == NakCode.INVALID_FIELD and "seq" in str(exc.value)
    assert parse_frame(encode_frame(MT.GET_STATUS, None, 2**32 - 1)).seq == 2**32 - 1
    assert parse_frame(encode_frame(MT.GET_STATUS, None, 0)).seq == 0


@pytest.mark.parametrize("flags", [3, 0x80, 0x40 | 1])
def test_encoder_refuses_kind_3_and_reserved_flags(flags: int) -> None:
    with pytest.raises(ProtocolError) as exc:
        encode_frame(MT.GET_STATUS, None, 1, flags)
    assert exc.value.code == NakCode.INVALID_FIELD and "flags" in str(exc.value)


@pytest.mark.parametrize("damage", ["crc", "version", "oversize"])
@pytest.mark.parametrize("offset", [0, 1, 7])
def test_refused_candidate_anywhere_skips_one_byte_and_finds_the_next(damage: str,
                                                                      offset: int) -> None:
    bad = bytearray(GOOD)
    if damage == "crc":
        bad[-1] ^= 0xFF
    elif damage == "version":
        bad[2] = 9
    else:
        bad[13:15] = (2000).to_bytes(2, "big")
    stream = b"\x00" * offset + bytes(bad) + GOOD
    stats = DecoderStats()
    consumed, frame = decode(stream, stats=stats)
    assert frame is not None and frame.raw == GOOD and consumed == len(stream)
    assert stats.frames == 1
    assert stats.skipped_bytes == offset + len(bad)
    counted = {"crc": stats.bad_crc, "version": stats.bad_header, "oversize": stats.oversize}
    assert counted[damage] == 1 and sum(counted.values()) == 1
