"""Recording what crosses a link to a pcapng file that Wireshark opens, and reading it back.

Format: pcapng (little-endian), one Section Header Block, one Interface Description Block with
link type ``LINKTYPE_USER0`` (147) and ``if_tsresol`` = 9 (nanosecond timestamps), then one
Enhanced Packet Block per packet.  The direction of each packet is in the EPB option ``epb_flags``
(code 2, bits 0-1): 1 = inbound (``rx``, read by this end), 2 = outbound (``tx``, written by this
end); an optional EPB comment (``opt_comment``) says what the packet is.  Wireshark shows the
direction in the frame's "Direction" field and the packet through the package's Lua dissector
(``pumpctl wireshark``).  Each block is flushed as written, so a capture survives a crash.

What a packet is depends on the *segmenter*.  Links move bytes and know no frames, so by default
every chunk a read or write moved is one packet.  Whoever knows the framing passes a segmenter
factory (``CaptureLink(link, path, segmenter=...)`` or ``hal.open(url, capture=...,
capture_segmenter=...)``): it is called once per direction and returns a :class:`Segmenter`
that cuts the byte stream into packets, e.g. one per protocol frame and one per run of bytes that
were not a frame (the programmer tools pass ``host_tools.capture_frames.FrameSegmenter``).  A
segment held back waiting for more bytes is written once an idle gap passes or the link closes.

:class:`CaptureLink` wraps any link (``hal.open(url, capture="file.pcapng")``);
:func:`read_capture` yields :class:`CapturedChunk` records for a sniffer to decode later.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from hal.base import Link, WrapperLink
from hal.errors import LinkError

_log = logging.getLogger(__name__)

LINKTYPE_USER0 = 147
BLOCK_SHB = 0x0A0D0D0A
BLOCK_IDB = 0x00000001
BLOCK_EPB = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_ENDOFOPT = 0
OPT_COMMENT = 1
OPT_EPB_FLAGS = 2
OPT_IF_TSRESOL = 9
DIRECTION_INBOUND = 1
DIRECTION_OUTBOUND = 2


class CaptureFormatError(LinkError):
    """A capture file is not a pcapng file this module understands."""


IDLE_FLUSH_S = 0.25  # a segment held back this long without new bytes is written as it is


class Segmenter(Protocol):
    """Cuts one direction's byte stream into packets: ``(bytes, comment or None)`` each."""

    def feed(self, data: bytes) -> list[tuple[bytes, str | None]]:
        """Packets completed by ``data`` (bytes not yet complete are held)."""
        ...

    def flush(self) -> list[tuple[bytes, str | None]]:
        """Everything held, as packets (idle gap or end of stream)."""
        ...


SegmenterFactory = Callable[[], Segmenter]


@dataclass(frozen=True)
class CapturedChunk:
    """One recorded packet: wall-clock time in ns since the Unix epoch, 'tx' or 'rx', the bytes,
    and the packet's comment (None when it has none)."""

    time_ns: int
    direction: str
    data: bytes
    comment: str | None = None

    @property
    def time_s(self) -> float:
        """The timestamp in seconds since the Unix epoch (float; use time_ns for exact values)."""
        return self.time_ns / 1e9


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + _pad4(value)


