"""The alarm set: orthogonal to the therapy state, each alarm active or not, acknowledged or not.

Latching (what acknowledging does), as the alarm region of the state machine declares it
(:mod:`firmware_sim.statemachine`):
- condition alarms LOW_RESERVOIR, EMPTY_RESERVOIR, REFILL_DUE: an acknowledgement silences them
  (``acked``) but they stay active until their condition ends (a completed refill);
- BATTERY_ERI, REDUCED_BATTERY and END_OF_SERVICE: acknowledgement silences; never cleared (the
  battery does not recover);
- MOTOR_STALL, MEMORY_ERROR, REFILL_DISCREPANCY: latched until acknowledged; the acknowledgement
  clears them (for MOTOR_STALL the pump then leaves FAULT for STOPPED; therapy is restarted
  explicitly).
"""
from __future__ import annotations

from dataclasses import dataclass

from .enums import Alarm
from .statemachine import CLEARED_BY_ACK

__all__ = ["CLEARED_BY_ACK", "AlarmEntry", "AlarmSet"]


@dataclass
class AlarmEntry:
    """One active alarm: when it was raised (pump run ms) and whether it was acknowledged."""

    raised_ms: int
    acked: bool = False


class AlarmSet:
    """Active alarms keyed by :class:`Alarm`; mutations return whether anything changed."""

    def __init__(self) -> None:
        self.active: dict[Alarm, AlarmEntry] = {}

    def raise_(self, alarm: Alarm, t_ms: int) -> bool:
        """Activate ``alarm`` at ``t_ms``; False if it was already active."""
        if alarm in self.active:
            return False
        self.active[alarm] = AlarmEntry(t_ms)
        return True

    def clear(self, alarm: Alarm) -> bool:
        """Deactivate ``alarm``; False if it was not active."""
        return self.active.pop(alarm, None) is not None

    def __contains__(self, alarm: object) -> bool:
        return alarm in self.active

    def bitmask(self) -> int:
        """u16 bitmask of active alarms."""
        m = 0
        for a in self.active:
            m |= 1 << int(a)
        return m

    def to_list(self) -> list[list[int]]:
        """JSON-friendly form."""
        return [[int(a), e.raised_ms, int(e.acked)] for a, e in sorted(self.active.items())]

    @classmethod
    def from_list(cls, data: list[list[int]]) -> "AlarmSet":
        """Inverse of :meth:`to_list`."""
        s = cls()
        for a, t, ack in data:
            s.active[Alarm(a)] = AlarmEntry(int(t), bool(ack))
        return s
