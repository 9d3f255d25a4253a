"""Sample field values for every message, used to generate and check the golden vectors."""
from __future__ import annotations

from typing import Any

from protocol import MessageType as MT

STATUS = {
    "state": 1, "time_ms": 86_400_000, "wall_ms": 1_700_000_000_000, "reservoir_nl": 18_250_000,
    "reservoir_capacity_nl": 20_000_000, "step_index": 1, "step_start_minute": 480,
    "rate_nl_per_day": 500_000, "bolus_kind": 0, "bolus_remaining_nl": 0, "bolus_end_ms": 0,
    "active_alarms": 0b101, "battery_percent": 87, "refill_due_ms": 1_705_000_000_000,
    "delivered_nl": 123_456_789, "delivered_since_refill_nl": 1_750_000,
    "delivered_today_nl": 166_666, "basal_carry": 43_200_000,
    # a slow clock (-25 ppm) after one day: 86,400,000 x -25 div 1,000,000 = -2,160 ms
    "clock_drift_ppm": -25, "clock_drift_ms": -2_160,
}
STATUS_1_0 = {k: v for k, v in STATUS.items()
              if k not in ("delivered_nl", "delivered_since_refill_nl", "delivered_today_nl",
                           "basal_carry", "clock_drift_ppm", "clock_drift_ms")}
STEPS_48 = [{"start_minute": 30 * i, "rate_nl_per_day": 100_000 + 1_000 * i} for i in range(48)]

