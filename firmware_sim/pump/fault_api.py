"""The pump's fault API: raise and clear the catalog's faults while the pump runs.

A mixin of the :class:`~firmware_sim.pump.Pump` facade. Mechanism faults (over/under-infusion,
occlusion, leak) change only the truth: the pump goes on believing its commands and logs
nothing a real pump could not know... except that this emulator logs FAULT_RAISED /
FAULT_CLEARED for the bench (a real pump's log has no such entry). Motor stall and MRI exposure
change what the pump does (FAULT state, MOTOR_STALL alarm, recovery) and are logged as the pump
would log them. The timed ones end by themselves at their exact ms (``next_event_ms`` reports
it, ``advance_to`` stops there).
"""
from __future__ import annotations

import logging
from typing import Any

from ..enums import Alarm, RejectCode, TherapyState
from ..errors import Rejected
from .fault_state import FaultState
from .faults import (BATTERY_END_OF_SERVICE, CATALOG, IRREVERSIBLE, MECHANISM_FAULTS,
                     MEMORY_ERROR, MOTOR_STALL, MRI_EXPOSURE, REDUCED_BATTERY, FaultSpec,
                     check_fault, fault_spec)
from .ledger import TruthReading
from ..mechanism import MOTOR

log = logging.getLogger(__name__)


