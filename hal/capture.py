"""Recording every chunk of a link to a pcapng file that Wireshark opens, and reading it back.

Format: pcapng (little-endian), one Section Header Block, one Interface Description Block with
link type ``LINKTYPE_USER0`` (147) and ``if_tsresol`` = 9 (nanosecond timestamps), then one
Enhanced Packet Block per chunk.  The direction of each chunk is in the EPB option ``epb_flags``
(code 2, bits 0-1): 1 = inbound (``rx``, read by this end), 2 = outbound (``tx``, written by this
end).  Wireshark shows the bytes raw (or through a USER0 dissector a user configures) and the
direction in the frame's "Direction" field.  Each block is flushed as written, so a capture
survives a crash of the process.

:class:`CaptureLink` wraps any link (``hal.open(url, capture="file.pcapng")``);
:func:`read_capture` yields :class:`CapturedChunk` records for a sniffer to decode later.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from hal.base import Link
from hal.errors import LinkError

_log = logging.getLogger(__name__)

LINKTYPE_USER0 = 147
BLOCK_SHB = 0x0A0D0D0A
BLOCK_IDB = 0x00000001
BLOCK_EPB = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_ENDOFOPT = 0
OPT_EPB_FLAGS = 2
OPT_IF_TSRESOL = 9
DIRECTION_INBOUND = 1
DIRECTION_OUTBOUND = 2


class CaptureFormatError(LinkError):
    """A capture file is not a pcapng file this module understands."""


@dataclass(frozen=True)
class CapturedChunk:
    """One recorded chunk: wall-clock time in ns since the Unix epoch, 'tx' or 'rx', the bytes."""

    time_ns: int
    direction: str
    data: bytes

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

    def record(self, direction: str, data: bytes, time_ns: int | None = None) -> None:
        """Append one chunk (``direction`` 'tx' or 'rx') stamped ``time_ns`` (default: now)."""
        if direction not in ("tx", "rx"):
            raise ValueError(f"direction must be 'tx' or 'rx', got {direction!r}")
        stamp = time.time_ns() if time_ns is None else time_ns
        flags = DIRECTION_OUTBOUND if direction == "tx" else DIRECTION_INBOUND
        body = (
            struct.pack("<IIIII", 0, stamp >> 32, stamp & 0xFFFFFFFF, len(data), len(data))
            + _pad4(data)
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


class CaptureLink(Link):
    """Wraps a link and records what it writes ('tx') and reads ('rx') to a pcapng file.

    Attributes the wrapper lacks (``device_path``, ``bound_address``...) come from the inner link.
    Closing it closes the inner link and the file.
    """

    def __init__(self, link: Link, path: str | os.PathLike[str]) -> None:
        super().__init__(f"capture+{link.name}", timeout=link.timeout)
        self.inner = link
        self.writer = CaptureWriter(path, interface_name=link.name)

    def __getattr__(self, item: str) -> Any:
        inner = self.__dict__.get("inner")
        if inner is None:
            raise AttributeError(item)
        return getattr(inner, item)

    def _timeout_changed(self, timeout: float | None) -> None:
        self.inner.timeout = timeout

    def _read_hook(self, n: int, timeout: float | None) -> bytes:
        data = self.inner.read(n)
        if data:
            self.writer.record("rx", data)
        return data

    def _write_hook(self, data: bytes) -> None:
        self.inner.write(data)
        self.writer.record("tx", data)

    def _close_hook(self) -> None:
        try:
            self.inner.close()
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
            options = body[20 + caplen + (-caplen % 4) :]
            flags = _options(options, endian).get(OPT_EPB_FLAGS)
            direction = "rx"
            if flags is not None and len(flags) == 4:
                bits = struct.unpack(endian + "I", flags)[0] & 0x3
                direction = "tx" if bits == DIRECTION_OUTBOUND else "rx"
            base, exponent = resolutions[iface]
            ticks = (high << 32) | low
            time_ns = ticks * 10**9 // base**exponent if base == 10 else ticks * 10**9 // (2**exponent)
            yield CapturedChunk(time_ns, direction, payload)
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
