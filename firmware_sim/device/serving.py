"""How a device is driven from its link: the serving loop of its thread (reads, reconnects,
final commit) and the same steps for a caller that drives it without a thread.

:class:`LinkServing` is a part of :class:`firmware_sim.device.Device` (its base class); it
relies on the device's link, lock, decoder, clock and frame handling.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

import hal

log = logging.getLogger("firmware_sim.device.device")

READ_CHUNK = 4096


class LinkServing:
    """The serving loop of a device (see the module documentation)."""

    link: hal.Link
    reopen: Callable[[], hal.Link] | None
    lock: Any
    decoder: Any
    refusal_records: Any
    _stop: threading.Event
    _connections: Any
    _last_rx: float
    _final_commit: bool
    _mono: Callable[[], float]

    def poll(self) -> float:  # provided by the device
        raise NotImplementedError

    def handle_bytes(self, data: bytes) -> None:  # provided by the device
        raise NotImplementedError

    def _handle_frame_safely(self, frame: Any) -> None:  # provided by the device
        raise NotImplementedError

    def _flush_events(self) -> None:  # provided by the device
        raise NotImplementedError

    def _new_host(self, why: str) -> None:  # provided by the device
        raise NotImplementedError

    def _tick(self, commit: bool = False) -> None:  # provided by the device
        raise NotImplementedError

    def serve_forever(self, stop_event: threading.Event | None = None) -> None:
        """Serve the link until ``stop_event`` is set (or the link is closed for good)."""
        stop = stop_event if stop_event is not None else self._stop
        log.info("serving on %s", self.link.name)
        while not stop.is_set() and not self._stop.is_set():
            wait = self.poll()
            try:
                self.link.timeout = max(0.0, min(wait, 0.25))
                data = self.link.read(READ_CHUNK)
            except hal.LinkClosed as exc:
                if not self._relink(stop, exc):
                    break
                continue
            except hal.LinkError as exc:
                log.error("link error on %s: %s", self.link.name, exc)
                if not self._relink(stop, exc):
                    break
                continue
            conns = getattr(self.link, "connections", None)
            if conns != self._connections:
                self._connections = conns
                self._new_host("a new host connected")
            if data:
                self._last_rx = self._mono()
                self.handle_bytes(data)
            elif self.decoder.pending and self._mono() - self._last_rx > 0.25:
                with self.lock:
                    for frame in self.decoder.flush():
                        self._handle_frame_safely(frame)
        if self._final_commit:
            with self.lock:
                self.refusal_records.flush(self._mono(), force=True)
                self._tick(commit=True)
        log.info("stopped serving on %s", self.link.name)

    def _relink(self, stop: threading.Event, exc: Exception) -> bool:
        if self.reopen is None or stop.is_set():
            log.info("link %s closed (%s)", self.link.name, exc)
            return False
        log.info("host left %s; waiting for the next one", self.link.name)
        try:
            self.link.close()
        except hal.LinkError:
            pass
        while not stop.is_set():
            try:
                link = self.reopen()
            except hal.LinkError as err:
                log.warning("cannot reopen %s: %s", self.link.name, err)
                stop.wait(0.1)
                continue
            with self.lock:
                self.link = link
                self._connections = getattr(link, "connections", None)
                self._new_host("link reopened")
            return True
        return False

    # Driving the device without its thread: a caller that owns both ends of a link in one
    # thread (a synchronous loopback) does what one pass of serve_forever does when a read
    # returns bytes (serve_bytes) or returns nothing (serve_idle).
    def serve_bytes(self, data: bytes) -> None:
        """Handle bytes that arrived on the link now, then advance the model and push what is
        due, as the serving loop does after a read that returned ``data``."""
        self._last_rx = self._mono()
        self.handle_bytes(data)
        self.poll()

    def serve_idle(self) -> None:
        """What the serving loop does after a read that returned nothing: advance the model
        and push what is due, and give up a partial frame left without new bytes for more
        than 0.25 s (real seconds)."""
        self.poll()
        if self.decoder.pending and self._mono() - self._last_rx > 0.25:
            with self.lock:
                for frame in self.decoder.flush():
                    self._handle_frame_safely(frame)
                self._flush_events()