def _block(block_type: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", block_type, length) + body + struct.pack("<I", length)


class CaptureWriter:
    """Writes chunks to a pcapng file (thread-safe); see the module documentation."""

    def __init__(self, path: str | os.PathLike[str], *, interface_name: str = "intrapump") -> None:
        self.path = os.fspath(path)
        self._file: BinaryIO = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()
        shb = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + _option(OPT_ENDOFOPT, b"")
        idb_options = (
            _option(2, interface_name.encode()[:200])  # if_name
            + _option(OPT_IF_TSRESOL, bytes([9]))
            + _option(OPT_ENDOFOPT, b"")
        )
        idb = struct.pack("<HHI", LINKTYPE_USER0, 0, 0) + idb_options
        self._file.write(_block(BLOCK_SHB, shb) + _block(BLOCK_IDB, idb))
        self._file.flush()

    def record(self, direction: str, data: bytes, time_ns: int | None = None,
               comment: str | None = None) -> None:
        """Append one packet (``direction`` 'tx' or 'rx') stamped ``time_ns`` (default: now),
        with an optional comment."""
        if direction not in ("tx", "rx"):
            raise ValueError(f"direction must be 'tx' or 'rx', got {direction!r}")
        stamp = time.time_ns() if time_ns is None else time_ns
        flags = DIRECTION_OUTBOUND if direction == "tx" else DIRECTION_INBOUND
        note = _option(OPT_COMMENT, comment.encode("utf-8")) if comment else b""
        body = (
            struct.pack("<IIIII", 0, stamp >> 32, stamp & 0xFFFFFFFF, len(data), len(data))
            + _pad4(data)
            + note
            + _option(OPT_EPB_FLAGS, struct.pack("<I", flags))
            + _option(OPT_ENDOFOPT, b"")
        )
        with self._lock:
            self._file.write(_block(BLOCK_EPB, body))
            self._file.flush()

    def close(self) -> None:
        """Close the file; idempotent."""
        with self._lock:
            self._file.close()


class _Direction:
    """One direction of a capture: its segmenter (or none: one packet per chunk)."""

    def __init__(self, name: str, writer: CaptureWriter, segmenter: Segmenter | None) -> None:
        self.name = name
        self.writer = writer
        self.segmenter = segmenter
        self.lock = threading.Lock()
        self.held_since: float | None = None

    def record(self, data: bytes) -> None:
        if self.segmenter is None:
            self.writer.record(self.name, data)
            return
        with self.lock:
            for packet, comment in self.segmenter.feed(data):
                self.writer.record(self.name, packet, comment=comment)
            self.held_since = time.monotonic()

    def flush(self, *, idle_only: bool) -> None:
        if self.segmenter is None:
            return
        with self.lock:
            if self.held_since is None:
                return
            if idle_only and time.monotonic() - self.held_since < IDLE_FLUSH_S:
                return
            for packet, comment in self.segmenter.flush():
                self.writer.record(self.name, packet, comment=comment)
            self.held_since = None


class CaptureLink(WrapperLink):
    """Wraps a link and records what it writes ('tx') and reads ('rx') to a pcapng file.

    ``segmenter`` (a factory, called once per direction) cuts each direction into packets; without
    it every chunk is a packet (see the module documentation).  Attributes the wrapper lacks
    (``device_path``, ``bound_address``...) come from the inner link.  Closing it closes the inner
    link and the file (after writing what the segmenters held).
    """

    def __init__(self, link: Link, path: str | os.PathLike[str], *,
                 segmenter: SegmenterFactory | None = None) -> None:
        super().__init__("capture", link)
        self.writer = CaptureWriter(path, interface_name=link.name)
        self._directions = {d: _Direction(d, self.writer, segmenter() if segmenter else None)
                            for d in ("tx", "rx")}


    def _read_hook(self, n: int, timeout: float | None) -> bytes:
        data = self.inner.read(n)
        if data:
            self._directions["rx"].record(data)
        else:
            self._flush_idle()
        return data

    def _write_hook(self, data: bytes) -> None:
        self.inner.write(data)
        self._directions["tx"].record(data)
        self._flush_idle()

    def _flush_idle(self) -> None:
        for direction in self._directions.values():
            direction.flush(idle_only=True)

    def _close_hook(self) -> None:
        try:
            self.inner.close()
        finally:
            try:
                for direction in self._directions.values():
                    direction.flush(idle_only=False)
            finally:
                self.writer.close()


def read_capture(path: str | os.PathLike[str]) -> Iterator[CapturedChunk]:
    """Yield the chunks of a pcapng capture in file order; CaptureFormatError if malformed.

    Understands little- and big-endian sections, several interfaces and any ``if_tsresol``; a
    packet without ``epb_flags`` direction is reported as 'rx'.
    """
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    endian = "<"
    resolutions: list[tuple[int, int]] = []  # per interface: (base, exponent)
    while pos < len(data):
        if len(data) - pos < 12:
            raise CaptureFormatError(f"{path}: truncated block at offset {pos}")
        (block_type,) = struct.unpack_from("<I", data, pos)
        if block_type == BLOCK_SHB:
            (magic,) = struct.unpack_from("<I", data, pos + 8)
            if magic == BYTE_ORDER_MAGIC:
                endian = "<"
            elif magic == 0x4D3C2B1A:
                endian = ">"
            else:
                raise CaptureFormatError(f"{path}: bad byte-order magic at offset {pos}")
            resolutions = []
        elif pos == 0:
            raise CaptureFormatError(f"{path}: not a pcapng file (no section header)")
        block_type, length = struct.unpack_from(endian + "II", data, pos)
        if length < 12 or length % 4 or pos + length > len(data):
            raise CaptureFormatError(f"{path}: bad block length {length} at offset {pos}")
        (trailer,) = struct.unpack_from(endian + "I", data, pos + length - 4)
        if trailer != length:
            raise CaptureFormatError(f"{path}: block length mismatch at offset {pos}")
        body = data[pos + 8 : pos + length - 4]
        if block_type == BLOCK_IDB:
            resolutions.append(_tsresol(body[8:], endian))
        elif block_type == BLOCK_EPB:
            iface, high, low, caplen, _ = struct.unpack_from(endian + "IIIII", body, 0)
            if iface >= len(resolutions) or 20 + caplen > len(body):
                raise CaptureFormatError(f"{path}: bad packet block at offset {pos}")
            payload = bytes(body[20 : 20 + caplen])
            options = _options(body[20 + caplen + (-caplen % 4) :], endian)
            flags = options.get(OPT_EPB_FLAGS)
            note = options.get(OPT_COMMENT)
            direction = "rx"
            if flags is not None and len(flags) == 4:
                bits = struct.unpack(endian + "I", flags)[0] & 0x3
                direction = "tx" if bits == DIRECTION_OUTBOUND else "rx"
            base, exponent = resolutions[iface]
            ticks = (high << 32) | low
            time_ns = ticks * 10**9 // base**exponent if base == 10 else ticks * 10**9 // (2**exponent)
            comment = note.decode("utf-8", "replace") if note else None
            yield CapturedChunk(time_ns, direction, payload, comment)
        pos += length


def _options(raw: bytes, endian: str) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    pos = 0
    while pos + 4 <= len(raw):
        code, length = struct.unpack_from(endian + "HH", raw, pos)
        if code == OPT_ENDOFOPT:
            break
        found[code] = bytes(raw[pos + 4 : pos + 4 + length])
        pos += 4 + length + (-length % 4)
    return found


def _tsresol(options: bytes, endian: str) -> tuple[int, int]:
    value = _options(options, endian).get(OPT_IF_TSRESOL)
    if not value:
        return 10, 6  # pcapng default: microseconds
    if value[0] & 0x80:
        return 2, value[0] & 0x7F
    return 10, value[0]
