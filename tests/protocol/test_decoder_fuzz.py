"""More StreamDecoder fuzzing: exact-once delivery, splices, bounded memory, odd inputs.

Complements test_decoder.py. Properties: every valid frame in the stream comes out exactly once
and in order; nothing that is not a CRC-valid frame of the stream ever comes out; the decoder
holds less than one maximal frame between calls; it raises only DecoderError, only for input
that is not bytes-like.
"""
from __future__ import annotations

import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import (MAX_FRAME, DecoderError, FrameKind, MessageType, StreamDecoder, crc16,
                      encode_frame)
from protocol.frame import SYNC

from .strategies import valid_frames
from .test_decoder import all_valid_frames_in, run

pytestmark = pytest.mark.requirement("PRO-2")


def straddles(stream: bytes, out: list[bytes], boundary: int) -> bool:
    """True if an emitted frame starts before `boundary` and ends after it: damaged bytes plus
    the first bytes of the next frame formed a valid frame by themselves (e.g. a cut frame's
    last byte equal to the sync byte that follows), which then legitimately hides that frame."""
    return any(0 <= stream.find(o) < boundary < stream.find(o) + len(o) for o in out)


def feed_checked(decoder: StreamDecoder, data: bytes, cuts: list[int]) -> list[bytes]:
    """Feed `data` split at `cuts`, checking the memory bound after every call."""
    out: list[bytes] = []
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for a, b in zip(points, points[1:]):
        out += [f.raw for f in decoder.feed(data[a:b])]
        assert decoder.pending < MAX_FRAME
    out += [f.raw for f in decoder.flush()]
    assert decoder.pending == 0
    return out


@given(frames=st.lists(valid_frames(), min_size=1, max_size=8),
       cuts=st.lists(st.integers(0, 20_000), max_size=30))
def test_concatenation_comes_out_exactly(frames: list[bytes], cuts: list[int]) -> None:
    """Back-to-back frames, any split: exactly the same frames, same order, nothing else."""
    d = StreamDecoder()
    assert feed_checked(d, b"".join(frames), cuts) == frames
    assert d.stats.frames == len(frames)
    assert d.stats.skipped_bytes == d.stats.bad_crc == 0


@given(frames=st.lists(valid_frames(), min_size=1, max_size=5),
       garbage=st.lists(st.binary(max_size=60), min_size=6, max_size=6),
       cuts=st.lists(st.integers(0, 20_000), max_size=20))
def test_exactly_once_with_garbage(frames: list[bytes], garbage: list[bytes],
                                   cuts: list[int]) -> None:
    stream = b"".join(g + f for g, f in zip(garbage, frames)) + garbage[-1]
    out = feed_checked(StreamDecoder(), stream, cuts)
    planted = iter(frames)
    expected = next(planted)
    extra = []
    for o in out:
        if o == expected:
            expected = next(planted, None)
        else:
            extra.append(o)
    assert expected is None, "a planted frame did not come out"
    # Anything else must be a genuine CRC-valid frame that the garbage itself contains.
    valid_in_garbage = set().union(*(all_valid_frames_in(g) for g in garbage))
    for o in extra:
        assert o in valid_in_garbage or o in all_valid_frames_in(stream)


@given(outer=valid_frames(), inner=valid_frames(), data=st.data())
def test_frame_spliced_into_another(outer: bytes, inner: bytes, data: st.DataObject) -> None:
    """A frame inserted inside another: the inner one comes out, the broken outer one not."""
    at = data.draw(st.integers(1, len(outer) - 1))
    stream = outer[:at] + inner + outer[at:]
    out = feed_checked(StreamDecoder(), stream, data.draw(st.lists(st.integers(0, 5000), max_size=8)))
    assert inner in out or straddles(stream, out, at)
    valid = all_valid_frames_in(stream)
    for o in out:
        assert o in valid
    if outer not in valid:
        assert outer not in out


