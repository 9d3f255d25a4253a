"""The run clock of a controlled pump: time-warped like ``ScaledClock``, and also paused,
resumed, re-warped and moved forward by hand while the pump runs.

It never goes backwards: every change re-anchors the clock at its current reading.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_WARP = 10_000_000.0


class ClockError(ValueError):
    """A clock request that makes no sense (the message says which value and why)."""


@dataclass(frozen=True)
class ClockState:
    """What the clock is doing: ``now_ms`` (pump run ms), ``warp`` (simulated seconds per real
    second while running) and ``paused``."""

    now_ms: int
    warp: float
    paused: bool


class ControlClock:
    """A monotonic clock in integer ms: ``start_ms`` + ``warp`` x real time elapsed while not
    paused + every :meth:`advance`. Thread-safe.

    ``warp`` (the attribute the device reads to plan its wake-ups) is 0.0 while paused.
    """

    def __init__(self, warp: float = 1.0, start_ms: int = 0,
                 source: Callable[[], int] = time.monotonic_ns) -> None:
        self._check_warp(warp)
        self._lock = threading.Lock()
        self._source = source
        self._rate = float(warp)
        self._paused = False
        self._base_ms = int(start_ms)
        self._t0_ns = source()

    @staticmethod
    def _check_warp(warp: float) -> None:
        if isinstance(warp, bool) or not isinstance(warp, (int, float)) or \
                not 0 < warp <= MAX_WARP:
            raise ClockError(f"warp must be a number in (0, {MAX_WARP:g}], got {warp!r}")

    def _reading(self) -> int:
        if self._paused:
            return self._base_ms
        elapsed_ns = self._source() - self._t0_ns
        return self._base_ms + int(elapsed_ns * self._rate) // 1_000_000

    def _anchor(self) -> None:
        self._base_ms = self._reading()
        self._t0_ns = self._source()

    def now_ms(self) -> int:
        """Pump run time now (ms); never decreases."""
        with self._lock:
            return self._reading()

    @property
    def warp(self) -> float:
        """Simulated seconds per real second now (0.0 while paused)."""
        return 0.0 if self._paused else self._rate

    def state(self) -> ClockState:
        """A consistent reading of time, warp factor and pause."""
        with self._lock:
            return ClockState(self._reading(), self._rate, self._paused)

    def advance(self, delta_ms: int) -> int:
        """Move forward by ``delta_ms`` (an integer >= 0); the new time in ms."""
        if isinstance(delta_ms, bool) or not isinstance(delta_ms, int) or delta_ms < 0:
            raise ClockError(f"advance needs an integer number of ms >= 0, got {delta_ms!r}")
        with self._lock:
            self._anchor()
            self._base_ms += delta_ms
            return self._base_ms

    def advance_to(self, t_ms: int) -> int:
        """Move forward to ``t_ms`` if the clock is not already past it; the new time in ms."""
        with self._lock:
            self._anchor()
            self._base_ms = max(self._base_ms, int(t_ms))
            return self._base_ms

    def pause(self) -> None:
        """Stop time (the pump delivers nothing more until resumed or advanced)."""
        with self._lock:
            self._anchor()
            self._paused = True

    def resume(self) -> None:
        """Let time run again at the current warp factor."""
        with self._lock:
            self._anchor()
            self._paused = False

    def set_warp(self, warp: float) -> None:
        """Run at ``warp`` simulated seconds per real second from now on (in (0, 1e7])."""
        self._check_warp(warp)
        with self._lock:
            self._anchor()
            self._rate = float(warp)

    def restart(self, start_ms: int, warp: float, paused: bool = False) -> None:
        """Start over at ``start_ms`` (a fresh pump's clock; the only way back in time)."""
        self._check_warp(warp)
        with self._lock:
            self._base_ms = int(start_ms)
            self._t0_ns = self._source()
            self._rate = float(warp)
            self._paused = paused