SAMPLES: dict[MT, dict[str, Any]] = {
    MT.IDENTIFY: {"protocol_minor": 1},
    MT.SESSION_OPEN: {"role": 1, "host_nonce": bytes(range(16)), "protocol_minor": 1},
    MT.SESSION_PROOF: {"session_id": 0x1234ABCD, "proof": bytes(range(32))},
    MT.SESSION_CLOSE: {},
    MT.GET_STATUS: {},
    MT.GET_DRUG: {},
    MT.SET_DRUG: {"drug_name": "morphine", "concentration_ug_per_ml": 25_000},
    MT.GET_SCHEDULE: {"weekday": 0xFF},
    MT.SET_SCHEDULE: {"weekday": 0xFF, "steps": [
        {"start_minute": 0, "rate_nl_per_day": 400_000},
        {"start_minute": 480, "rate_nl_per_day": 600_000},
        {"start_minute": 1320, "rate_nl_per_day": 300_000}]},
    MT.GET_LIMITS: {},
    MT.SET_LIMITS: {"patient_bolus_dose_ug": 50, "patient_bolus_duration_ms": 600_000,
                    "patient_lockout_ms": 3_600_000, "patient_max_per_day": 4,
                    "low_reservoir_threshold_nl": 2_000_000},
    MT.START_THERAPY: {},
    MT.STOP_THERAPY: {},
    MT.CLINICIAN_BOLUS: {"volume_nl": 0, "dose_ug": 100, "duration_ms": 900_000},
    MT.PATIENT_BOLUS: {},
    MT.CANCEL_BOLUS: {},
    MT.PRIMING_BOLUS: {"volume_nl": 230_000, "duration_ms": 1_200_000},
    MT.REFILL_BEGIN: {},
    MT.REFILL_WITHDRAWN: {"withdrawn_nl": 1_900_000},
    MT.REFILL_COMPLETE: {"withdrawn_nl": 1_900_000, "filled_nl": 18_000_000,
                         "concentration_ug_per_ml": 25_000},
    MT.GET_ALARMS: {},
    MT.ACK_ALARM: {"alarm": 0},
    MT.READ_LOG: {"start_index": 100, "count": 2},
    MT.GET_CLOCK: {},
    MT.SET_CLOCK: {"wall_ms": 1_700_000_123_456},
    MT.SET_TELEMETRY: {"interval_ms": 60_000},
    MT.INJECT_FAULT: {"fault": 6, "action": 0, "value": 145},
    MT.IDENTITY: {"model": "IP-40", "serial_number": "IP40-000123", "firmware_version": "0.1.0",
                  "protocol_version": 1, "reservoir_capacity_nl": 40_000_000, "weekday_plans": 1,
                  "protocol_minor": 1},
    MT.SESSION_CHALLENGE: {"session_id": 0x1234ABCD, "pump_nonce": bytes(range(16, 32))},
    MT.SESSION_ACCEPTED: {"pump_proof": bytes(range(32, 64))},
    MT.STATUS: STATUS,
    MT.DRUG: {"drug_name": "baclofen", "concentration_ug_per_ml": 2_000},
    MT.SCHEDULE: {"weekday": 0xFF, "steps": STEPS_48},
    MT.LIMITS: {"patient_bolus_dose_ug": 50, "patient_bolus_duration_ms": 600_000,
                "patient_lockout_ms": 3_600_000, "patient_max_per_day": 4,
                "low_reservoir_threshold_nl": 2_000_000},
    MT.BOLUS_STARTED: {"bolus_kind": 1, "volume_nl": 4_000, "start_ms": 1_700_000_000_000,
                       "end_ms": 1_700_000_900_000},
    MT.PATIENT_BOLUS_RESULT: {"granted": 0, "denial_reason": 1, "dose_ug": 0, "volume_nl": 0,
                              "end_ms": 0, "next_allowed_ms": 1_700_003_600_000,
                              "boluses_today": 2},
    MT.REFILL_RESULT: {"reservoir_nl": 18_000_000, "expected_withdrawn_nl": 2_000_000,
                       "discrepancy": 0, "refill_due_ms": 1_707_000_000_000},
    MT.ALARM_LIST: {"alarms": [
        {"alarm": 0, "priority": 2, "raised_ms": 1_699_999_000_000, "acknowledged": 1,
         "tone": 1, "repeat_ms": 3_600_000},
        {"alarm": 2, "priority": 1, "raised_ms": 1_699_999_500_000, "acknowledged": 0,
         "tone": 1, "repeat_ms": 3_600_000}]},
    MT.LOG_PAGE: {"total_count": 250, "entries": [
        # PATIENT_BOLUS_GRANTED: 50 ug as 2,000 nL
        {"index": 100, "time_ms": 1_699_000_000_000, "kind": 7, "subject": 0,
         "value_a": 50, "value_b": 2_000, "value_c": 0},
        # PATIENT_BOLUS_DENIED: LOCKOUT
        {"index": 101, "time_ms": 1_699_000_600_000, "kind": 8, "subject": 1,
         "value_a": 0, "value_b": 0, "value_c": 0},
        # REFUSED: NAK HARD_DAILY_LIMIT (0x24) to SET_SCHEDULE (0x14) in a clinician session
        {"index": 102, "time_ms": 1_699_000_700_000, "kind": 18, "subject": 0x24,
         "value_a": 0x14, "value_b": 1, "value_c": 1}]},
    MT.CLOCK: {"time_ms": 86_400_000, "wall_ms": 1_700_000_000_000},
    MT.ALARM_EVENT: {"alarm": 0, "raised": 1, "priority": 2, "time_ms": 1_700_000_000_000,
                     "active_alarms": 1},
    MT.STATUS_PUSH: STATUS,
    MT.ACK: {"request_type": int(MT.SET_SCHEDULE), "warnings": 1},
    MT.NAK: {"code": 0x21, "request_type": int(MT.SET_SCHEDULE), "retry_after_ms": 0,
             "detail": "steps[1].start_minute"},
    MT.ALARM_TEST: {},
}

