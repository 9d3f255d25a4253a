"""Cutting a link's byte stream into one capture packet per protocol frame.

:class:`FrameSegmenter` is the segmenter the programmer tools and the virtual pump give to
``hal``'s capture (``hal.open(url, capture=path, capture_segmenter=FrameSegmenter)``): each
CRC-valid frame becomes one packet (comment ``frame``) and each run of bytes between frames that
is not a frame (noise, a corrupted or cut-off frame) becomes a packet of its own (comment
``not a frame``), so Wireshark shows the conversation frame by frame and still every byte.
"""
from __future__ import annotations

from typing import Any

from protocol.decoder import StreamDecoder

FRAME_COMMENT: str | None = None  # frames need no comment: the dissector names them
NOISE_COMMENT = "not a frame"


class FrameSegmenter:
    """Segmenter of one direction: ``feed(bytes)`` -> completed packets, ``flush()`` -> the rest.

    The stream decoder finds the frames; this class keeps the bytes it has not yet written and
    cuts them at the frames' boundaries. Bytes still held by the decoder (an incomplete frame)
    stay held until more bytes or :meth:`flush`.
    """

    def __init__(self) -> None:
        self._decoder = StreamDecoder()
        self._held = bytearray()

    def feed(self, data: bytes) -> list[tuple[bytes, str | None]]:
        """Packets completed by ``data``, in stream order."""
        self._held += data
        return self._cut(self._decoder.feed(data))

    def flush(self) -> list[tuple[bytes, str | None]]:
        """Every held byte as packets (incomplete frames end up as 'not a frame')."""
        packets = self._cut(self._decoder.flush())
        if self._held:
            packets.append((bytes(self._held), NOISE_COMMENT))
            self._held.clear()
        return packets

    def _cut(self, frames: list[Any]) -> list[tuple[bytes, str | None]]:
        done = len(self._held) - self._decoder.pending
        region = bytes(self._held[:done])
        packets: list[tuple[bytes, str | None]] = []
        pos = 0
        for frame in frames:
            at = region.find(frame.raw, pos)
            if at < 0:  # cannot happen while the decoder keeps bytes in order; never lose any
                continue
            if at > pos:
                packets.append((region[pos:at], NOISE_COMMENT))
            packets.append((frame.raw, FRAME_COMMENT))
            pos = at + len(frame.raw)
        if pos < len(region):
            packets.append((region[pos:], NOISE_COMMENT))
        del self._held[:done]
        return packets


__all__ = ["FRAME_COMMENT", "FrameSegmenter", "NOISE_COMMENT"]
