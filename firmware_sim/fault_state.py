"""The faults in force on one pump and the truth ledger they act on (persisted with the pump).

:class:`FaultState` is bookkeeping only: which faults are active with which parameters, when
the timed ones end by themselves (a transient motor stall recovers, an MRI exposure ends), and
the :class:`~firmware_sim.ledger.TruthLedger`, re-anchored whenever the mechanism's effect
changes. What a fault does to the therapy (stopping delivery, alarms, log entries) is the pump's
business; this class tells it what is in force and what is due.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from .faults import MOTOR_STALL, MRI_EXPOSURE, MechanismEffect, fault_spec, mechanism_effect
from .ledger import TruthLedger
from .mechanism import MechanismSpec


class FaultState:
    """Active faults (name -> parameters), their end times (run ms) and the truth ledger."""

    def __init__(self, spec: MechanismSpec, error_model: bool | None = None) -> None:
        self.spec = spec
        self.error_model = spec.error_model if error_model is None else error_model
        self.active: dict[str, dict[str, int]] = {}
        self.ends_ms: dict[str, int] = {}
        self.resume_after_stall = False
        self.ledger = TruthLedger(self._mechanism())

    def _mechanism(self) -> MechanismSpec:
        spec = self.spec
        if spec.error_model != self.error_model:
            spec = replace(spec, error_model=self.error_model)
        return spec

    def effect(self) -> MechanismEffect:
        """What the faults in force do to fluid now."""
        return mechanism_effect(self._mechanism(), self.active, MRI_EXPOSURE in self.active)

    def refresh(self, commanded_nl: int, t_ms: int) -> None:
        """Re-anchor the ledger on the current effect (after any change of the faults)."""
        self.ledger.spec = self._mechanism()
        self.ledger.set_effect(self.effect(), commanded_nl, t_ms)

    def set(self, name: str, params: Mapping[str, int], t_ms: int,
            commanded_nl: int) -> None:
        """Put ``name`` in force with ``params`` (validated by the caller) from ``t_ms``."""
        self.ledger.anchor(commanded_nl, t_ms)
        self.active[name] = dict(params)
        self.ends_ms.pop(name, None)
        duration = params.get("recover_after_ms") if name == MOTOR_STALL else \
            params.get("duration_ms") if name == MRI_EXPOSURE else None
        if duration:
            self.ends_ms[name] = t_ms + duration
        self.refresh(commanded_nl, t_ms)

    def end(self, name: str, t_ms: int, commanded_nl: int) -> dict[str, int]:
        """Take ``name`` out of force; returns the parameters it had."""
        self.ledger.anchor(commanded_nl, t_ms)
        params = self.active.pop(name)
        self.ends_ms.pop(name, None)
        self.refresh(commanded_nl, t_ms)
        return params

    def set_error_model(self, enabled: bool, t_ms: int, commanded_nl: int) -> None:
        """Switch the mechanism's error model on or off from ``t_ms``."""
        self.ledger.anchor(commanded_nl, t_ms)
        self.error_model = enabled
        self.refresh(commanded_nl, t_ms)

    def next_end_ms(self) -> int | None:
        """The earliest run time at which a timed fault ends by itself (None: none)."""
        return min(self.ends_ms.values(), default=None)

    def due(self, t_ms: int) -> list[str]:
        """The timed faults whose end has come by ``t_ms`` (earliest first)."""
        return sorted((n for n, e in self.ends_ms.items() if e <= t_ms),
                      key=lambda n: self.ends_ms[n])

    def to_dict(self) -> dict[str, Any]:
        """The persisted form."""
        return {"active": {k: dict(v) for k, v in self.active.items()},
                "ends_ms": dict(self.ends_ms), "resume_after_stall": self.resume_after_stall,
                "error_model": self.error_model, "ledger": self.ledger.to_dict()}

    @classmethod
    def from_dict(cls, spec: MechanismSpec, d: Mapping[str, Any]) -> "FaultState":
        """Inverse of :meth:`to_dict`; ValueError for anything the model cannot have stored."""
        fs = cls(spec, bool(d["error_model"]))
        if not isinstance(d["active"], dict) or not isinstance(d["ends_ms"], dict):
            raise ValueError("fault state")
        for name, params in d["active"].items():
            spec_f = fault_spec(name)
            if sorted(params) != sorted(p.name for p in spec_f.params):
                raise ValueError(f"fault {name}: parameters")
            fs.active[name] = {k: int(v) for k, v in params.items()}
        for name, end in d["ends_ms"].items():
            if name not in fs.active or not isinstance(end, int):
                raise ValueError(f"fault {name}: end time")
            fs.ends_ms[name] = end
        if not isinstance(d["resume_after_stall"], bool):
            raise ValueError("fault state: resume flag")
        fs.resume_after_stall = d["resume_after_stall"]
        fs.ledger = TruthLedger.from_dict(fs._mechanism(), d["ledger"])
        return fs


__all__ = ["FaultState"]