# Messages new in protocol 1.1 (their vectors are numbered apart, see regenerate.py).
NEW_IN_1_1: dict[MT, dict[str, Any]] = {
    MT.GET_DRUG_LIBRARY: {},
    MT.DRUG_LIBRARY: {"drugs": [
        {"drug_name": "morphine", "min_concentration_ug_per_ml": 500,
         "max_concentration_ug_per_ml": 50_000, "soft_daily_limit_ug": 15_000,
         "hard_daily_limit_ug": 20_000},
        {"drug_name": "ziconotide", "min_concentration_ug_per_ml": 25,
         "max_concentration_ug_per_ml": 100, "soft_daily_limit_ug": 19,
         "hard_daily_limit_ug": 20}]},
    MT.GET_DEVICE_LIMITS: {},
    MT.DEVICE_LIMITS: {  # the ip20 profile's ranges
        "reservoir_capacity_nl": 20_000_000, "min_rate_nl_per_day": 48_000,
        "max_rate_nl_per_day": 24_000_000, "max_steps_per_day": 48, "step_resolution_minute": 1,
        "clinician_bolus_min_duration_ms": 60_000, "clinician_bolus_max_duration_ms": 86_400_000,
        "priming_duration_ms": 3_600_000, "dead_volume_nl": 250_000, "patient_min_dose_ug": 1,
        "patient_max_dose_ug": 5_000, "patient_min_duration_ms": 60_000,
        "patient_max_duration_ms": 3_600_000, "patient_min_lockout_ms": 900_000,
        "patient_max_lockout_ms": 86_400_000, "patient_max_per_day": 24,
        "low_threshold_min_nl": 500_000, "low_threshold_max_nl": 5_000_000,
        "low_threshold_default_nl": 2_000_000, "discrepancy_min_nl": 2_000_000,
        "discrepancy_percent": 20, "max_rate_changes_per_period": 0,
        "rate_changes_period_ms": 86_400_000, "clinician_bolus_starts_lockout": 0,
        "patient_duration_step_ms": 1, "patient_lockout_step_ms": 1},
}
SAMPLES.update(NEW_IN_1_1)
# DEVICE_LIMITS as the first 1.1 pumps sent it (and a 1.0 session gets it): the 72-byte layout
DEVICE_LIMITS_FIRST = {k: v for k, v in NEW_IN_1_1[MT.DEVICE_LIMITS].items()
                       if k not in ("max_rate_changes_per_period", "rate_changes_period_ms",
                                    "clinician_bolus_starts_lockout", "patient_duration_step_ms",
                                    "patient_lockout_step_ms")}

# Protocol 1.0 layouts (a 1.0 host or pump on the other end): same frames, 1.0 payloads.
SAMPLES_1_0: dict[MT, dict[str, Any]] = {
    MT.IDENTIFY: {},
    MT.SESSION_OPEN: {"role": 1, "host_nonce": bytes(range(16))},
    MT.IDENTITY: {k: v for k, v in SAMPLES[MT.IDENTITY].items() if k != "protocol_minor"},
    MT.STATUS: STATUS_1_0,
    MT.STATUS_PUSH: STATUS_1_0,
    MT.ACK: {"request_type": int(MT.SET_SCHEDULE)},
    MT.LOG_PAGE: {"total_count": 250, "entries": [
        {"index": 100, "time_ms": 1_699_000_000_000, "kind": 7,
         "detail": "dose_ug=50 volume_nl=2000"},
        {"index": 101, "time_ms": 1_699_000_600_000, "kind": 8, "detail": "LOCKOUT"}]},
    MT.DEVICE_LIMITS: DEVICE_LIMITS_FIRST,
}

# Fields carried as bytes (hex in the JSON vectors).
BYTES_FIELDS = {"host_nonce", "pump_nonce", "proof", "pump_proof"}

# More vectors of one message (file name -> message, fields): the fault kinds and actions.
EXTRA_SAMPLES: dict[str, tuple[MT, dict[str, Any]]] = {
    "inject_fault_clear": (MT.INJECT_FAULT, {"fault": 8, "action": 1, "value": 0}),
    "inject_fault_mri": (MT.INJECT_FAULT, {"fault": 10, "action": 0, "value": 1_800_000}),
    "inject_fault_transient_stall": (MT.INJECT_FAULT, {"fault": 1, "action": 0,
                                                       "value": 600_000}),
    # REFILL_COMPLETE sent before REFILL_WITHDRAWN (PROTOCOL.md, REFILL_COMPLETE)
    "nak_withdraw_required": (MT.NAK, {"code": 0x3B, "request_type": int(MT.REFILL_COMPLETE),
                                       "retry_after_ms": 0,
                                       "detail": "withdraw and report the reservoir content first"}),
    # the 13th schedule change of the period on a profile that allows 12 per 24 h
    "nak_max_changes_reached": (MT.NAK, {"code": 0x3D, "request_type": int(MT.SET_SCHEDULE),
                                         "retry_after_ms": 14_400_000,
                                         "detail": "12 rate changes in 24 h: next in 14400000 ms"}),
}
