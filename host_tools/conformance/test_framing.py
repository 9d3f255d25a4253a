"""PROTOCOL.md sections 2-3: framing, resynchronisation in noise, CRC refusal, bad headers."""
from __future__ import annotations

import os

import pytest

from protocol import FrameKind, MessageType as MT, encode_frame

from .wire import WireHost, ok

pytestmark = pytest.mark.requirement("PRO-1", "PRO-2")

IDENTIFY = encode_frame(MT.IDENTIFY, None, 0, FrameKind.REQUEST)


def test_identify_is_answered(bare: WireHost) -> None:
    """An untagged IDENTIFY is answered with IDENTITY, seq echoed."""
    bare.send(encode_frame(MT.IDENTIFY, None, 7, FrameKind.REQUEST))
    r = bare.response()
    ok(r, MT.IDENTITY)
    assert r.seq == 7 and r.kind is FrameKind.RESPONSE


def test_frame_found_in_noise(bare: WireHost) -> None:
    """Noise (with false sync bytes) before and after a frame: the frame is answered once."""
    noise = bytes(b for b in os.urandom(300) if b != 0xA5)
    bare.send(noise + b"\xa5\x5a\x01" + IDENTIFY + noise[:50])
    ok(bare.response(), MT.IDENTITY)
    assert bare.silent(0.3), "one frame, more than one answer"


def test_frame_in_single_bytes(bare: WireHost) -> None:
    """A frame written one byte at a time is answered."""
    for b in IDENTIFY:
        bare.send(bytes([b]))
    ok(bare.response(), MT.IDENTITY)


def test_bad_crc_is_never_answered_and_the_next_frame_is(bare: WireHost) -> None:
    """A frame with a wrong CRC is dropped silently; a valid frame right after it is answered."""
    bad = bytearray(IDENTIFY)
    bad[-1] ^= 0x01
    bare.send(bytes(bad))
    assert bare.silent(0.5), "a frame with a wrong CRC was answered"
    bare.send(IDENTIFY)
    ok(bare.response(), MT.IDENTITY)


@pytest.mark.parametrize("offset,value", [(2, 2), (3, 0x80), (3, 0x03)],
                         ids=["version", "reserved-flag", "kind-3"])
def test_bad_header_is_never_answered(bare: WireHost, offset: int, value: int) -> None:
    """Another version, a reserved flag bit or kind 3 (with a correct CRC): never answered."""
    from protocol import crc16
    f = bytearray(IDENTIFY)
    f[offset] = value
    f[-2:] = crc16(bytes(f[:-2])).to_bytes(2, "big")
    bare.send(bytes(f))
    assert bare.silent(0.5)
    bare.send(IDENTIFY)
    ok(bare.response(), MT.IDENTITY)


def test_oversize_length_is_refused_from_the_header(bare: WireHost) -> None:
    """A header announcing more than 1024 payload bytes is skipped at once: the valid frame
    that follows is answered without waiting for the announced bytes."""
    f = bytearray(IDENTIFY)
    f[13:15] = (1025).to_bytes(2, "big")
    bare.send(bytes(f[:15]) + IDENTIFY)
    ok(bare.response(timeout=2.0), MT.IDENTITY)


def test_responses_and_events_are_never_executed(wire: WireHost) -> None:
    """A frame of kind RESPONSE or EVENT sent to the pump is ignored (no answer)."""
    wire.send(encode_frame(MT.GET_STATUS, None, 99, FrameKind.RESPONSE))
    wire.send(encode_frame(MT.GET_STATUS, None, 99, FrameKind.EVENT))
    assert wire.silent(0.5)
