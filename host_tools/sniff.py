"""Decoding frames seen on a link or recorded in a capture file (the sniffer behind `pumpctl sniff`).

Three sources, one output: :class:`Sniffed` records (time, direction, frame).

* :func:`from_capture` reads a pcapng file written by ``hal`` (``capture=`` option): each
  recorded direction has its own stream decoder, so frames split over chunks are reassembled.
* :func:`from_link` listens on a link (e.g. a serial tap that mirrors the wire) and decodes
  whatever it receives.
* :func:`relay` sits in the middle: it serves the programmer on one link and forwards every byte
  to the pump on another, decoding both directions without changing a byte.

The direction is read from the frame itself (requests go host to pump; responses and events
pump to host), so it is right whatever end recorded the capture.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hal.base import Link
from hal.capture import read_capture
from hal.errors import LinkClosed, LinkError
from protocol.decoder import StreamDecoder
from protocol.describe import describe, frame_fields
from protocol.enums import FrameKind
from protocol.frame import Frame

HOST_TO_PUMP = "host>pump"
PUMP_TO_HOST = "pump>host"


@dataclass(frozen=True)
class Sniffed:
    """One decoded frame: wall time (ns since the Unix epoch), direction and the frame."""

    time_ns: int
    direction: str
    frame: Frame

    def to_json(self) -> dict[str, Any]:
        """time, direction, type, decoded fields (or error) and the frame's hex."""
        doc = frame_fields(self.frame)
        return {"time_ns": self.time_ns, "time": _clock(self.time_ns), "direction": self.direction,
                "type": self.frame.name, "kind": doc["kind"], "seq": self.frame.seq,
                "session_id": self.frame.session_id, "fields": doc["fields"], "error": doc["error"],
                "hex": self.frame.raw.hex()}

    def line(self, with_hex: bool = True) -> str:
        """One human line: time, direction, the decoded frame, then its hex."""
        text = f"{_clock(self.time_ns)} {self.direction} {describe(self.frame)}"
        return f"{text}\n    {self.frame.raw.hex(' ')}" if with_hex else text


def _clock(time_ns: int) -> str:
    seconds = time_ns // 1_000_000_000
    return time.strftime("%H:%M:%S", time.gmtime(seconds)) + f".{time_ns // 1000 % 1_000_000:06d}"


def direction_of(frame: Frame) -> str:
    """host>pump for requests, pump>host for responses and events."""
    return HOST_TO_PUMP if frame.kind is FrameKind.REQUEST else PUMP_TO_HOST


def from_capture(path: str) -> Iterator[Sniffed]:
    """Frames of a pcapng capture, in file order (CaptureFormatError if the file is bad)."""
    decoders = {"tx": StreamDecoder(), "rx": StreamDecoder()}
    for chunk in read_capture(path):
        for frame in decoders[chunk.direction].feed(chunk.data):
            yield Sniffed(chunk.time_ns, direction_of(frame), frame)
    for decoder in decoders.values():
        for frame in decoder.flush():
            yield Sniffed(time.time_ns(), direction_of(frame), frame)


def from_link(link: Link, *, duration_s: float | None = None,
              stop: threading.Event | None = None) -> Iterator[Sniffed]:
    """Frames received on ``link`` until ``duration_s`` passes, ``stop`` is set or it closes."""
    decoder = StreamDecoder()
    deadline = None if duration_s is None else time.monotonic() + duration_s
    link.timeout = 0.1
    while not (stop is not None and stop.is_set()):
        if deadline is not None and time.monotonic() >= deadline:
            return
        try:
            data = link.read(4096)
        except LinkError:
            return
        now = time.time_ns()
        for frame in decoder.feed(data) if data else decoder.flush():
            yield Sniffed(now, direction_of(frame), frame)


def relay(host_side: Link, pump_side: Link, on_frame: Callable[[Sniffed], None],
          stop: threading.Event) -> None:
    """Forward bytes both ways between ``host_side`` and ``pump_side`` until ``stop`` is set or
    either link closes, calling ``on_frame`` for every frame seen (bytes are never changed)."""
    lock = threading.Lock()

    def pump_bytes(src: Link, dst: Link) -> None:
        decoder = StreamDecoder()
        src.timeout = 0.1
        while not stop.is_set():
            try:
                data = src.read(4096)
            except (LinkClosed, LinkError):
                stop.set()
                return
            if not data:
                continue
            now = time.time_ns()
            # Decode before forwarding, so that a request is always reported before its answer.
            for frame in decoder.feed(data):
                with lock:
                    on_frame(Sniffed(now, direction_of(frame), frame))
            try:
                dst.write(data)
            except (LinkClosed, LinkError):
                stop.set()
                return

    threads = [threading.Thread(target=pump_bytes, args=(host_side, pump_side), daemon=True),
               threading.Thread(target=pump_bytes, args=(pump_side, host_side), daemon=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