class FaultsMixin:
    """Fault injection and the truth ledger on the pump facade (see the module docstring)."""

    faults: FaultState

    # ------------------------------------------------------------------ reading
    @staticmethod
    def fault_catalog() -> tuple[FaultSpec, ...]:
        """Every fault the model offers, with its parameters (units, ranges, defaults)."""
        return CATALOG

    def active_faults(self) -> dict[str, dict[str, int]]:
        """The faults in force: name -> parameters (a copy)."""
        return {k: dict(v) for k, v in self.faults.active.items()}

    def truth(self) -> TruthReading:
        """Where the drug really is now (nL): emulator only, a real pump cannot know it."""
        return self.faults.ledger.at(self.delivered_nl, self.t_ms)  # type: ignore[attr-defined]

    @property
    def true_reservoir_nl(self) -> int:
        """The volume really in the reservoir (what a syringe would draw now), nL."""
        return self.truth().reservoir_nl

    # ------------------------------------------------------------------ commands
    def raise_fault(self, name: str, **params: int) -> None:
        """Raise fault ``name`` with ``params`` (defaults from the catalog) now.

        Rejected (nothing changes): UNKNOWN_FAULT, INVALID_ARGUMENT (no such parameter),
        FAULT_PARAM_OUT_OF_RANGE, INVALID_STATE (a stall or an MRI exposure already in force,
        or a state a motor cannot stall in). Raising a mechanism fault already in force replaces
        its parameters."""
        p: Any = self
        try:
            values = check_fault(name, params)
        except Rejected as e:
            log.warning("rejected %s (%s): %s", e.code.value, e.field, e.reason)
            raise
        if name in MECHANISM_FAULTS:
            self.faults.set(name, values, p.t_ms, p.delivered_nl)
            p._event("FAULT_RAISED", fault=name, **values)
        elif name == MOTOR_STALL or (name == MRI_EXPOSURE and p.profile.mechanism.kind == MOTOR):
            self._check_not_active(name)
            self._stall(name, values)
        elif name == MRI_EXPOSURE:  # valve-gated: the valves open, the pump runs on
            self._check_not_active(name)
            self.faults.set(name, values, p.t_ms, p.delivered_nl)
            p._event("MRI_EXPOSURE", **values)
        elif name == MEMORY_ERROR:
            self.faults.active[name] = {}
            p._memory_error("injected")
        elif name in IRREVERSIBLE:
            p.inject_battery_drain(end_of_service=name == BATTERY_END_OF_SERVICE)
            self.faults.active[name] = {}
        else:  # reduced battery: the REDUCED_BATTERY alarm and the minimum-rate safe mode
            self.faults.active[name] = {}
            p._event("REDUCED_BATTERY")
            if Alarm.REDUCED_BATTERY not in p.alarms:
                p._on_reduced_battery()
        p._commit()

    def clear_fault(self, name: str) -> None:
        """End fault ``name`` now (a permanent stall cleared: the motor was replaced, FAULT ->
        STOPPED; a transient stall or an MRI exposure cleared early recovers as at its end).
        Rejected: UNKNOWN_FAULT, FAULT_NOT_ACTIVE."""
        p: Any = self
        spec = fault_spec(name)
        if spec.name not in self.faults.active:
            raise p._reject(RejectCode.FAULT_NOT_ACTIVE, "fault", f"{name} is not in force")
        if spec.name in IRREVERSIBLE:
            raise p._reject(RejectCode.INVALID_STATE, "",
                            f"{name} cannot be undone: a battery does not recharge")
        self._end_fault(name, early=True)
        p._commit()

    def set_error_model(self, enabled: bool) -> None:
        """Switch the mechanism's error model on or off from now (emulator only; logged)."""
        p: Any = self
        self.faults.set_error_model(bool(enabled), p.t_ms, p.delivered_nl)
        p._event("ERROR_MODEL", enabled=bool(enabled))
        p._commit()

    # ------------------------------------------------------------------ internals
    def _check_not_active(self, name: str) -> None:
        if name in self.faults.active:
            raise self._reject_state(f"{name} is already in force")

    def _reject_state(self, reason: str) -> Rejected:
        p: Any = self
        return p._reject(RejectCode.INVALID_STATE, "fault", reason)

    def _stall(self, name: str, values: dict[str, int]) -> None:
        """The motor stops: delivery stops (bolus cancelled), FAULT, MOTOR_STALL alarm."""
        p: Any = self
        p._require_state("stall", "motor stall")
        timed = values.get("recover_after_ms", 0) > 0 or name == MRI_EXPOSURE
        self.faults.resume_after_stall = bool(timed and p.resume_infusing)
        self.faults.set(name, values, p.t_ms, p.delivered_nl)
        if name == MRI_EXPOSURE:
            p._event("MRI_EXPOSURE", **values)
        p._stop_for_stall()  # logged as MOTOR_STALL raised (and the state change)

    def _end_fault(self, name: str, early: bool = False) -> None:
        """Take ``name`` out of force and undo what it did to the therapy."""
        p: Any = self
        params = self.faults.end(name, p.t_ms, p.delivered_nl)
        stalled = name == MOTOR_STALL or (name == MRI_EXPOSURE
                                          and p.profile.mechanism.kind == MOTOR)
        if name == MRI_EXPOSURE:
            p._event("MRI_EXPOSURE_END", early=early)
        elif name in MECHANISM_FAULTS:
            p._event("FAULT_CLEARED", fault=name, **params)
        elif name == MEMORY_ERROR:
            p._clear_alarm(Alarm.MEMORY_ERROR)  # the memory was repaired: full rate again
            p._leave_safe_mode("MEMORY_ERROR")
        elif name == REDUCED_BATTERY:  # the injected drop ends: full-rate therapy again
            p._event("REDUCED_BATTERY_END")
            p._clear_alarm(Alarm.REDUCED_BATTERY)
            p._leave_safe_mode("REDUCED_BATTERY")
        if stalled:
            self._recover(transient=params.get("recover_after_ms", 1) > 0)

    def _recover(self, transient: bool) -> None:
        """The motor turns again: MOTOR_STALL cleared and, from FAULT, -> STOPPED; after a
        transient stall the therapy that ran before resumes (logged MOTOR_RECOVERED)."""
        p: Any = self
        resume = self.faults.resume_after_stall and transient
        self.faults.resume_after_stall = False
        if not transient and Alarm.MOTOR_STALL in p.alarms.active:
            p._event("ALARM_ACK", alarm=Alarm.MOTOR_STALL.name)  # the replaced motor, cleared
        p._clear_alarm(Alarm.MOTOR_STALL)
        if p.state is not TherapyState.FAULT:
            return
        p._trigger("clear_fault")
        p._event("MOTOR_RECOVERED", resumed=resume)
        if resume and p.reservoir_nl > 0 and p.compiled is not None:
            self._resume_after_stall()

    def _faults_due(self) -> None:
        """End the timed faults whose time has come (called after each segment)."""
        p: Any = self
        for name in self.faults.due(p.t_ms):
            self._end_fault(name)

    def _faults_on_stall_ack(self) -> None:
        """The clinician acknowledged MOTOR_STALL (the pump leaves FAULT): a stall in force is
        over and nothing resumes by itself."""
        p: Any = self
        self.faults.resume_after_stall = False
        if MOTOR_STALL in self.faults.active:
            self.faults.end(MOTOR_STALL, p.t_ms, p.delivered_nl)

    def _stop_for_stall(self) -> None:
        """Delivery stops: bolus cancelled, therapy off, FAULT with MOTOR_STALL."""
        p: Any = self
        if p.bolus is not None:
            p._finish_bolus("MOTOR_STALL")
        p.resume_infusing = False
        p.refill_due_ms = None
        p.refill_phase = None if p.state is not TherapyState.REFILL else p.refill_phase
        p._raise_alarm(Alarm.MOTOR_STALL)
        p._trigger("stall")
        p._sync_epoch()

    def _resume_after_stall(self) -> None:
        """The therapy that ran before a transient stall starts again (STOPPED -> INFUSING)."""
        p: Any = self
        p.resume_infusing = True
        p.basal_rem = 0
        p._trigger("start")
        p._recompute_refill_due()
        if p.reservoir_nl <= p.low_threshold_nl:
            p._raise_alarm(Alarm.LOW_RESERVOIR, reservoir_nl=p.reservoir_nl)
        p._sync_epoch()


__all__ = ["FaultsMixin"]
