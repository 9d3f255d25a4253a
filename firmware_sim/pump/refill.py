"""The refill procedure: begin, report the withdrawn volume, complete."""
from __future__ import annotations

from ..enums import Alarm, RejectCode
from ..schedule import CompiledSchedule, Schedule
from .core import PumpCore, S


class RefillMixin(PumpCore):
    """REFILL state commands, the discrepancy check and the bridge after a new concentration."""

    def refill_begin(self) -> None:
        """Suspend delivery for a refill (a bolus in progress is cancelled): STOPPED, INFUSING,
        BOLUS or EMPTY -> REFILL. Rejection: INVALID_STATE."""
        self._require_state("begin_refill", "refill")
        was_running = self.resume_infusing
        if self.bolus is not None:
            self._finish_bolus("CANCELLED")
        self.resume_infusing = was_running
        self.refill_phase = "begun"
        self._trigger("begin_refill")
        self._event("REFILL_BEGIN", reservoir_nl=self.reservoir_nl)
        self._commit()

    def refill_withdrawn(self, withdrawn_nl: int) -> bool:
        """The clinician withdrew ``withdrawn_nl`` (measured) from the reservoir; the model's
        reservoir (``expected``) is emptied and counted as withdrawn. Returns True and raises
        REFILL_DISCREPANCY when |measured - expected| > max(profile minimum, percent x expected).
        Rejections: INVALID_STATE (not in REFILL), ALREADY_WITHDRAWN, VOLUME_OUT_OF_RANGE."""
        self._check_withdrawn(withdrawn_nl)
        p = self.profile
        expected = self.reservoir_nl
        self.faults.ledger.withdraw_all(self.delivered_nl, self.t_ms)  # the syringe draws the truth
        tol = max(p.discrepancy_min_nl, expected * p.discrepancy_percent // 100)
        discrepancy = abs(withdrawn_nl - expected) > tol
        self.withdrawn_nl += expected
        self.withdrawn_reported_nl += withdrawn_nl
        self.reservoir_nl = 0
        self.refill_phase = "withdrawn"
        self._event("REFILL_WITHDRAWN", withdrawn_nl=withdrawn_nl, expected_nl=expected,
                    tolerance_nl=tol)
        if discrepancy:
            self._raise_alarm(Alarm.REFILL_DISCREPANCY, withdrawn_nl=withdrawn_nl,
                              expected_nl=expected)
        self._commit()
        return discrepancy

    def _check_withdrawn(self, withdrawn_nl: int) -> None:
        if self.state is not S.REFILL:
            raise self._reject(RejectCode.INVALID_STATE, "", "no refill in progress")
        if self.refill_phase != "begun":
            raise self._reject(RejectCode.ALREADY_WITHDRAWN, "", "reservoir already withdrawn")
        if not isinstance(withdrawn_nl, int) or not 0 <= withdrawn_nl <= \
                2 * self.profile.reservoir_capacity_nl:
            raise self._reject(RejectCode.VOLUME_OUT_OF_RANGE, "withdrawn_nl",
                               f"{withdrawn_nl!r} nL is not a plausible withdrawn volume")

    def validate_refill_complete(self, filled_nl: int, concentration_ug_per_ml: int,
                                 schedule: Schedule | None = None, *,
                                 withdrawn_nl: int | None = None) -> None:
        """Raise the :class:`Rejected` that :meth:`refill_complete` would raise, preceded by
        ``refill_withdrawn(withdrawn_nl)`` when ``withdrawn_nl`` is given; change nothing.
        Lets a caller report the withdrawal and complete the refill together, or neither."""
        if withdrawn_nl is not None:
            self._check_withdrawn(withdrawn_nl)
        self._check_refill_complete(filled_nl, concentration_ug_per_ml, schedule,
                                    withdrawn=withdrawn_nl is not None)

    def _check_refill_complete(self, filled_nl: int, concentration_ug_per_ml: int,
                               schedule: Schedule | None, withdrawn: bool = False
                               ) -> tuple[Schedule, CompiledSchedule, int]:
        """Validate a refill completion ((schedule, compiled, worst 24 h pg) or Rejected);
        ``withdrawn``: as if the withdrawal were reported first."""
        if self.state is not S.REFILL:
            raise self._reject(RejectCode.INVALID_STATE, "", "no refill in progress")
        if self.drug_name is None or self.compiled is None:
            raise self._reject(RejectCode.NO_PROGRAM, "drug_name", "program the drug first")
        if self.refill_phase != "withdrawn" and not (withdrawn and self.refill_phase == "begun"):
            raise self._reject(RejectCode.WITHDRAW_REQUIRED, "",
                               "withdraw and report the reservoir content first")
        if not isinstance(filled_nl, int) or filled_nl < 1:
            raise self._reject(RejectCode.VOLUME_OUT_OF_RANGE, "filled_nl", f"{filled_nl!r} < 1 nL")
        if filled_nl > self.profile.reservoir_capacity_nl:
            raise self._reject(RejectCode.RESERVOIR_OVERFLOW, "filled_nl",
                               f"{filled_nl} nL exceeds the {self.profile.reservoir_capacity_nl} nL "
                               "reservoir")
        self._validate_drug(self.drug_name, concentration_ug_per_ml)
        sched = schedule if schedule is not None else self._schedule
        assert sched is not None
        self._validate_schedule(sched)
        compiled = self._compile(sched)
        pcfg = self.patient_cfg
        if pcfg is not None and self._patient_volume(pcfg["dose_ug"], concentration_ug_per_ml) < 1:
            raise self._reject(RejectCode.DOSE_OUT_OF_RANGE, "concentration_ug_per_ml",
                               "the patient bolus dose would be under 1 nL")
        if pcfg is not None:
            self._check_patient_rate(pcfg["dose_ug"], pcfg["duration_ms"], concentration_ug_per_ml,
                                     compiled, "patient_bolus")
        worst = self._check_program_limits(self.drug_name, concentration_ug_per_ml, compiled, pcfg)
        self._check_rate_change(sched)
        return sched, compiled, worst

    def refill_complete(self, filled_nl: int, concentration_ug_per_ml: int,
                        schedule: Schedule | None = None) -> None:
        """The reservoir was filled with ``filled_nl`` of the programmed drug at
        ``concentration_ug_per_ml``; optionally with a new schedule in the same step. Clears
        LOW_RESERVOIR, EMPTY_RESERVOIR and REFILL_DUE; resumes the previous therapy (INFUSING, or
        a BRIDGE bolus if the concentration changed) or STOPPED.

        Rejections: INVALID_STATE, NO_PROGRAM, WITHDRAW_REQUIRED, VOLUME_OUT_OF_RANGE,
        RESERVOIR_OVERFLOW, CONCENTRATION_OUT_OF_RANGE, schedule codes, HARD_DAILY_LIMIT,
        MAX_CHANGES_REACHED (a new schedule beyond the profile's rate-change limit)."""
        sched, compiled, worst = self._check_refill_complete(filled_nl, concentration_ug_per_ml,
                                                             schedule)
        assert self.drug_name is not None
        old_conc = self.concentration_ug_per_ml
        assert old_conc is not None
        self._count_rate_change(sched)
        self._schedule, self.compiled = sched, compiled
        self.concentration_ug_per_ml = concentration_ug_per_ml
        self.reservoir_nl = filled_nl
        self.filled_nl += filled_nl
        self.faults.ledger.fill(filled_nl, self.delivered_nl, self.t_ms)
        self.delivered_at_refill_nl = self.delivered_nl
        self.refill_phase = None
        self.filled_at_ms = self.t_ms
        if old_conc != concentration_ug_per_ml and self.delivered_nl > 0:
            if self.path_old_nl == 0:
                self.path_old_conc = old_conc
                self.path_old_nl = min(self.profile.dead_volume_nl, self.delivered_nl)
        self._event("REFILL_COMPLETE", filled_nl=filled_nl,
                    concentration_ug_per_ml=concentration_ug_per_ml,
                    old_concentration_ug_per_ml=old_conc)
        self._soft_warning(worst)
        for a in (Alarm.LOW_RESERVOIR, Alarm.EMPTY_RESERVOIR, Alarm.REFILL_DUE):
            self._clear_alarm(a)
        self.basal_rem = 0
        self.refill_due_ms = None
        bridge = self.resume_infusing and self.path_old_nl > 0 and \
            self.path_old_conc != concentration_ug_per_ml
        self.machine.bridge_flag = bridge
        self.machine.resume_flag = self.resume_infusing
        if bridge:
            self._start_bridge()
        self._trigger("finish_refill")
        if self.reservoir_nl <= self.low_threshold_nl and self.state in (S.INFUSING, S.BOLUS):
            self._raise_alarm(Alarm.LOW_RESERVOIR, reservoir_nl=self.reservoir_nl)
        self._recompute_refill_due()
        self._sync_epoch()
        self._commit()
