"""Clocks giving the model its notion of "now" in integer milliseconds.

The pump model never reads the wall clock itself: it is driven by ``advance_to(t_ms)`` and a
:class:`Clock` only tells a caller which ``t_ms`` to advance to.
"""
from __future__ import annotations

import time
from typing import Callable, Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Anything that gives a monotonic "now" in integer milliseconds."""

    def now_ms(self) -> int:
        """Current time in ms since the clock's epoch; never decreases."""
        ...


class ManualClock:
    """A clock moved by hand (tests, scripted scenarios)."""

    def __init__(self, start_ms: int = 0) -> None:
        self._now_ms = int(start_ms)

    def now_ms(self) -> int:
        """Current time in ms."""
        return self._now_ms

    def set(self, t_ms: int) -> None:
        """Move to ``t_ms``; refuses to go backwards (ValueError)."""
        if t_ms < self._now_ms:
            raise ValueError(f"ManualClock cannot go backwards ({t_ms} < {self._now_ms})")
        self._now_ms = int(t_ms)

    def advance(self, delta_ms: int) -> int:
        """Move forward by ``delta_ms`` (>= 0) and return the new time in ms."""
        if delta_ms < 0:
            raise ValueError("delta_ms must be >= 0")
        self._now_ms += int(delta_ms)
        return self._now_ms


class ScaledClock:
    """A monotonic wall clock scaled by ``warp`` simulated seconds per real second.

    ``now_ms()`` = ``start_ms`` + ``warp`` x (real ms elapsed since construction), as an integer.
    """

    def __init__(self, warp: float = 1.0, start_ms: int = 0,
                 source: Callable[[], int] = time.monotonic_ns) -> None:
        if warp <= 0:
            raise ValueError("warp must be > 0")
        self.warp = warp
        self._start_ms = int(start_ms)
        self._source = source
        self._t0_ns = source()

    def now_ms(self) -> int:
        """Simulated ms since the epoch."""
        elapsed_ns = self._source() - self._t0_ns
        return self._start_ms + int(elapsed_ns * self.warp) // 1_000_000
