"""The oracle's own truth ledger (invariant 13), written from the documented fault semantics.

With the ideal mechanism (the shipped profiles' ``error_model = false``) the documented rule is:
after the last change of fill, withdrawal or faults in force (the anchor), the reservoir has lost
``floor(c x g) - floor(c0 x g)`` nL when the pump has commanded ``c`` nL in total (``c0`` at the
anchor), capped by what it held, where ``g = (1 + over - under) x (1 - blocked share)``; a leak
loses ``floor(drained x lost share)`` of it on the way to the patient. An over-infusion runs the
reservoir dry before the pump expects; an occlusion keeps drug in it. Conservation:

    filled = reached the patient + lost to a leak + in the reservoir + withdrawn

The pump cannot see any of it: only a refill withdrawal (the syringe draws the truth) reveals the
difference between truth and belief.
"""
from __future__ import annotations

from dataclasses import dataclass, field

PPM = 1_000_000
# fault name -> its parameter and how many ppm one unit of it is
MECHANISM = {"over_infusion": ("permille", 1_000), "under_infusion": ("permille", 1_000),
             "occlusion": ("blocked_percent", 10_000), "leak": ("lost_percent", 10_000)}


@dataclass
class OracleTruth:
    """The true volumes (nL) at the anchor, the commanded volume then, and the faults in force."""

    filled: int = 0
    reservoir: int = 0
    patient: int = 0
    leaked: int = 0
    withdrawn: int = 0
    anchor_commanded: int = 0
    faults: dict[str, int] = field(default_factory=dict)  # name -> parameter value

    def _ppm(self, name: str) -> int:
        return self.faults[name] * MECHANISM[name][1] if name in self.faults else 0

    def now(self, commanded: int) -> tuple[int, int, int]:
        """(reservoir, patient, leaked) once ``commanded`` nL have been commanded in total."""
        gain = max(0, PPM + self._ppm("over_infusion") - self._ppm("under_infusion"))
        gain = gain * (PPM - self._ppm("occlusion")) // PPM
        drained = min(self.reservoir,
                      commanded * gain // PPM - self.anchor_commanded * gain // PPM)
        lost = drained * self._ppm("leak") // PPM
        return self.reservoir - drained, self.patient + drained - lost, self.leaked + lost

    def anchor(self, commanded: int) -> None:
        """Fix the truth now as the new anchor."""
        self.reservoir, self.patient, self.leaked = self.now(commanded)
        self.anchor_commanded = commanded

    def set_fault(self, name: str, value: int | None, commanded: int) -> None:
        """Put mechanism fault ``name`` in force with ``value`` (None: take it out)."""
        self.anchor(commanded)
        if value is None:
            self.faults.pop(name, None)
        else:
            self.faults[name] = value

    def withdraw_all(self, commanded: int) -> int:
        """A syringe empties the reservoir; returns what it drew."""
        self.anchor(commanded)
        drawn, self.reservoir = self.reservoir, 0
        self.withdrawn += drawn
        return drawn

    def fill(self, volume: int, commanded: int) -> None:
        """A refill puts ``volume`` into the reservoir."""
        self.anchor(commanded)
        self.reservoir += volume
        self.filled += volume

    def resync(self, filled: int, reservoir: int, patient: int, leaked: int, withdrawn: int,
               commanded: int) -> None:
        """Take these volumes as the new anchor (after a stretch the oracle only bounds)."""
        self.filled, self.reservoir, self.patient = filled, reservoir, patient
        self.leaked, self.withdrawn, self.anchor_commanded = leaked, withdrawn, commanded


__all__ = ["OracleTruth", "MECHANISM"]
