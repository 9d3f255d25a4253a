"""What the pump reports about itself beyond its status: delivered counters, its drug library,
and refusals recorded in its event log.

Delivered counters (nL, whole, rounded down as the integration is): since manufacture
(``delivered_nl``), since the last accepted refill and since the last wall-clock midnight. The
two marks they are measured from are persisted with the state; the midnight mark is taken at
the exact run-clock ms the wall clock passes 00:00:00.000 (delivery segments end there), so
``today`` restarts at every midnight of the wall clock in force.
"""
from __future__ import annotations

import dataclasses

from ..profile import DAY_MS, DrugEntry
from .core import PumpCore


@dataclasses.dataclass(frozen=True)
class DeliveryCounters:
    """Delivered volume (nL) since manufacture, since the last refill, since the last wall-clock
    midnight, and the basal integration carry (nL x ms / day units, 0 <= carry < DAY_MS)."""

    total_nl: int
    since_refill_nl: int
    today_nl: int
    basal_carry: int


def next_midnight_run_ms(t_ms: int, wall_offset_ms: int) -> int:
    """Run-clock ms of the first wall-clock midnight strictly after run time ``t_ms``."""
    wall = t_ms + wall_offset_ms
    return (wall // DAY_MS + 1) * DAY_MS - wall_offset_ms


class ReportingMixin(PumpCore):
    """Delivered counters, the drug library and refusal records (see the module doc)."""

    def delivery_counters(self) -> DeliveryCounters:
        """The delivered counters now (no side effect)."""
        return DeliveryCounters(self.delivered_nl, self.delivered_nl - self.delivered_at_refill_nl,
                                self.delivered_nl - self.delivered_at_midnight_nl, self.basal_rem)

    def drug_library(self) -> tuple[DrugEntry, ...]:
        """Every drug this pump accepts (its profile's library, in a fixed order), with the
        concentration range (ug/mL) and the soft and hard daily limits (ug/day)."""
        return tuple(self.profile.drugs.values())

    def log_refusal(self, code: str, request_type: int, role: int, count: int = 1) -> None:
        """Record in the event log that a request was refused: ``code`` (the NAK code's name),
        the request's message type, the session's role (0: no authenticated session) and how
        many refusals the entry stands for. Commits; changes nothing else."""
        self._event("REFUSED", code=code, request_type=request_type, role=role, count=count)
        self._commit()

    def _mark_midnight(self, segment_start_ms: int) -> None:
        """Called after each segment: when it reached or crossed a wall-clock midnight, today's
        counter restarts there. (A delivering segment ends at midnight; one that crossed it
        delivered nothing, so the count at midnight is the count now.)"""
        off = self.wall_offset_ms
        if (self.t_ms + off) // DAY_MS > (segment_start_ms + off) // DAY_MS:
            self.delivered_at_midnight_nl = self.delivered_nl