@given(a=valid_frames(), b=valid_frames(), data=st.data())
def test_cross_splice_never_yields_a_bad_frame(a: bytes, b: bytes, data: st.DataObject) -> None:
    """Head of one frame glued to the tail of another, then a clean frame."""
    i = data.draw(st.integers(2, len(a)))
    j = data.draw(st.integers(0, len(b) - 1))
    clean = encode_frame(MessageType.GET_STATUS, None, 77)
    stream = a[:i] + b[j:] + clean
    out = feed_checked(StreamDecoder(), stream, data.draw(st.lists(st.integers(0, 5000), max_size=8)))
    assert out[-1] == clean or straddles(stream, out, i + len(b) - j)
    valid = all_valid_frames_in(stream)
    for o in out:
        assert o in valid
        assert crc16(o[:-2]) == int.from_bytes(o[-2:], "big")


@given(frames=st.lists(valid_frames(), min_size=1, max_size=4), data=st.data())
def test_many_bit_flips(frames: list[bytes], data: st.DataObject) -> None:
    """Several flipped bits anywhere: intact frames still come out; no bad CRC ever does."""
    stream = bytearray(b"".join(frames))
    flips = data.draw(st.lists(st.integers(0, len(stream) * 8 - 1), min_size=1, max_size=6))
    for bit in flips:
        stream[bit // 8] ^= 1 << (bit % 8)
    stream = bytes(stream)
    out = feed_checked(StreamDecoder(), stream, data.draw(st.lists(st.integers(0, 5000), max_size=8)))
    touched = {bit // 8 for bit in flips}
    start = 0
    intact = []
    for f in frames:
        if not touched & set(range(start, start + len(f))):
            intact.append(f)
        start += len(f)
    it = iter(out)
    for f in intact:
        assert any(f == o for o in it)
    valid = all_valid_frames_in(stream)
    for o in out:
        assert o in valid


@given(st.lists(st.one_of(st.binary(max_size=300),
                          st.builds(lambda n: (SYNC + b"\x01\x00" + bytes(9) + b"\x04\x00") * n,
                                    st.integers(1, 200))),
                max_size=25))
def test_memory_bounded_under_adversarial_headers(chunks: list[bytes]) -> None:
    """Headers that announce maximal payloads, mixed with noise: the buffer stays bounded."""
    d = StreamDecoder(buffer_cap=MAX_FRAME)
    for chunk in chunks:
        d.feed(chunk)
        assert d.pending < MAX_FRAME
    d.flush()
    assert d.pending == 0


def test_truncated_frame_at_end_of_stream_is_not_emitted() -> None:
    f = encode_frame(MessageType.SET_CLOCK, {"wall_ms": 5}, 3, FrameKind.REQUEST)
    for cut in range(1, len(f)):
        d = StreamDecoder()
        assert d.feed(f[:cut]) == []
        assert d.flush() == []
        assert d.pending == 0


@pytest.mark.parametrize("data", [memoryview(b"\xa5Z" * 40)[::2], array.array("I", [7, 8]),
                                  bytearray(b"\x00\xa5"), memoryview(b"")])
def test_any_bytes_like_is_accepted(data: object) -> None:
    d = StreamDecoder()
    assert d.feed(data) == []  # type: ignore[arg-type]


def test_strided_view_of_a_frame_is_decoded() -> None:
    f = encode_frame(MessageType.GET_STATUS, None, 2)
    interleaved = bytes(x for c in f for x in (c, 0))
    assert [x.raw for x in StreamDecoder().feed(memoryview(interleaved)[::2])] == [f]


@pytest.mark.parametrize("bad", ["text", None, 3, 2.5, [1, 2], {"a": 1}, object()])
def test_only_decoder_error_for_non_bytes(bad: object) -> None:
    d = StreamDecoder()
    d.feed(b"\xa5")
    with pytest.raises(DecoderError):
        d.feed(bad)  # type: ignore[arg-type]
    assert d.pending == 1  # nothing changed
