"""The truth ledger: where the drug really is, as opposed to what the pump believes.

The pump's own ledger (its *belief*) counts what it commanded: ``filled = delivered + reservoir
+ withdrawn``. The truth ledger counts what the mechanism really did, in integer nL:

    filled = reached the patient + lost to a leak + in the reservoir + withdrawn

exactly, at every instant. Between two *anchors* (a fill, a withdrawal, any change of the faults
in force) the truth is a closed form of the commanded volume and the run time: the mechanism's
:class:`~firmware_sim.mechanism.Stroker` gives the volume moved, a valve-gated pump in an MRI
field adds its free flow, the reservoir caps what can drain (a mechanism that moves more than
the pump commanded runs the reservoir dry before the pump expects it), an occlusion keeps its
share in the reservoir and a leak loses its share. Reading the truth never changes it, so
however the run time is split into segments the result is the same to the nanolitre.

The truth is what a refill withdrawal measures (a syringe draws what is really there).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .faults import MechanismEffect
from .mechanism import PPM, MechanismSpec, Stroker

MINUTE_MS = 60_000
_FIELDS = ("filled_nl", "reservoir_nl", "patient_nl", "leaked_nl", "withdrawn_nl",
           "anchor_commanded_nl", "anchor_ms", "gain_ppm", "blocked_ppm", "lost_ppm",
           "free_flow_nl_per_min")


@dataclass(frozen=True)
class TruthReading:
    """The truth at one instant (nL): in the reservoir, reached the patient, lost to a leak,
    withdrawn by refills, filled in total. ``filled = patient + leaked + reservoir + withdrawn``."""

    filled_nl: int
    reservoir_nl: int
    patient_nl: int
    leaked_nl: int
    withdrawn_nl: int


@dataclass
class TruthLedger:
    """The true volumes (nL) at the last anchor and the mechanism's effect since then.

    Read it with :meth:`at` (commanded volume so far, run time); change it only with
    :meth:`fill`, :meth:`withdraw_all` and :meth:`set_effect`, which anchor it first."""

    spec: MechanismSpec
    filled_nl: int = 0
    reservoir_nl: int = 0
    patient_nl: int = 0
    leaked_nl: int = 0
    withdrawn_nl: int = 0
    anchor_commanded_nl: int = 0
    anchor_ms: int = 0
    gain_ppm: int = PPM
    blocked_ppm: int = 0
    lost_ppm: int = 0
    free_flow_nl_per_min: int = 0
    _stroker: Stroker | None = field(default=None, repr=False, compare=False)

    def stroker(self) -> Stroker:
        """The mechanism at the gain that drains the reservoir now (cached)."""
        drain = self.gain_ppm * (PPM - self.blocked_ppm) // PPM
        s = self._stroker
        if s is None or s.gain_ppm != drain or s.spec is not self.spec:
            s = self._stroker = Stroker(self.spec, drain)
        return s

    def drained_nl(self, commanded_nl: int, t_ms: int) -> int:
        """Volume drained from the reservoir since the anchor (capped by what it held)."""
        s = self.stroker()
        v = s.moved_nl(commanded_nl) - s.moved_nl(self.anchor_commanded_nl)
        if self.free_flow_nl_per_min:
            v += (self.free_flow_nl_per_min * (PPM - self.blocked_ppm) // PPM
                  * (t_ms - self.anchor_ms) // MINUTE_MS)
        return min(v, self.reservoir_nl)

    def at(self, commanded_nl: int, t_ms: int) -> TruthReading:
        """The truth once ``commanded_nl`` nL have been commanded in total, at run time
        ``t_ms`` (both at or after the anchor). Pure."""
        drained = self.drained_nl(commanded_nl, t_ms)
        lost = drained * self.lost_ppm // PPM
        return TruthReading(self.filled_nl, self.reservoir_nl - drained,
                            self.patient_nl + drained - lost, self.leaked_nl + lost,
                            self.withdrawn_nl)

    def anchor(self, commanded_nl: int, t_ms: int) -> TruthReading:
        """Store the truth now as the new anchor (nothing changes in value); return it."""
        r = self.at(commanded_nl, t_ms)
        self.reservoir_nl, self.patient_nl, self.leaked_nl = (r.reservoir_nl, r.patient_nl,
                                                              r.leaked_nl)
        self.anchor_commanded_nl, self.anchor_ms = commanded_nl, t_ms
        return r

    def set_effect(self, effect: MechanismEffect, commanded_nl: int, t_ms: int) -> None:
        """From now on the mechanism works with ``effect`` (anchors first)."""
        self.anchor(commanded_nl, t_ms)
        self.gain_ppm, self.blocked_ppm = effect.gain_ppm, effect.blocked_ppm
        self.lost_ppm, self.free_flow_nl_per_min = effect.lost_ppm, effect.free_flow_nl_per_min

    def fill(self, volume_nl: int, commanded_nl: int, t_ms: int) -> None:
        """``volume_nl`` is put into the reservoir (a refill)."""
        self.anchor(commanded_nl, t_ms)
        self.reservoir_nl += volume_nl
        self.filled_nl += volume_nl

    def withdraw_all(self, commanded_nl: int, t_ms: int) -> int:
        """A syringe draws everything really in the reservoir; returns that volume (nL)."""
        r = self.anchor(commanded_nl, t_ms)
        self.withdrawn_nl += r.reservoir_nl
        self.reservoir_nl = 0
        return r.reservoir_nl

    def to_dict(self) -> dict[str, int]:
        """The persisted form (the mechanism spec is the profile's, stored with it)."""
        return {k: getattr(self, k) for k in _FIELDS}

    @classmethod
    def from_dict(cls, spec: MechanismSpec, d: Mapping[str, Any]) -> "TruthLedger":
        """Inverse of :meth:`to_dict`; ValueError unless every field is a non-negative integer
        and the volumes balance."""
        vals = {}
        for k in _FIELDS:
            v = d[k]
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"truth ledger: {k} is not a non-negative integer")
            vals[k] = v
        led = cls(spec, **vals)
        if led.filled_nl != led.patient_nl + led.leaked_nl + led.reservoir_nl + led.withdrawn_nl:
            raise ValueError("truth ledger: volumes do not balance")
        return led


__all__ = ["TruthLedger", "TruthReading"]
