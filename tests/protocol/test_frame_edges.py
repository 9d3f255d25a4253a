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


def test_encoder_defaults_and_the_oversize_refusal_text() -> None:
    frame = parse_frame(encode_frame(MT.GET_STATUS))
    assert (frame.seq, frame.kind, frame.session_id, frame.version) == (0, FrameKind.REQUEST, 0, 1)
    with pytest.raises(ProtocolError) as exc:
        encode_frame(MT.GET_STATUS, b"\x00" * 1025, 1)
    assert exc.value.detail == "payload 1025 > 1024 bytes"
    assert len(encode_frame(MT.GET_STATUS, b"\x00" * 1024, 1)) == 15 + 1024 + 2


def test_parse_frame_refusal_text() -> None:
    with pytest.raises(ProtocolError) as exc:
        parse_frame(GOOD[:-1])
    assert str(exc.value) == "FRAMING: not exactly one valid frame"


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview], ids=lambda w: w.__name__)
def test_any_bytes_like_buffer_decodes_to_bytes(wrap: type) -> None:
    consumed, frame = decode(wrap(b"\x00" + GOOD + b"\x00"))
    assert consumed == 1 + len(GOOD) and frame is not None
    assert type(frame.raw) is bytes and type(frame.payload) is bytes and frame.raw == GOOD


def test_skipped_bytes_add_up_over_calls_and_tails() -> None:
    stats = DecoderStats()
    assert decode(b"abc", stats=stats) == (3, None)
    assert stats.skipped_bytes == 3
    assert decode(b"ab\xa5", stats=stats) == (2, None)  # the lone sync byte is kept
    assert stats.skipped_bytes == 5
    assert decode(b"ab\xa5", final=True, stats=stats) == (3, None)
    assert stats.skipped_bytes == 8
    # a header cut short at the end of the stream: given up byte by byte
    assert decode(b"zz" + GOOD[:10], final=True, stats=stats) == (12, None)
    assert stats.skipped_bytes == 20
    # a complete header whose frame is cut short
    assert decode(b"z" + GOOD[:-1], final=True, stats=stats) == (len(GOOD), None)
    assert stats.skipped_bytes == 20 + len(GOOD)
    assert decode(b"z" + GOOD[:-1], stats=stats) == (1, None)  # waits for the rest
    assert stats.skipped_bytes == 21 + len(GOOD)
    assert stats.frames == 0


def test_every_counter_counts_each_refusal() -> None:
    bad_crc = bytearray(GOOD)
    bad_crc[-1] ^= 1
    bad_version = bytearray(GOOD)
    bad_version[2] = 2
    oversize = bytearray(GOOD)
    oversize[13:15] = (1025).to_bytes(2, "big")
    unknown = encode_frame(0xEE, b"\x01\x02", 3)  # valid CRC, payload of no known message
    stream = bytes(bad_crc) * 2 + bytes(bad_version) * 2 + bytes(oversize) * 2 + unknown
    stats = DecoderStats()
    consumed, frame = decode(stream, stats=stats)
    assert consumed == len(stream) and frame is not None and frame.raw == unknown
    assert frame.error is not None and frame.fields is None
    assert (stats.bad_crc, stats.bad_header, stats.oversize) == (2, 2, 2)
    assert (stats.undecodable, stats.frames) == (1, 1)
    assert stats.skipped_bytes == len(stream) - len(unknown)
    consumed, frame = decode(unknown + GOOD, stats=stats)
    assert (stats.undecodable, stats.frames) == (2, 2)
    assert stats.skipped_bytes == len(stream) - len(unknown)


def test_frame_hidden_behind_a_truncated_candidate_is_found_at_the_end() -> None:
    """A false header announcing more bytes than the stream holds, then a valid frame: at the
    end of the stream the false candidate is given up one byte at a time and the frame found."""
    false = bytearray(GOOD[:15])
    false[13:15] = (500).to_bytes(2, "big")
    stream = bytes(false) + GOOD
    assert decode(stream) == (0, None)  # could still be a 500-byte frame: wait
    stats = DecoderStats()
    consumed, frame = decode(stream, final=True, stats=stats)
    assert consumed == len(stream) and frame is not None and frame.raw == GOOD
    assert frame.version == 1 and stats.skipped_bytes == 15
