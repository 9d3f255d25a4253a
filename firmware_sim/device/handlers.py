"""The dispatch table of the device: one handler per model request, fields in, fields out.

Each handler takes the request's decoded fields, calls the pump model and returns the response
``(MessageType, fields)``. Refusals are raised: the model's ``Rejected`` (mapped to a NAK by
:mod:`firmware_sim.device.codes`) or :class:`Refusal` for what the device itself checks.

Every instant on the wire is on the pump's run clock (ms, never set, never jumps) except
``wall_ms`` (STATUS, CLOCK, SET_CLOCK), the time-of-day clock; see PROTOCOL.md section 1.

A request that needs two model calls (SET_LIMITS changing both the patient bolus and the
threshold) is first validated as a whole by the model (``Pump.validate_limits``, which changes
nothing), so a refusal of the second call never leaves the first one applied.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
from importlib import metadata
from typing import Any, Callable

from firmware_sim.enums import Alarm, BolusKind, RejectCode, TherapyState, Weekday
from firmware_sim.errors import Rejected
from firmware_sim.pump import Pump
from firmware_sim.pump.persistence import MAX_CLOCK_MS
from firmware_sim.schedule import Plan, Schedule, Step, weekday_of
from firmware_sim.status import PatientBolusConfig
from firmware_sim.storage import Event
from protocol import FAULT_WIRE, AckWarning, FaultAction, FaultKind, NakCode, PROTOCOL_VERSION
from protocol.messages import PROTOCOL_MINOR
from protocol import MessageType as MT
from protocol.log_records import NO_DRUG, encode_record
from protocol.messages import MAX_DRUGS, MAX_LOG_ENTRIES, MAX_STEPS, MAX_TEXT, REGISTRY

from .codes import clip_text, log_detail

log = logging.getLogger(__name__)

Fields = dict[str, Any]
Response = tuple[MT, Fields | None]
NO_STEP = 0xFF
MEASURE_WITHDRAWN = 0xFFFF_FFFF  # REFILL_WITHDRAWN: the emulator measures the true volume


class Refusal(Exception):
    """A request the device refuses before (or instead of) calling the model."""

    def __init__(self, code: NakCode, detail: str) -> None:
        super().__init__(f"{code.name}: {detail}")
        self.code = code
        self.detail = detail


@functools.lru_cache(maxsize=1)  # reading the package metadata costs milliseconds per device
def firmware_version() -> str:
    """The installed intrapump version (the emulated firmware's version), read once."""
    try:
        return metadata.version("intrapump")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def model_name(profile_name: str) -> str:
    """Model name shown by IDENTITY: ``ip20`` -> ``IP-20``."""
    name = profile_name.upper()
    for i, ch in enumerate(name):
        if ch.isdigit():
            if i and name[i - 1].isalpha():
                name = name[:i] + "-" + name[i:]
            break
    return clip_text(name, MAX_TEXT["model"])


class Dispatcher:
    """Maps model requests to pump calls. Not thread-safe: the device serialises calls."""

    REQUESTS = frozenset(t for t, s in REGISTRY.items() if s.kind == "request")

    def __init__(self, pump: Pump, serial_number: str) -> None:
        self.pump = pump
        self.serial_number = clip_text(serial_number, MAX_TEXT["serial_number"])
        self.firmware_version = clip_text(firmware_version(), MAX_TEXT["firmware_version"])
        self.last_withdrawal: dict[str, Any] | None = None
        self.soft_limit_crossed = False
        self.table: dict[MT, Callable[[Fields], Response]] = {
            MT.IDENTIFY: self.identify,
            MT.GET_STATUS: self.get_status,
            MT.GET_DRUG: self.get_drug,
            MT.SET_DRUG: self.set_drug,
            MT.GET_SCHEDULE: self.get_schedule,
            MT.SET_SCHEDULE: self.set_schedule,
            MT.GET_LIMITS: self.get_limits,
            MT.GET_DRUG_LIBRARY: self.get_drug_library,
            MT.GET_DEVICE_LIMITS: self.get_device_limits,
            MT.SET_LIMITS: self.set_limits,
            MT.START_THERAPY: self.start_therapy,
            MT.STOP_THERAPY: self.stop_therapy,
            MT.CLINICIAN_BOLUS: self.clinician_bolus,
            MT.PATIENT_BOLUS: self.patient_bolus,
            MT.CANCEL_BOLUS: self.cancel_bolus,
            MT.PRIMING_BOLUS: self.priming_bolus,
            MT.REFILL_BEGIN: self.refill_begin,
            MT.REFILL_WITHDRAWN: self.refill_withdrawn,
            MT.REFILL_COMPLETE: self.refill_complete,
            MT.GET_ALARMS: self.get_alarms,
            MT.ACK_ALARM: self.ack_alarm,
            MT.ALARM_TEST: self.alarm_test,
            MT.READ_LOG: self.read_log,
            MT.GET_CLOCK: self.get_clock,
            MT.SET_CLOCK: self.set_clock,
            MT.INJECT_FAULT: self.inject_fault,
        }

    # ------------------------------------------------------------------ bookkeeping
    def _find_last_withdrawal(self) -> dict[str, Any]:
        """Details of the last REFILL_WITHDRAWN event, searching the log backwards by pages."""
        if self.last_withdrawal is None:
            end = self.pump.storage.event_count()
            while end > 0 and self.last_withdrawal is None:
                start = max(0, end - 256)
                for ev in reversed(self.pump.read_events(start, end - start)):
                    if ev.kind == "REFILL_WITHDRAWN":
                        self.last_withdrawal = dict(ev.details)
                        break
                end = start
        return self.last_withdrawal or {}

    def on_event(self, ev: Event) -> None:
        """Follow committed events the dispatcher depends on (the last withdrawal, soft-limit
        warnings of the request being executed)."""
        if ev.kind == "SOFT_LIMIT_WARNING":
            self.soft_limit_crossed = True
        if ev.kind == "REFILL_WITHDRAWN":
            self.last_withdrawal = dict(ev.details)

    @staticmethod
    def _t(run_ms: int | None) -> int:
        """A run-clock instant on the wire: 0 for none."""
        return 0 if run_ms is None else max(0, run_ms)

    # ------------------------------------------------------------------ identification / status
    def identify(self, f: Fields) -> Response:
        """IDENTITY: model (from the profile name), serial number, versions, capacity (nL)."""
        return MT.IDENTITY, self.identity_fields(f)

    def identity_fields(self, f: Fields) -> Fields:
        """IDENTITY fields; ``protocol_minor`` is this pump's minor version (1), sent only to a
        host whose IDENTIFY carried its own minor version (a 1.0 IDENTIFY is empty)."""
        p = self.pump.profile
        return {
            "model": model_name(p.name), "serial_number": self.serial_number,
            "firmware_version": self.firmware_version, "protocol_version": PROTOCOL_VERSION,
            "reservoir_capacity_nl": p.reservoir_capacity_nl, "weekday_plans": 1,
            "protocol_minor": PROTOCOL_MINOR}

    def begin_request(self) -> None:
        """Called before each executed request: forget the warnings of the previous one."""
        self.soft_limit_crossed = False

    def ack_fields(self, request_type: MT) -> Fields:
        """ACK fields: the request type and the AckWarning bits of what the request crossed
        (SOFT_LIMIT when the model logged a soft-limit warning while executing it)."""
        warnings = AckWarning.SOFT_LIMIT if self.soft_limit_crossed else AckWarning.NONE
        return {"request_type": int(request_type), "warnings": int(warnings)}

    def status_fields(self) -> Fields:
        """STATUS / STATUS_PUSH fields of the pump now."""
        st = self.pump.status()
        step_index, step_start = NO_STEP, 0
        sched = self.pump.schedule
        if st.step_index is not None and sched is not None:
            plan = sched.plan_for(weekday_of(st.wall_ms))
            if 0 <= st.step_index < len(plan.steps):
                step_index = st.step_index
                step_start = plan.steps[st.step_index].start_minute
        b = st.bolus
        return {
            "state": int(st.state), "time_ms": st.time_ms, "wall_ms": st.wall_ms,
            "reservoir_nl": st.reservoir_nl,
            "reservoir_capacity_nl": st.capacity_nl, "step_index": step_index,
            "step_start_minute": step_start, "rate_nl_per_day": st.rate_nl_per_day,
            "bolus_kind": int(b.kind) if b else 0,
            "bolus_remaining_nl": b.remaining_nl if b else 0,
            "bolus_end_ms": self._t(b.end_ms) if b and b.end_ms is not None else 0,
            "active_alarms": st.alarm_mask,
            "battery_percent": max(0, min(100, st.battery_percent)),
            "refill_due_ms": self._t(st.refill_due_ms),
            **self.delivery_fields(),
            "clock_drift_ppm": st.clock_drift_ppm, "clock_drift_ms": st.clock_drift_ms,
        }

    def delivery_fields(self) -> Fields:
        """The 1.1 delivered counters of STATUS (nL) and the basal carry."""
        c = self.pump.delivery_counters()
        return {"delivered_nl": c.total_nl, "delivered_since_refill_nl": c.since_refill_nl,
                "delivered_today_nl": c.today_nl, "basal_carry": c.basal_carry}

    def get_status(self, f: Fields) -> Response:
        """STATUS of the pump now."""
        return MT.STATUS, self.status_fields()

    # ------------------------------------------------------------------ drug / schedule / limits
    def get_drug(self, f: Fields) -> Response:
        """DRUG: programmed name and concentration (ug/mL); empty name and 0 when none."""
        return MT.DRUG, {"drug_name": self.pump.drug_name or "",
                         "concentration_ug_per_ml": self.pump.concentration_ug_per_ml or 0}

    def set_drug(self, f: Fields) -> Response:
        """Program drug and concentration, keeping the schedule. A pump without a schedule gets
        the minimum (keep-open) rate as its every-day plan until SET_SCHEDULE replaces it; the
        pump stays in its state (nothing is delivered before START_THERAPY)."""
        sched = self.pump.schedule
        if sched is None:
            sched = Schedule.constant(self.pump.profile.min_rate_nl_per_day)
        self.pump.program_therapy(f["drug_name"], f["concentration_ug_per_ml"], sched)
        return MT.ACK, self.ack_fields(MT.SET_DRUG)

    @staticmethod
    def _weekday(value: int) -> Weekday:
        try:
            return Weekday(value)
        except ValueError:
            raise Refusal(NakCode.INVALID_FIELD, "weekday") from None

    def get_schedule(self, f: Fields) -> Response:
        """The steps of one plan; a weekday without its own plan (it follows the every-day
        plan) and a pump without a schedule answer with no steps."""
        wd = self._weekday(f["weekday"])
        sched = self.pump.schedule
        plan = sched.plans.get(wd) if sched is not None else None
        steps = [] if plan is None else [
            {"start_minute": s.start_minute, "rate_nl_per_day": s.rate_nl_per_day}
            for s in plan.steps]
        return MT.SCHEDULE, {"weekday": int(wd), "steps": steps}

    def set_schedule(self, f: Fields) -> Response:
        """Replace one plan (EVERY_DAY or one weekday), keeping the others."""
        wd = self._weekday(f["weekday"])
        plans = dict(self.pump.schedule.plans) if self.pump.schedule is not None else {}
        plans[wd] = Plan(tuple(Step(s["start_minute"], s["rate_nl_per_day"]) for s in f["steps"]))
        self.pump.set_schedule(Schedule(plans))
        return MT.ACK, self.ack_fields(MT.SET_SCHEDULE)

    def get_limits(self, f: Fields) -> Response:
        """LIMITS: patient bolus (zeros when off) and the low-reservoir threshold (nL)."""
        cfg = self.pump.patient_bolus_config
        return MT.LIMITS, {
            "patient_bolus_dose_ug": cfg.dose_ug if cfg else 0,
            "patient_bolus_duration_ms": cfg.duration_ms if cfg else 0,
            "patient_lockout_ms": cfg.lockout_ms if cfg else 0,
            "patient_max_per_day": cfg.max_per_24h if cfg else 0,
            "low_reservoir_threshold_nl": self.pump.low_threshold_nl}

    def set_limits(self, f: Fields) -> Response:
        """Patient bolus (dose 0 turns it off; the other patient fields are then ignored) and
        the low-reservoir threshold. The threshold is always programmed (so the pump's state is
        always checked: nothing is accepted at end of service); an unchanged patient bolus
        setting is not reprogrammed."""
        pump = self.pump
        dose = f["patient_bolus_dose_ug"]
        new = None if dose == 0 else PatientBolusConfig(
            dose, f["patient_bolus_duration_ms"], f["patient_lockout_ms"],
            f["patient_max_per_day"])
        threshold = f["low_reservoir_threshold_nl"]
        if new != pump.patient_bolus_config:
            setting = None if new is None else dataclasses.asdict(new)
            pump.validate_limits(threshold_nl=threshold, patient_bolus=setting)
            if setting is None:
                pump.disable_patient_bolus()
            else:
                pump.configure_patient_bolus(**setting)
        pump.set_low_reservoir_threshold(threshold)
        return MT.ACK, self.ack_fields(MT.SET_LIMITS)

    # ------------------------------------------------------------------ therapy
    def start_therapy(self, f: Fields) -> Response:
        """Start (resume) the programmed therapy."""
        self.pump.start()
        return MT.ACK, self.ack_fields(MT.START_THERAPY)

    def stop_therapy(self, f: Fields) -> Response:
        """Stop therapy (a bolus running is cancelled)."""
        self.pump.stop()
        return MT.ACK, self.ack_fields(MT.STOP_THERAPY)

    def _bolus_started(self, kind: BolusKind) -> Response:
        b = self.pump.status().bolus
        if b is None:  # cannot happen (a bolus lasts >= 1 ms); answer with what was started
            now = self._t(self.pump.time_ms)
            return MT.BOLUS_STARTED, {"bolus_kind": int(kind), "volume_nl": 0,
                                      "start_ms": now, "end_ms": now}
        return MT.BOLUS_STARTED, {"bolus_kind": int(b.kind), "volume_nl": b.volume_nl,
                                  "start_ms": self._t(b.start_ms),
                                  "end_ms": self._t(b.end_ms) if b.end_ms is not None else 0}

    def clinician_bolus(self, f: Fields) -> Response:
        """Exactly one of volume_nl and dose_ug is non-zero (else INVALID_FIELD volume_nl)."""
        vol, dose = f["volume_nl"], f["dose_ug"]
        if (vol == 0) == (dose == 0):
            raise Refusal(NakCode.INVALID_FIELD, "volume_nl")
        self.pump.start_clinician_bolus(f["duration_ms"], volume_nl=vol or None,
                                        dose_ug=dose or None)
        return self._bolus_started(BolusKind.CLINICIAN)

    def priming_bolus(self, f: Fields) -> Response:
        """0 in volume_nl / duration_ms means the profile's dead volume / priming duration."""
        self.pump.start_priming_bolus(f["volume_nl"] or None, f["duration_ms"] or None)
        return self._bolus_started(BolusKind.PRIMING)

    def patient_bolus(self, f: Fields) -> Response:
        """PATIENT_BOLUS_RESULT: granted, or denied with the model's DenialReason."""
        res = self.pump.request_patient_bolus()
        cfg = self.pump.patient_bolus_config
        b = self.pump.status().bolus
        granted = res.granted
        end = b.end_ms if granted and b is not None and b.kind is BolusKind.PATIENT else None
        return MT.PATIENT_BOLUS_RESULT, {
            "granted": int(granted),
            "denial_reason": 0 if res.reason is None else int(res.reason),
            "dose_ug": cfg.dose_ug if granted and cfg is not None else 0,
            "volume_nl": res.volume_nl if granted else 0,
            "end_ms": self._t(end),
            "next_allowed_ms": self._t(res.next_allowed_ms),
            "boluses_today": min(255, self.pump.patient_boluses_24h)}

    def cancel_bolus(self, f: Fields) -> Response:
        """Cancel the bolus running."""
        self.pump.stop_bolus()
        return MT.ACK, self.ack_fields(MT.CANCEL_BOLUS)

    # ------------------------------------------------------------------ refill
    def refill_begin(self, f: Fields) -> Response:
        """Enter refill (delivery stops)."""
        self.pump.refill_begin()
        return MT.ACK, self.ack_fields(MT.REFILL_BEGIN)

    def refill_withdrawn(self, f: Fields) -> Response:
        """Report the volume withdrawn (nL); may raise REFILL_DISCREPANCY. MEASURE_WITHDRAWN:
        the emulator measures the true volume in the reservoir (what a syringe draws)."""
        self.pump.refill_withdrawn(self._withdrawn(f["withdrawn_nl"]))
        return MT.ACK, self.ack_fields(MT.REFILL_WITHDRAWN)

    def _withdrawn(self, withdrawn_nl: int) -> int:
        """The reported withdrawal, or the true reservoir volume for MEASURE_WITHDRAWN."""
        return self.pump.true_reservoir_nl if withdrawn_nl == MEASURE_WITHDRAWN else withdrawn_nl

    def refill_complete(self, f: Fields) -> Response:
        """Fill, after the withdrawal was reported (PROTOCOL.md, REFILL_COMPLETE): without
        REFILL_WITHDRAWN first the model refuses with WITHDRAW_REQUIRED (the old drug is
        withdrawn and reported before a new fill is accepted); after it, ``withdrawn_nl`` is 0
        or the reported volume, anything else ALREADY_WITHDRAWN."""
        pump = self.pump
        filled, conc, withdrawn = f["filled_nl"], f["concentration_ug_per_ml"], f["withdrawn_nl"]
        if pump.state is TherapyState.REFILL and pump.refill_stage == "withdrawn":
            reported = int(self._find_last_withdrawal().get("withdrawn_nl", 0))
            if withdrawn not in (0, reported, MEASURE_WITHDRAWN):
                raise Refusal(NakCode.ALREADY_WITHDRAWN, "withdrawn_nl")
        pump.refill_complete(filled, conc)
        w = self._find_last_withdrawal()
        expected = int(w.get("expected_nl", 0))
        discrepancy = abs(int(w.get("withdrawn_nl", 0)) - expected) > int(w.get("tolerance_nl", 0))
        return MT.REFILL_RESULT, {"reservoir_nl": pump.reservoir_nl,
                                  "expected_withdrawn_nl": expected,
                                  "discrepancy": int(discrepancy),
                                  "refill_due_ms": self._t(pump.refill_due_ms)}

    # ------------------------------------------------------------------ alarms / log / clock
    def get_alarms(self, f: Fields) -> Response:
        """ALARM_LIST: the active alarms, raise times on the run clock."""
        return MT.ALARM_LIST, {"alarms": [
            {"alarm": int(a.alarm), "priority": int(a.priority),
             "raised_ms": self._t(a.raised_ms), "acknowledged": int(a.acked),
             "tone": int(a.tone), "repeat_ms": a.repeat_ms}
            for a in self.pump.status().alarms]}

    def alarm_test(self, f: Fields) -> Response:
        """Sound both alarm tones once (logged as ALARM_TEST)."""
        self.pump.alarm_test()
        return MT.ACK, self.ack_fields(MT.ALARM_TEST)

    def ack_alarm(self, f: Fields) -> Response:
        """Acknowledge an active alarm (INVALID_FIELD for an unknown alarm id)."""
        try:
            alarm = Alarm(f["alarm"])
        except ValueError:
            raise Refusal(NakCode.INVALID_FIELD, "alarm") from None
        self.pump.acknowledge_alarm(alarm)
        return MT.ACK, self.ack_fields(MT.ACK_ALARM)

    def read_log(self, f: Fields) -> Response:
        """LOG_PAGE: up to ``count`` (1..16) entries from ``start_index``."""
        count = f["count"]
        if not 1 <= count <= MAX_LOG_ENTRIES:
            raise Refusal(NakCode.INVALID_FIELD, "count")
        events = self.pump.read_events(f["start_index"], count)
        return MT.LOG_PAGE, {
            "total_count": self.pump.storage.event_count(),
            "entries": [self._log_entry(ev) for ev in events]}

    def _log_entry(self, ev: Event) -> Fields:
        """One LogEntry: the typed record (1.1) and the detail text a 1.0 session gets."""
        entry = {"index": ev.index, "time_ms": self._t(ev.time_ms),
                 "detail": log_detail(ev.kind, ev.details)}
        entry.update(encode_record(ev.kind, ev.details, self.drug_index))
        return entry

    def drug_library(self) -> list[Any]:
        """The drug library of the pump, in the order DRUG_LIBRARY reports it."""
        return list(self.pump.drug_library())

    def drug_index(self, name: str) -> int:
        """Index of drug ``name`` (case-insensitive) in DRUG_LIBRARY, NO_DRUG if absent."""
        names = [d.name.lower() for d in self.drug_library()]
        return names.index(name.lower()) if name.lower() in names else NO_DRUG

    def get_drug_library(self, f: Fields) -> Response:
        """DRUG_LIBRARY: every drug the pump accepts with its concentration range (ug/mL)
        and its soft and hard daily dose limits (ug/day)."""
        return MT.DRUG_LIBRARY, {"drugs": [
            {"drug_name": d.name, "min_concentration_ug_per_ml": d.min_concentration_ug_per_ml,
             "max_concentration_ug_per_ml": d.max_concentration_ug_per_ml,
             "soft_daily_limit_ug": d.soft_daily_limit_ug,
             "hard_daily_limit_ug": d.hard_daily_limit_ug}
            for d in self.drug_library()[:MAX_DRUGS]]}

    def get_device_limits(self, f: Fields) -> Response:
        """DEVICE_LIMITS: the ranges this model accepts (its profile), in wire units."""
        p = self.pump.profile
        return MT.DEVICE_LIMITS, {
            "reservoir_capacity_nl": p.reservoir_capacity_nl,
            "min_rate_nl_per_day": p.min_rate_nl_per_day,
            "max_rate_nl_per_day": p.max_rate_nl_per_day,
            "max_steps_per_day": min(p.max_steps_per_day, MAX_STEPS),
            "step_resolution_minute": 1,  # a step starts at any whole minute of the day
            "clinician_bolus_min_duration_ms": p.clinician_bolus_min_duration_ms,
            "clinician_bolus_max_duration_ms": p.clinician_bolus_max_duration_ms,
            "priming_duration_ms": p.priming_duration_ms, "dead_volume_nl": p.dead_volume_nl,
            "patient_min_dose_ug": p.patient_min_dose_ug,
            "patient_max_dose_ug": p.patient_max_dose_ug,
            "patient_min_duration_ms": p.patient_min_duration_ms,
            "patient_max_duration_ms": p.patient_max_duration_ms,
            "patient_min_lockout_ms": p.patient_min_lockout_ms,
            "patient_max_lockout_ms": p.patient_max_lockout_ms,
            "patient_max_per_day": min(p.patient_max_per_24h, 255),
            "low_threshold_min_nl": p.low_threshold_min_nl,
            "low_threshold_max_nl": p.low_threshold_max_nl,
            "low_threshold_default_nl": p.low_threshold_default_nl,
            "discrepancy_min_nl": p.discrepancy_min_nl,
            "discrepancy_percent": min(p.discrepancy_percent, 255),
            "max_rate_changes_per_period": p.max_rate_changes_per_period,
            "rate_changes_period_ms": p.rate_changes_period_ms,
            "clinician_bolus_starts_lockout": int(p.clinician_bolus_starts_lockout),
            "patient_duration_step_ms": p.patient_duration_step_ms,
            "patient_lockout_step_ms": p.patient_lockout_step_ms}

    def get_clock(self, f: Fields) -> Response:
        """CLOCK: run clock and wall clock read together (ms)."""
        return MT.CLOCK, {"time_ms": self.pump.time_ms, "wall_ms": self.pump.wall_ms}

    def set_clock(self, f: Fields) -> Response:
        """Set the wall clock; beyond the year 9999 is CLOCK_OUT_OF_RANGE (wall_ms)."""
        if f["wall_ms"] > MAX_CLOCK_MS:
            raise Refusal(NakCode.CLOCK_OUT_OF_RANGE, "wall_ms")
        self.pump.set_time(f["wall_ms"])
        return MT.ACK, self.ack_fields(MT.SET_CLOCK)

    def inject_fault(self, f: Fields) -> Response:
        """Emulator only: raise or clear one of the model's faults (``Pump.raise_fault`` /
        ``Pump.clear_fault``, the FaultKind's parameter in ``value``). BATTERY_ERI and
        END_OF_SERVICE drain the battery at once to that level (they cannot be cleared);
        CLEAR_MOTOR_STALL is CLEAR of MOTOR_STALL."""
        try:
            kind = FaultKind(f["fault"])
        except ValueError:
            raise Refusal(NakCode.UNKNOWN_FAULT, "fault") from None
        try:
            action = FaultAction(f["action"])
        except ValueError:
            raise Refusal(NakCode.INVALID_FIELD, "action") from None
        if kind is FaultKind.CLEAR_MOTOR_STALL:
            kind, action = FaultKind.MOTOR_STALL, FaultAction.CLEAR
        wire = FAULT_WIRE[kind]
        if action is FaultAction.CLEAR:
            self.pump.clear_fault(wire.model_name)
        elif wire.param is None:
            if f["value"] != 0:
                raise Refusal(NakCode.FAULT_PARAM_OUT_OF_RANGE, "value")
            self.pump.raise_fault(wire.model_name)
        else:
            self.pump.raise_fault(wire.model_name, **{wire.param: f["value"]})
        return MT.ACK, self.ack_fields(MT.INJECT_FAULT)
