"""Therapy commands: programming the drug and schedule, limits, start and stop."""
from __future__ import annotations

import logging
from typing import Mapping

from ..enums import Alarm, RejectCode
from ..profile import DAY_MS
from ..schedule import Schedule
from .core import PATIENT_KEYS as _PATIENT_KEYS, PumpCore, S, is_int as _is_int

log = logging.getLogger(__name__)


class TherapyMixin(PumpCore):
    """Programming, thresholds, patient bolus settings, refill-due date, start and stop."""

    def program_therapy(self, drug_name: str, concentration_ug_per_ml: int,
                        schedule: Schedule) -> None:
        """Program the drug in the reservoir (name, ug/mL) and its schedule, validated together.

        Allowed in STOPPED, INFUSING, EMPTY (not during a bolus, refill, fault or end of service);
        a running therapy continues with the new schedule. Rejections: UNKNOWN_DRUG,
        CONCENTRATION_OUT_OF_RANGE, schedule codes (see :mod:`firmware_sim.schedule`),
        HARD_DAILY_LIMIT, INVALID_STATE, BOLUS_ACTIVE, MAX_CHANGES_REACHED (a changed schedule
        beyond the profile's rate-change limit, see :mod:`firmware_sim.pump.rate_changes`).
        """
        if self.state is S.BOLUS:
            raise self._reject(RejectCode.BOLUS_ACTIVE, "", "a bolus is in progress")
        if self.state not in (S.STOPPED, S.INFUSING, S.EMPTY):
            raise self._reject(RejectCode.INVALID_STATE, "",
                               f"programming not allowed in {self.state.name}")
        self._validate_drug(drug_name, concentration_ug_per_ml)
        self._validate_schedule(schedule)
        compiled = self._compile(schedule)
        drug_name = self.profile.drug(drug_name).name  # type: ignore[union-attr]
        pcfg = self.patient_cfg if self.patient_cfg else None
        if pcfg is not None and self._patient_volume(pcfg["dose_ug"], concentration_ug_per_ml) < 1:
            pcfg = None
        if pcfg is not None:
            self._check_patient_rate(pcfg["dose_ug"], pcfg["duration_ms"], concentration_ug_per_ml,
                                     compiled, "patient_bolus")
        worst = self._check_program_limits(drug_name, concentration_ug_per_ml, compiled, pcfg)
        self._check_rate_change(schedule)
        self._count_rate_change(schedule)
        self.drug_name = drug_name
        self.concentration_ug_per_ml = concentration_ug_per_ml
        self._schedule, self.compiled = schedule, compiled
        self._event("PROGRAM", drug_name=drug_name,
                    concentration_ug_per_ml=concentration_ug_per_ml, schedule=schedule.to_dict(),
                    daily_volume_nl=compiled.week_volume_x_day_ms // (7 * DAY_MS))
        self._soft_warning(worst)
        self._recompute_refill_due()
        self._sync_epoch()
        self._commit()

    def set_schedule(self, schedule: Schedule) -> None:
        """Replace the schedule, keeping drug and concentration (same rules as program_therapy;
        NO_PROGRAM if no drug was programmed)."""
        if self.drug_name is None or self.concentration_ug_per_ml is None:
            raise self._reject(RejectCode.NO_PROGRAM, "drug_name", "no drug programmed")
        self.program_therapy(self.drug_name, self.concentration_ug_per_ml, schedule)

    def set_low_reservoir_threshold(self, threshold_nl: int) -> None:
        """Set the low-reservoir alarm threshold (profile range, default 0.5-5 mL) in nL.

        If the reservoir is already at or below it while delivering, the alarm is raised now.
        Rejection: THRESHOLD_OUT_OF_RANGE; INVALID_STATE at end of service."""
        self._check_threshold(threshold_nl)
        self.low_threshold_nl = threshold_nl
        self._event("THRESHOLD", low_threshold_nl=threshold_nl)
        if self.reservoir_nl <= threshold_nl and self.state in (S.INFUSING, S.BOLUS):
            self._raise_alarm(Alarm.LOW_RESERVOIR, reservoir_nl=self.reservoir_nl)
        self._recompute_refill_due()
        self._commit()

    def _check_threshold(self, threshold_nl: int) -> None:
        p = self.profile
        if self.state is S.END_OF_SERVICE:
            raise self._reject(RejectCode.INVALID_STATE, "", "end of service")
        if not _is_int(threshold_nl) or not (p.low_threshold_min_nl <= threshold_nl
                                             <= p.low_threshold_max_nl):
            raise self._reject(RejectCode.THRESHOLD_OUT_OF_RANGE, "threshold_nl",
                               f"{threshold_nl} nL outside [{p.low_threshold_min_nl}, "
                               f"{p.low_threshold_max_nl}]")

    def validate_limits(self, *, threshold_nl: int | None = None,
                        patient_bolus: Mapping[str, int] | None = None) -> None:
        """Raise the :class:`Rejected` that ``configure_patient_bolus(**patient_bolus)`` and
        then ``set_low_reservoir_threshold(threshold_nl)`` would raise (each only when given),
        in that order; change nothing. Lets a caller apply both or neither."""
        if patient_bolus is not None:
            missing = sorted(set(_PATIENT_KEYS) - set(patient_bolus))
            if missing or len(patient_bolus) != len(_PATIENT_KEYS):
                raise self._reject(RejectCode.INVALID_ARGUMENT, "patient_bolus",
                                   f"expected exactly {', '.join(_PATIENT_KEYS)}")
            self._check_patient_bolus(**patient_bolus)
        if threshold_nl is not None:
            self._check_threshold(threshold_nl)

    def configure_patient_bolus(self, dose_ug: int, duration_ms: int, lockout_ms: int,
                                max_per_24h: int) -> None:
        """Allow patient-activated boluses of ``dose_ug`` over ``duration_ms``, at least
        ``lockout_ms`` apart (start to start), at most ``max_per_24h`` in any 24 h.

        Needs a programmed drug (NO_PROGRAM). Rejections: DOSE_OUT_OF_RANGE,
        DURATION_OUT_OF_RANGE / LOCKOUT_OUT_OF_RANGE (outside the profile's range, or not a
        multiple of its ``duration_step_ms`` / ``lockout_step_ms``), MAX_PER_DAY_OUT_OF_RANGE, HARD_DAILY_LIMIT
        (schedule's worst 24 h + max_per_24h x dose above the drug's hard limit)."""
        cfg, worst = self._check_patient_bolus(dose_ug, duration_ms, lockout_ms, max_per_24h)
        self.patient_cfg = cfg
        self._event("PATIENT_BOLUS_CONFIG", **cfg)
        self._soft_warning(worst)
        self._recompute_refill_due()
        self._commit()

    def _check_patient_bolus(self, dose_ug: int, duration_ms: int, lockout_ms: int,
                             max_per_24h: int) -> tuple[dict[str, int], int]:
        """Validate a patient bolus setting: (the setting, worst 24 h dose in pg) or Rejected."""
        p = self.profile
        self._operable("configuring patient boluses")
        if self.drug_name is None or self.compiled is None:
            raise self._reject(RejectCode.NO_PROGRAM, "drug_name", "no drug programmed")
        checks = (("dose_ug", dose_ug, p.patient_min_dose_ug, p.patient_max_dose_ug,
                   RejectCode.DOSE_OUT_OF_RANGE),
                  ("duration_ms", duration_ms, p.patient_min_duration_ms, p.patient_max_duration_ms,
                   RejectCode.DURATION_OUT_OF_RANGE),
                  ("lockout_ms", lockout_ms, p.patient_min_lockout_ms, p.patient_max_lockout_ms,
                   RejectCode.LOCKOUT_OUT_OF_RANGE),
                  ("max_per_24h", max_per_24h, 1, p.patient_max_per_24h,
                   RejectCode.MAX_PER_DAY_OUT_OF_RANGE))
        for field, v, lo, hi, code in checks:
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise self._reject(code, field, f"{v!r} outside [{lo}, {hi}]")
        for field, v, step, code in (
                ("duration_ms", duration_ms, p.patient_duration_step_ms,
                 RejectCode.DURATION_OUT_OF_RANGE),
                ("lockout_ms", lockout_ms, p.patient_lockout_step_ms,
                 RejectCode.LOCKOUT_OUT_OF_RANGE)):
            if v % step:
                raise self._reject(code, field, f"{v} ms is not a multiple of the {step} ms step")
        if self._patient_volume(dose_ug, self.concentration_ug_per_ml) < 1:
            raise self._reject(RejectCode.DOSE_OUT_OF_RANGE, "dose_ug",
                               "dose is less than 1 nL at this concentration")
        self._check_patient_rate(dose_ug, duration_ms, self.concentration_ug_per_ml, self.compiled)
        cfg = {"dose_ug": dose_ug, "duration_ms": duration_ms, "lockout_ms": lockout_ms,
               "max_per_24h": max_per_24h}
        assert self.concentration_ug_per_ml is not None
        worst = self._check_program_limits(self.drug_name, self.concentration_ug_per_ml,
                                           self.compiled, cfg)
        return cfg, worst

    def disable_patient_bolus(self) -> None:
        """Turn patient boluses off (requests are then denied NOT_CONFIGURED)."""
        self.patient_cfg = None
        self._event("PATIENT_BOLUS_CONFIG", enabled=False)
        self._recompute_refill_due()
        self._commit()

    def _recompute_refill_due(self) -> None:
        """The refill-due date: the earlier of the day the reservoir reaches its low threshold
        (schedule plus every allotted patient bolus) and the end of the drug's stability in the
        reservoir (``stability_days`` of the library entry after the last refill)."""
        if Alarm.REFILL_DUE in self.alarms:
            return
        if not self.resume_infusing or self.compiled is None:
            self.refill_due_ms = None
            return
        per_week = self.compiled.week_volume_x_day_ms  # nL x ms/day summed over 7 days
        if self.patient_cfg:
            per_week += 7 * DAY_MS * self.patient_cfg["max_per_24h"] * self._patient_volume(
                self.patient_cfg["dose_ug"], self.concentration_ug_per_ml)
        margin = self.reservoir_nl - self.low_threshold_nl
        due = self.t_ms + max(0, -(-margin * 7 * DAY_MS * DAY_MS // per_week))
        limited_by = "volume"
        entry = self.profile.drug(self.drug_name or "")
        if entry is not None and entry.stability_days and self.filled_at_ms is not None:
            stable_until = self.filled_at_ms + entry.stability_days * DAY_MS
            if stable_until < due:
                due, limited_by = stable_until, "stability"
        if due != self.refill_due_ms:
            self.refill_due_ms = due
            self._event("REFILL_DUE_DATE", refill_due_ms=due, limited_by=limited_by)
        if due <= self.t_ms:
            self._raise_alarm(Alarm.REFILL_DUE)

    def start(self) -> None:
        """Start (resume) the programmed therapy: STOPPED -> INFUSING (or BOLUS/BRIDGE when the
        catheter still holds a previous concentration). Rejections: INVALID_STATE, NO_PROGRAM,
        RESERVOIR_EMPTY, HARD_DAILY_LIMIT (with what ran and the boluses given in the last 24 h,
        starting now would let a 24 h window exceed the drug's hard limit)."""
        self._require_state("start", "start")
        if self.compiled is None:
            raise self._reject(RejectCode.NO_PROGRAM, "schedule", "no therapy programmed")
        if self.reservoir_nl == 0:
            raise self._reject(RejectCode.RESERVOIR_EMPTY, "reservoir_nl", "reservoir is empty")
        if self._window_pg(self.compiled, self._limit_conc(), self.wall_offset_ms, True) \
                > self._hard_limit_pg():
            raise self._reject(RejectCode.HARD_DAILY_LIMIT, "schedule",
                               "starting now would exceed the drug's hard daily limit within "
                               "24 h of the therapy that ran before")
        self.resume_infusing = True
        self.basal_rem = 0
        if self.path_old_nl > 0 and self.path_old_conc != self.concentration_ug_per_ml:
            self._start_bridge()
        else:
            self._trigger("start")
        self._recompute_refill_due()
        if self.reservoir_nl <= self.low_threshold_nl:
            self._raise_alarm(Alarm.LOW_RESERVOIR, reservoir_nl=self.reservoir_nl)
        self._sync_epoch()
        self._commit()

    def stop(self) -> None:
        """Stop therapy (cancels a bolus): INFUSING/BOLUS -> STOPPED. Rejection: INVALID_STATE."""
        self._require_state("stop", "stop")
        if self.bolus is not None:
            self._finish_bolus("CANCELLED")
        self.resume_infusing = False
        if self.machine.state != "STOPPED":
            self._trigger("stop")
        self.refill_due_ms = None
        self._sync_epoch()
        self._commit()
