"""Bolus commands: clinician, priming and patient-requested boluses."""
from __future__ import annotations

import logging

from ..enums import BolusKind, DenialReason, RejectCode
from ..profile import DAY_MS
from ..status import PatientBolusResult
from .core import PumpCore, S

log = logging.getLogger(__name__)


class BolusMixin(PumpCore):
    """Starting, checking and cancelling boluses."""

    def _no_bolus_in_safe_mode(self) -> None:
        if self.safe_mode is not None:
            raise self._reject(RejectCode.INVALID_STATE, "",
                               f"no bolus in the minimum-rate safe mode ({self.safe_mode})")

    def _check_bolus_common(self, volume_nl: int, duration_ms: int, dmin: int, dmax: int,
                            volume_field: str = "volume_nl") -> None:
        if not isinstance(duration_ms, int) or not dmin <= duration_ms <= dmax:
            raise self._reject(RejectCode.DURATION_OUT_OF_RANGE, "duration_ms",
                               f"{duration_ms!r} outside [{dmin}, {dmax}] ms")
        if volume_nl < 1:
            raise self._reject(RejectCode.VOLUME_OUT_OF_RANGE, "volume_nl", "volume below 1 nL")
        if volume_nl > self.reservoir_nl:
            raise self._reject(RejectCode.INSUFFICIENT_RESERVOIR, "volume_nl",
                               f"{volume_nl} nL requested, {self.reservoir_nl} nL in the reservoir")
        self._check_bolus_rate(volume_nl, duration_ms, dmax, volume_field)
        if not self._bolus_fits_limit(volume_nl):
            raise self._reject(RejectCode.HARD_DAILY_LIMIT, "volume_nl",
                               "the bolus would exceed the drug's hard daily limit over 24 h")

    def start_clinician_bolus(self, duration_ms: int, volume_nl: int | None = None,
                              dose_ug: int | None = None) -> None:
        """Give ``volume_nl`` (or ``dose_ug`` at the current concentration, floor to nL) over
        ``duration_ms`` on top of the running schedule. From STOPPED it is a single bolus, after
        which the pump is STOPPED again; from INFUSING it returns to INFUSING. With the profile's
        ``clinician_bolus_starts_lockout`` its start also starts the patient-bolus lockout.

        Rejections: BOLUS_ACTIVE, INVALID_STATE, NO_PROGRAM, INVALID_ARGUMENT (not exactly one of
        volume/dose), DURATION_OUT_OF_RANGE, VOLUME_OUT_OF_RANGE, DOSE_OUT_OF_RANGE,
        INSUFFICIENT_RESERVOIR, RATE_OUT_OF_RANGE (on top of the schedule's highest step the
        bolus would run faster than the profile's maximum rate; see
        :mod:`firmware_sim.pump.ceiling`), HARD_DAILY_LIMIT."""
        self._require_state("begin_bolus", "clinician bolus")
        self._no_bolus_in_safe_mode()
        if self.concentration_ug_per_ml is None:
            raise self._reject(RejectCode.NO_PROGRAM, "drug_name", "no drug programmed")
        if (volume_nl is None) == (dose_ug is None):
            raise self._reject(RejectCode.INVALID_ARGUMENT, "volume_nl",
                               "give exactly one of volume_nl and dose_ug")
        if dose_ug is not None:
            if not isinstance(dose_ug, int) or dose_ug < 1:
                raise self._reject(RejectCode.DOSE_OUT_OF_RANGE, "dose_ug", f"{dose_ug!r} < 1 ug")
            volume_nl = self._patient_volume(dose_ug, self.concentration_ug_per_ml)
        if not isinstance(volume_nl, int):
            raise self._reject(RejectCode.VOLUME_OUT_OF_RANGE, "volume_nl", "not an integer")
        p = self.profile
        self._check_bolus_common(volume_nl, duration_ms, p.clinician_bolus_min_duration_ms,
                                 p.clinician_bolus_max_duration_ms,
                                 "volume_nl" if dose_ug is None else "dose_ug")
        self._start_bolus(BolusKind.CLINICIAN, volume_nl, duration_ms)
        if p.clinician_bolus_starts_lockout:
            self.clinician_lockout_from_ms = self.t_ms
        self._commit()

    def start_priming_bolus(self, volume_nl: int | None = None,
                            duration_ms: int | None = None) -> None:
        """Fill the catheter and pump tubing (default: the profile's dead volume over its priming
        duration). Only while STOPPED (after implant, before therapy); returns to STOPPED.
        Rejections as for a clinician bolus."""
        if self.state is not S.STOPPED:
            raise self._reject(RejectCode.INVALID_STATE, "", "priming only while STOPPED")
        self._no_bolus_in_safe_mode()
        if self.concentration_ug_per_ml is None:
            raise self._reject(RejectCode.NO_PROGRAM, "drug_name", "no drug programmed")
        p = self.profile
        v = p.dead_volume_nl if volume_nl is None else volume_nl
        d = p.priming_duration_ms if duration_ms is None else duration_ms
        if not isinstance(v, int):
            raise self._reject(RejectCode.VOLUME_OUT_OF_RANGE, "volume_nl", "not an integer")
        self._check_bolus_common(v, d, 1, p.clinician_bolus_max_duration_ms)
        self._start_bolus(BolusKind.PRIMING, v, d)
        self._commit()

    def stop_bolus(self) -> None:
        """Cancel the bolus in progress (back to INFUSING or STOPPED). Rejection: NO_BOLUS."""
        if self.bolus is None:
            raise self._reject(RejectCode.NO_BOLUS, "", "no bolus in progress")
        self._finish_bolus("CANCELLED")
        self._commit()

    def _patient_waits(self, cfg: dict[str, int]) -> dict[DenialReason, int]:
        """The time-bound reasons that deny a patient bolus now, each with the run time it
        ends: the lockout (start to start, from the last patient bolus or, when the profile says
        so, the last clinician bolus), the daily maximum (rolling 24 h), a running bolus."""
        waits: dict[DenialReason, int] = {}
        hist = self.patient_history
        last = max((s for s in (hist[-1] if hist else None, self.clinician_lockout_from_ms)
                    if s is not None), default=None)
        if last is not None and self.t_ms < last + cfg["lockout_ms"]:
            waits[DenialReason.LOCKOUT] = last + cfg["lockout_ms"]
        if len(hist) >= cfg["max_per_24h"]:
            waits[DenialReason.DAILY_MAXIMUM] = hist[-cfg["max_per_24h"]] + DAY_MS
        bol = self.bolus
        if bol is not None:
            waits[DenialReason.BOLUS_ACTIVE] = self._bolus_end_ms(bol)
        return waits

    def request_patient_bolus(self) -> PatientBolusResult:
        """A patient asks for a bolus now. Granted, or denied with a :class:`DenialReason`:
        the first that applies of DENIAL_PRECEDENCE (NOT_CONFIGURED, NOT_INFUSING, LOCKOUT,
        DAILY_MAXIMUM, BOLUS_ACTIVE, HARD_DAILY_LIMIT). The lockout runs start to start.
        ``next_allowed_ms`` is the earliest run time at which every foreseeable reason has
        passed (lockout end, daily-maximum window, end of the running bolus), None when none
        can be foreseen. Every request is logged (PATIENT_BOLUS_GRANTED or
        PATIENT_BOLUS_DENIED with the reason) and committed. Insufficient reservoir is not a
        denial: the bolus runs until the reservoir empties."""
        self._prune_history()
        cfg = self.patient_cfg
        reason: DenialReason | None = None
        next_ok: int | None = None
        vol = self._patient_volume(cfg["dose_ug"], self.concentration_ug_per_ml) if cfg else 0
        schedule_running = self.state is S.INFUSING or (self.state is S.BOLUS
                                                        and self.resume_infusing)
        if cfg is None:
            reason = DenialReason.NOT_CONFIGURED
        elif not schedule_running or self.safe_mode is not None:
            reason = DenialReason.NOT_INFUSING
        else:
            waits = self._patient_waits(cfg)
            for candidate in (DenialReason.LOCKOUT, DenialReason.DAILY_MAXIMUM,
                              DenialReason.BOLUS_ACTIVE):
                if candidate in waits:
                    reason = reason or candidate
            if reason is None and (self.keep_open or not self._bolus_fits_limit(vol)):
                reason = DenialReason.HARD_DAILY_LIMIT
            if reason is not None and waits:
                next_ok = max(waits.values())
        if reason is not None:
            self._event("PATIENT_BOLUS_DENIED", reason=reason.name, reason_code=int(reason))
            log.info("patient bolus denied: %s", reason.name)
            self._commit()
            return PatientBolusResult(False, reason, 0, next_ok)
        assert cfg is not None
        self.patient_history.append(self.t_ms)
        self._event("PATIENT_BOLUS_GRANTED", dose_ug=cfg["dose_ug"], volume_nl=vol)
        self._start_bolus(BolusKind.PATIENT, vol, cfg["duration_ms"])
        self._commit()
        return PatientBolusResult(True, None, vol, self.t_ms + cfg["lockout_ms"])
