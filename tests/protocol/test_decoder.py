"""StreamDecoder fuzzing: garbage, splits, bit flips, truncations, splices, bounded memory."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import MAX_FRAME, DecoderError, StreamDecoder, decode, encode_frame, MessageType
from protocol.frame import SYNC

from .strategies import valid_frames

pytestmark = pytest.mark.requirement("PRO-2")


def run(decoder: StreamDecoder, data: bytes, cuts: list[int]) -> list[bytes]:
    out = []
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for a, b in zip(points, points[1:]):
        out += [f.raw for f in decoder.feed(data[a:b])]
    out += [f.raw for f in decoder.flush()]
    return out


def all_valid_frames_in(data: bytes) -> set[bytes]:
    """Every CRC-valid frame starting anywhere in data (independent reference scan)."""
    found = set()
    for i in range(len(data)):
        if data[i:i + 2] == SYNC:
            _, frame = decode(data[i:], final=True)
            if frame is not None and frame.raw == data[i:i + len(frame.raw)]:
                found.add(frame.raw)
    return found


@given(st.binary(max_size=3000), st.lists(st.integers(0, 4000), max_size=20))
def test_random_bytes_never_raise_and_memory_bounded(data: bytes, cuts: list[int]) -> None:
    d = StreamDecoder()
    frames = run(d, data, cuts)
    assert d.pending == 0
    for raw in frames:
        assert raw in data
    assert d.stats.frames == len(frames)


@given(frames=st.lists(valid_frames(), min_size=1, max_size=6),
       garbage=st.lists(st.binary(max_size=40), min_size=7, max_size=7),
       cuts=st.lists(st.integers(0, 10_000), max_size=15))
def test_every_frame_comes_out_once_in_order(frames: list[bytes], garbage: list[bytes],
                                             cuts: list[int]) -> None:
    stream = b"".join(g + f for g, f in zip(garbage, frames)) + garbage[-1]
    out = run(StreamDecoder(), stream, cuts)
    # Random garbage may itself contain a valid frame (CRC collision); it must then be
    # a real valid frame; all the planted frames come out in order.
    it = iter(out)
    for f in frames:
        assert any(f == o for o in it), "planted frame missing or out of order"
    for o in out:
        assert o in frames or o in all_valid_frames_in(stream)


@given(frames=st.lists(valid_frames(), min_size=1, max_size=5), data=st.data())
def test_bit_flips_and_truncations(frames: list[bytes], data: st.DataObject) -> None:
    damaged_index = data.draw(st.integers(0, len(frames) - 1))
    victim = bytearray(frames[damaged_index])
    if data.draw(st.booleans()):
        bit = data.draw(st.integers(0, len(victim) * 8 - 1))
        victim[bit // 8] ^= 1 << (bit % 8)
    else:
        victim = victim[:data.draw(st.integers(0, len(victim) - 1))]
    stream_parts = list(frames)
    stream_parts[damaged_index] = bytes(victim)
    stream = b"".join(stream_parts)
    out = run(StreamDecoder(), stream, data.draw(st.lists(st.integers(0, 5000), max_size=10)))
    intact = [f for i, f in enumerate(frames) if i != damaged_index]
    it = iter(out)
    for f in intact:
        assert any(f == o for o in it)
    assert bytes(victim) not in out or bytes(victim) in frames  # damaged copy never emitted
    for o in out:  # nothing with a bad CRC ever comes out
        assert o in all_valid_frames_in(stream)


@given(a=valid_frames(), b=valid_frames(), cut=st.integers(1, 200))
def test_splice_truncated_frame_then_valid_frame(a: bytes, b: bytes, cut: int) -> None:
    prefix = a[:min(cut, len(a) - 1)]
    stream = prefix + b
    out = run(StreamDecoder(), stream, [])
    # b comes out unless the cut frame plus b's first bytes form a valid frame by themselves
    # (e.g. a's last CRC byte equals b's first sync byte): then that frame comes out instead.
    overlapping = [o for o in out if 0 <= stream.find(o) < len(prefix) < stream.find(o) + len(o)]
    assert b in out or overlapping
    for o in out:
        assert o in all_valid_frames_in(stream)


def test_duplicates_come_out_twice() -> None:
    f = encode_frame(MessageType.GET_STATUS, None, 3)
    assert [x.raw for x in StreamDecoder().feed(f + f)] == [f, f]


def test_bytewise_feed() -> None:
    frames = [encode_frame(MessageType.SET_CLOCK, {"wall_ms": i}, i) for i in range(5)]
    d = StreamDecoder()
    out = []
    for byte in b"\x00\xa5" + b"".join(frames):
        out += d.feed(bytes([byte]))
    assert [f.seq for f in out] == list(range(5))


def test_buffer_is_capped() -> None:
    d = StreamDecoder(buffer_cap=MAX_FRAME)
    # A header announcing a maximal payload keeps the decoder waiting; flooding it with
    # sync-laden junk must not grow the buffer beyond its cap.
    junk = (SYNC + b"\x01\x00" + bytes(9) + b"\x04\x00") * 2000
    for i in range(0, len(junk), 777):
        d.feed(junk[i:i + 777])
        assert d.pending <= MAX_FRAME
    assert d.stats.bad_crc > 0 or d.stats.dropped_overflow > 0


def test_valid_frame_hidden_after_false_sync_is_found() -> None:
    f = encode_frame(MessageType.GET_STATUS, None, 11)
    fake_header = SYNC + b"\x01\x00" + bytes(8) + b"\x10" + b"\x00\x05"  # claims 5 bytes
    out = StreamDecoder().feed(fake_header + f + b"\x00" * 8)
    assert [x.raw for x in out] == [f]


def test_non_bytes_raises_decoder_error() -> None:
    with pytest.raises(DecoderError):
        StreamDecoder().feed("text")  # type: ignore[arg-type]


def test_counters() -> None:
    f = encode_frame(MessageType.GET_STATUS, None, 1)
    bad = bytearray(f)
    bad[-1] ^= 0xFF
    d = StreamDecoder()
    out = d.feed(b"xyz" + bytes(bad) + f)
    assert [x.raw for x in out] == [f]
    assert d.stats.bad_crc == 1
    assert d.stats.skipped_bytes == 3 + len(bad)
