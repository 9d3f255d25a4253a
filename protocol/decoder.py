"""StreamDecoder: bytes in (any split, any garbage), frames out, bounded memory."""
from __future__ import annotations

import logging

from .errors import DecoderError
from .frame import MAX_FRAME, DecoderStats, Frame, decode

log = logging.getLogger(__name__)

DEFAULT_BUFFER_CAP = 4 * MAX_FRAME


class StreamDecoder:
    """Incremental frame decoder over an untrusted byte stream.

    `feed(data)` returns the complete, CRC-valid frames found so far, in stream order, each
    exactly once. Garbage, bad CRCs, oversize lengths (refused from the header, before the
    payload is awaited) and unknown versions are skipped and counted in `stats`. The internal
    buffer never exceeds `buffer_cap` bytes (>= one maximum frame): when it would, the oldest
    bytes are dropped and counted in `stats.dropped_overflow` (in practice the buffer never holds
    more than one incomplete frame, < MAX_FRAME bytes, between calls). Never raises, except
    DecoderError when `data` is not bytes-like (any object with the buffer protocol is).
    """

    def __init__(self, buffer_cap: int = DEFAULT_BUFFER_CAP) -> None:
        if buffer_cap < MAX_FRAME:
            raise ValueError(f"buffer_cap must be >= {MAX_FRAME}")
        self.buffer_cap = buffer_cap
        self.stats = DecoderStats()
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held waiting for the rest of a frame."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Add received bytes (any bytes-like object); return the frames they complete.

        Raises DecoderError (and changes nothing) when `data` is not bytes-like."""
        try:
            view = memoryview(data)  # type: ignore[arg-type]
        except TypeError:
            raise DecoderError(f"feed() needs bytes, got {type(data).__name__}") from None
        if not view.c_contiguous or view.format not in ("B", "b", "c"):
            view = memoryview(view.tobytes())  # strided views, arrays of wider items
        data = view.cast("B")
        out: list[Frame] = []
        pos = 0
        while pos < len(data):
            room = self.buffer_cap - len(self._buf)
            if room <= 0:
                drop = len(self._buf) - (self.buffer_cap - MAX_FRAME)
                del self._buf[:drop]
                self.stats.dropped_overflow += drop
                room = self.buffer_cap - len(self._buf)
            self._buf += data[pos:pos + room]
            pos += room
            self._drain(out, final=False)
        return out

    def flush(self) -> list[Frame]:
        """End of stream or idle timeout: give up incomplete candidates, return what remains."""
        out: list[Frame] = []
        self._drain(out, final=True)
        self._buf.clear()
        return out

    def reset(self) -> None:
        """Forget buffered bytes (counters are kept)."""
        self._buf.clear()

    def _drain(self, out: list[Frame], final: bool) -> None:
        while self._buf:
            consumed, frame = decode(self._buf, final=final, stats=self.stats)
            if consumed:
                del self._buf[:consumed]
            if frame is None:
                return
            if frame.error is not None:
                log.debug("frame %s seq %d undecodable: %s", frame.name, frame.seq, frame.error)
            out.append(frame)
