"""Frame encoder and pure framer against the normative FRAME declaration."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import (MAX_PAYLOAD, Flag, FrameKind, MessageType, NakCode, ProtocolError,
                      DecoderStats, decode, encode_frame, parse_frame)
from protocol.frame import FRAME, HEADER_BYTES, crc16

from .strategies import valid_frames

pytestmark = pytest.mark.requirement("PRO-1")


@given(msg_type=st.integers(0, 255), payload=st.binary(max_size=300), seq=st.integers(0, 2**32 - 1),
       kind=st.sampled_from(list(FrameKind)), session_id=st.integers(1, 2**32 - 1),
       tag=st.binary(min_size=16, max_size=16), tagged=st.booleans())
def test_encode_matches_declaration(msg_type: int, payload: bytes, seq: int, kind: FrameKind,
                                    session_id: int, tag: bytes, tagged: bool) -> None:
    class FixedTag:
        def __init__(self) -> None:
            self.session_id = session_id

        def compute_tag(self, auth_data: bytes) -> bytes:
            return tag

    wire = encode_frame(msg_type, payload, seq, kind, session=FixedTag() if tagged else None)
    flags = int(kind) | (Flag.TAG if tagged else 0)
    expected = FRAME.build({"body": {"value": {
        "version": 1, "flags": flags, "session_id": session_id if tagged else 0, "seq": seq,
        "msg_type": msg_type, "payload": payload, "tag": tag if tagged else None}}})
    assert wire == expected
    parsed = FRAME.parse(wire)
    frame = parse_frame(wire)
    assert (frame.seq, frame.msg_type, frame.payload, frame.tag, frame.flags) == (
        seq, msg_type, payload, tag if tagged else None, flags)
    assert parsed.body.value.payload == frame.payload


@given(valid_frames())
def test_parse_frame_round_trip(wire: bytes) -> None:
    frame = parse_frame(wire)
    assert frame.error is None
    assert encode_frame(frame.msg_type, frame.fields, frame.seq, frame.flags) == wire


def test_oversize_length_refused_from_header_alone() -> None:
    """A header announcing > MAX_PAYLOAD is skipped without waiting for the payload."""
    header = b"\xa5\x5a\x01\x00" + bytes(8) + b"\x01" + (MAX_PAYLOAD + 1).to_bytes(2, "big")
    stats = DecoderStats()
    consumed, frame = decode(header, stats=stats)
    assert frame is None
    assert stats.oversize == 1
    assert consumed == len(header)  # nothing kept to wait for


def test_max_payload_accepted_and_more_refused_by_encoder() -> None:
    wire = encode_frame(MessageType.NAK, bytes(MAX_PAYLOAD), 1, FrameKind.RESPONSE)
    assert parse_frame(wire).payload == bytes(MAX_PAYLOAD)
    with pytest.raises(ProtocolError):
        encode_frame(MessageType.NAK, bytes(MAX_PAYLOAD + 1), 1)


def test_bad_crc_refused() -> None:
    wire = bytearray(encode_frame(MessageType.GET_STATUS, None, 5))
    wire[-1] ^= 1
    with pytest.raises(ProtocolError) as err:
        parse_frame(bytes(wire))
    assert err.value.code is NakCode.FRAMING


def test_unknown_version_and_reserved_flags_refused() -> None:
    for offset, value in ((2, 2), (3, 0x08), (3, 0x03)):
        wire = bytearray(encode_frame(MessageType.GET_STATUS, None, 5))
        wire[offset] = value
        wire[-2:] = crc16(bytes(wire[:-2])).to_bytes(2, "big")
        stats = DecoderStats()
        assert decode(bytes(wire), final=True, stats=stats)[1] is None
        assert stats.bad_header == 1


def test_valid_crc_unknown_type_gives_frame_with_error() -> None:
    frame = parse_frame(encode_frame(0x7E, b"abc", 9))
    assert frame.fields is None and frame.error is not None
    assert frame.error.code is NakCode.UNKNOWN_MESSAGE_TYPE


def test_valid_crc_malformed_payload_gives_frame_with_error() -> None:
    frame = parse_frame(encode_frame(MessageType.SET_CLOCK, b"\x00\x01", 9))
    assert frame.error is not None and frame.error.code is NakCode.MALFORMED_PAYLOAD


def test_partial_frame_waits_and_final_gives_up() -> None:
    wire = encode_frame(MessageType.GET_STATUS, None, 5)
    assert decode(wire[:-1]) == (0, None)
    consumed, frame = decode(wire[:-1], final=True)
    assert frame is None and consumed == len(wire) - 1


def test_header_layout() -> None:
    wire = encode_frame(MessageType.SET_CLOCK, {"wall_ms": 0x0102030405060708}, 0xA1B2C3D4,
                        FrameKind.REQUEST)
    assert wire[:2] == b"\xa5\x5a"
    assert wire[2] == 1 and wire[3] == 0
    assert wire[4:8] == bytes(4)
    assert wire[8:12] == bytes.fromhex("a1b2c3d4")
    assert wire[12] == MessageType.SET_CLOCK
    assert wire[13:15] == (8).to_bytes(2, "big")
    assert wire[HEADER_BYTES:HEADER_BYTES + 8] == bytes(range(1, 9))
    assert int.from_bytes(wire[-2:], "big") == crc16(wire[:-2])
