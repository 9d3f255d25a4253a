-- intrapump: Wireshark dissector for the intrapump programming and telemetry protocol.
--
-- Shipped with the intrapump Python package (`pumpctl wireshark` prints where). Use it with
--   tshark -X lua_script:/path/to/intrapump.lua -r capture.pcapng -V
--   wireshark -X lua_script:/path/to/intrapump.lua capture.pcapng
-- or copy it into the personal Lua plugin folder (`pumpctl wireshark --install`).
--
-- It decodes captures written by intrapump (pcapng, link type USER0 = DLT 147, one packet per
-- frame, bytes that are not a frame as packets of their own): the frame header, every message
-- and field of PROTOCOL.md with its enumeration names, the CRC (checked) and the tag (present or
-- not; it cannot be verified without the session key), and flags bad frames as expert info.
-- Display filters: intrapump, intrapump.msg_type == 0x90, intrapump.f.reservoir_nl > 1000000,
-- intrapump.crc.good == 0, _ws.expert.group == "Malformed".

-- GENERATED from protocol/messages.py by `python -m host_tools.wireshark.generate`; do not edit by hand
local PROTOCOL_VERSION = 1
local MAX_PAYLOAD = 1024
local ENUMS = {
  Alarm = {[0]="LOW_RESERVOIR", [1]="EMPTY_RESERVOIR", [2]="REFILL_DUE", [3]="BATTERY_ERI", [4]="END_OF_SERVICE", [5]="MOTOR_STALL", [6]="MEMORY_ERROR", [7]="REFILL_DISCREPANCY", [8]="REDUCED_BATTERY"},
  AlarmPriority = {[1]="LOW", [2]="MEDIUM", [3]="HIGH"},
  BolusKind = {[0]="NONE", [1]="CLINICIAN", [2]="PATIENT", [3]="PRIMING", [4]="BRIDGE"},
  DenialReason = {[0]="NONE", [1]="LOCKOUT", [2]="DAILY_MAXIMUM", [3]="NOT_CONFIGURED", [4]="NOT_INFUSING", [5]="HARD_DAILY_LIMIT", [6]="BOLUS_ACTIVE"},
  EventKind = {[1]="STATE", [2]="ALARM_RAISED", [3]="ALARM_CLEARED", [4]="ALARM_ACK", [5]="BOLUS_START", [6]="BOLUS_END", [7]="PATIENT_BOLUS_GRANTED", [8]="PATIENT_BOLUS_DENIED", [9]="PATIENT_BOLUS_CONFIG", [10]="PROGRAM", [11]="SOFT_LIMIT_WARNING", [12]="THRESHOLD", [13]="REFILL_BEGIN", [14]="REFILL_WITHDRAWN", [15]="REFILL_COMPLETE", [16]="REFILL_DUE_DATE", [17]="CLOCK_SET", [18]="REFUSED", [32]="BATTERY_FORECAST", [33]="SAFE_MODE", [34]="SAFE_MODE_END", [35]="ALARM_TEST", [36]="DOSE_WINDOW_LIMIT", [37]="DOSE_WINDOW_END", [65535]="OTHER"},
  FaultAction = {[0]="RAISE", [1]="CLEAR"},
  FaultKind = {[1]="MOTOR_STALL", [2]="MEMORY_ERROR", [3]="BATTERY_ERI", [4]="END_OF_SERVICE", [5]="CLEAR_MOTOR_STALL", [6]="OVER_INFUSION", [7]="UNDER_INFUSION", [8]="OCCLUSION", [9]="LEAK", [10]="MRI_EXPOSURE", [11]="REDUCED_BATTERY"},
  MessageType = {[1]="IDENTIFY", [2]="SESSION_OPEN", [3]="SESSION_PROOF", [4]="SESSION_CLOSE", [16]="GET_STATUS", [17]="GET_DRUG", [18]="SET_DRUG", [19]="GET_SCHEDULE", [20]="SET_SCHEDULE", [21]="GET_LIMITS", [22]="SET_LIMITS", [23]="GET_DRUG_LIBRARY", [24]="GET_DEVICE_LIMITS", [32]="START_THERAPY", [33]="STOP_THERAPY", [34]="CLINICIAN_BOLUS", [35]="PATIENT_BOLUS", [36]="CANCEL_BOLUS", [37]="PRIMING_BOLUS", [48]="REFILL_BEGIN", [49]="REFILL_WITHDRAWN", [50]="REFILL_COMPLETE", [64]="GET_ALARMS", [65]="ACK_ALARM", [66]="READ_LOG", [67]="ALARM_TEST", [80]="GET_CLOCK", [81]="SET_CLOCK", [82]="SET_TELEMETRY", [95]="INJECT_FAULT", [129]="IDENTITY", [130]="SESSION_CHALLENGE", [131]="SESSION_ACCEPTED", [144]="STATUS", [145]="DRUG", [147]="SCHEDULE", [149]="LIMITS", [151]="DRUG_LIBRARY", [152]="DEVICE_LIMITS", [162]="BOLUS_STARTED", [163]="PATIENT_BOLUS_RESULT", [178]="REFILL_RESULT", [192]="ALARM_LIST", [194]="LOG_PAGE", [208]="CLOCK", [224]="ALARM_EVENT", [225]="STATUS_PUSH", [240]="ACK", [241]="NAK"},
  NakCode = {[1]="FRAMING", [2]="UNSUPPORTED_VERSION", [3]="UNKNOWN_MESSAGE_TYPE", [4]="MALFORMED_PAYLOAD", [5]="NO_SESSION", [6]="BAD_TAG", [7]="STALE_SEQUENCE", [8]="FORBIDDEN_FOR_ROLE", [9]="AUTH_FAILED", [10]="RATE_LIMITED", [11]="BUSY", [32]="RATE_OUT_OF_RANGE", [33]="STEP_ORDER", [34]="TOO_MANY_STEPS", [35]="CONCENTRATION_OUT_OF_RANGE", [36]="HARD_DAILY_LIMIT", [37]="UNKNOWN_DRUG", [38]="INVALID_STATE", [39]="BOLUS_ACTIVE", [40]="RESERVOIR_OVERFLOW", [41]="THRESHOLD_OUT_OF_RANGE", [42]="DURATION_OUT_OF_RANGE", [43]="LOCKOUT_OUT_OF_RANGE", [44]="DOSE_OUT_OF_RANGE", [45]="VOLUME_OUT_OF_RANGE", [46]="INVALID_FIELD", [47]="WEEKDAY_NOT_SUPPORTED", [48]="NO_SUCH_ALARM", [49]="CLOCK_OUT_OF_RANGE", [50]="STORAGE_ERROR", [51]="NO_STEPS", [52]="MINUTE_OUT_OF_RANGE", [53]="NO_DEFAULT_PLAN", [54]="NO_PROGRAM", [55]="NO_BOLUS", [56]="RESERVOIR_EMPTY", [57]="INSUFFICIENT_RESERVOIR", [58]="MAX_PER_DAY_OUT_OF_RANGE", [59]="WITHDRAW_REQUIRED", [60]="ALREADY_WITHDRAWN", [61]="MAX_CHANGES_REACHED", [63]="INTERNAL_ERROR", [72]="UNKNOWN_FAULT", [73]="FAULT_PARAM_OUT_OF_RANGE", [74]="FAULT_NOT_ACTIVE"},
  Role = {[1]="CLINICIAN", [2]="PATIENT"},
  TherapyState = {[0]="STOPPED", [1]="INFUSING", [2]="BOLUS", [3]="REFILL", [4]="EMPTY", [5]="FAULT", [6]="END_OF_SERVICE"},
  Weekday = {[0]="MONDAY", [1]="TUESDAY", [2]="WEDNESDAY", [3]="THURSDAY", [4]="FRIDAY", [5]="SATURDAY", [6]="SUNDAY", [255]="EVERY_DAY"},
}
local MESSAGES = {
  [0x01] = {name="IDENTIFY", kind="request", summary="ask model/serial/versions; no session needed",
    fields={
      {name="protocol_minor", type="u8", desc="highest minor version the host speaks (1 for 1.1)"},
    }},
  [0x02] = {name="SESSION_OPEN", kind="request", summary="start a session for a role",
    fields={
      {name="role", type="u8", enum="Role", desc="Role: CLINICIAN=1, PATIENT=2"},
      {name="host_nonce", type="bytes", len=16, desc="16 random bytes chosen by the host"},
      {name="protocol_minor", type="u8", desc="minor version of the session's layouts (1 for 1.1)"},
    }},
  [0x03] = {name="SESSION_PROOF", kind="request", summary="prove knowledge of the role key",
    fields={
      {name="session_id", type="u32", desc="session id from the challenge"},
      {name="proof", type="bytes", len=32, desc="HMAC-SHA256(role key, 'host-proof' || T), T = transcript"},
    }},
  [0x04] = {name="SESSION_CLOSE", kind="request", summary="end the session",
    fields={
    }},
  [0x10] = {name="GET_STATUS", kind="request", summary="read the pump status",
    fields={
    }},
  [0x11] = {name="GET_DRUG", kind="request", summary="read drug and concentration",
    fields={
    }},
  [0x12] = {name="SET_DRUG", kind="request", summary="program drug and concentration",
    fields={
      {name="drug_name", type="text", max=24, desc="drug library name, UTF-8 <= 24 bytes"},
      {name="concentration_ug_per_ml", type="u32", desc="drug concentration, ug/mL"},
    }},
  [0x13] = {name="GET_SCHEDULE", kind="request", summary="read a schedule plan",
    fields={
      {name="weekday", type="u8", enum="Weekday", desc="Weekday 0..6 (MONDAY..SUNDAY) or 0xFF = every-day plan"},
    }},
  [0x14] = {name="SET_SCHEDULE", kind="request", summary="program a schedule plan",
    fields={
      {name="weekday", type="u8", enum="Weekday", desc="Weekday 0..6 or 0xFF = every-day plan"},
      {name="steps", type="array", max=48, desc="u8 count then up to 48 steps", item={
          {name="start_minute", type="u16", desc="minute of the day the step starts, 0..1439"},
          {name="rate_nl_per_day", type="u32", desc="basal rate during the step, nL/day"},
        }},
    }},
  [0x15] = {name="GET_LIMITS", kind="request", summary="read patient-bolus limits and threshold",
    fields={
    }},
  [0x16] = {name="SET_LIMITS", kind="request", summary="program patient-bolus limits and threshold",
    fields={
      {name="patient_bolus_dose_ug", type="u32", desc="dose of one patient bolus, ug (0 = patient bolus off)"},
      {name="patient_bolus_duration_ms", type="u32", desc="duration of one patient bolus, ms"},
      {name="patient_lockout_ms", type="u32", desc="minimum time between patient boluses, ms"},
      {name="patient_max_per_day", type="u8", desc="maximum patient boluses in any 24 h"},
      {name="low_reservoir_threshold_nl", type="u32", desc="low-reservoir alarm threshold, nL"},
    }},
  [0x17] = {name="GET_DRUG_LIBRARY", kind="request", summary="read the drug library",
    fields={
    }},
  [0x18] = {name="GET_DEVICE_LIMITS", kind="request", summary="read the device's programmable ranges",
    fields={
    }},
  [0x20] = {name="START_THERAPY", kind="request", summary="start infusing the schedule",
    fields={
    }},
  [0x21] = {name="STOP_THERAPY", kind="request", summary="stop the pump",
    fields={
    }},
  [0x22] = {name="CLINICIAN_BOLUS", kind="request", summary="start a clinician bolus",
    fields={
      {name="volume_nl", type="u32", desc="bolus volume, nL (0 = use dose_ug)"},
      {name="dose_ug", type="u32", desc="bolus dose, ug (0 = use volume_nl); exactly one is non-zero"},
      {name="duration_ms", type="u32", desc="bolus duration, ms"},
    }},
  [0x23] = {name="PATIENT_BOLUS", kind="request", summary="ask for a patient bolus",
    fields={
    }},
  [0x24] = {name="CANCEL_BOLUS", kind="request", summary="cancel the active bolus",
    fields={
    }},
  [0x25] = {name="PRIMING_BOLUS", kind="request", summary="start a priming bolus",
    fields={
      {name="volume_nl", type="u32", desc="priming volume (catheter + tubing), nL"},
      {name="duration_ms", type="u32", desc="priming duration, ms"},
    }},
  [0x30] = {name="REFILL_BEGIN", kind="request", summary="enter refill (delivery stops)",
    fields={
    }},
  [0x31] = {name="REFILL_WITHDRAWN", kind="request", summary="report the withdrawn volume",
    fields={
      {name="withdrawn_nl", type="u32", desc="volume withdrawn from the reservoir, nL"},
    }},
  [0x32] = {name="REFILL_COMPLETE", kind="request", summary="finish the refill",
    fields={
      {name="withdrawn_nl", type="u32", desc="volume withdrawn from the reservoir, nL"},
      {name="filled_nl", type="u32", desc="volume filled into the reservoir, nL"},
      {name="concentration_ug_per_ml", type="u32", desc="concentration of the new drug, ug/mL"},
    }},
  [0x40] = {name="GET_ALARMS", kind="request", summary="list active alarms",
    fields={
    }},
  [0x41] = {name="ACK_ALARM", kind="request", summary="acknowledge an alarm",
    fields={
      {name="alarm", type="u8", enum="Alarm", desc="Alarm id to acknowledge"},
    }},
  [0x42] = {name="READ_LOG", kind="request", summary="read a page of the event log",
    fields={
      {name="start_index", type="u32", desc="index of the first entry wanted"},
      {name="count", type="u8", desc="entries wanted, 1..16"},
    }},
  [0x43] = {name="ALARM_TEST", kind="request", summary="sound both alarm tones once",
    fields={
    }},
  [0x50] = {name="GET_CLOCK", kind="request", summary="read the pump clock",
    fields={
    }},
  [0x51] = {name="SET_CLOCK", kind="request", summary="set the pump clock",
    fields={
      {name="wall_ms", type="u64", desc="new wall (time-of-day) clock, ms since 1970-01-01 pump local time"},
    }},
  [0x52] = {name="SET_TELEMETRY", kind="request", summary="enable/disable periodic STATUS_PUSH",
    fields={
      {name="interval_ms", type="u32", desc="STATUS_PUSH period, ms (0 = off)"},
    }},
  [0x5F] = {name="INJECT_FAULT", kind="request", summary="EMULATOR ONLY: raise or clear a fault",
    fields={
      {name="fault", type="u8", enum="FaultKind", desc="FaultKind (emulator only)"},
      {name="action", type="u8", enum="FaultAction", desc="FaultAction: RAISE=0, CLEAR=1"},
      {name="value", type="u32", desc="the fault's parameter (see FaultKind); 0 for a fault without one"},
    }},
  [0x81] = {name="IDENTITY", kind="response", summary="answer to IDENTIFY",
    fields={
      {name="model", type="text", max=16, desc="model name, UTF-8 <= 16 bytes"},
      {name="serial_number", type="text", max=16, desc="serial number, UTF-8 <= 16 bytes"},
      {name="firmware_version", type="text", max=16, desc="firmware version, UTF-8 <= 16 bytes"},
      {name="protocol_version", type="u8", desc="protocol major version spoken (1)"},
      {name="reservoir_capacity_nl", type="u32", desc="reservoir capacity, nL"},
      {name="weekday_plans", type="u8", desc="1 if the model supports per-weekday schedules, else 0"},
      {name="protocol_minor", type="u8", desc="minor version the pump speaks (1 for 1.1)"},
    }},
  [0x82] = {name="SESSION_CHALLENGE", kind="response", summary="answer to SESSION_OPEN",
    fields={
      {name="session_id", type="u32", desc="non-zero session id chosen by the pump"},
      {name="pump_nonce", type="bytes", len=16, desc="16 random bytes chosen by the pump"},
    }},
  [0x83] = {name="SESSION_ACCEPTED", kind="response", summary="answer to a valid SESSION_PROOF",
    fields={
      {name="pump_proof", type="bytes", len=32, desc="HMAC-SHA256(role key, 'pump-proof' || T), T = transcript"},
    }},
  [0x90] = {name="STATUS", kind="response", summary="answer to GET_STATUS",
    fields={
      {name="state", type="u8", enum="TherapyState", desc="TherapyState"},
      {name="time_ms", type="u64", desc="pump run clock, ms (monotonic; every other *_ms time is on it)"},
      {name="wall_ms", type="u64", desc="pump wall (time-of-day) clock, ms since 1970-01-01 pump local time"},
      {name="reservoir_nl", type="u32", desc="drug volume in the reservoir, nL"},
      {name="reservoir_capacity_nl", type="u32", desc="reservoir capacity, nL"},
      {name="step_index", type="u8", desc="index of the current schedule step, 0xFF = none"},
      {name="step_start_minute", type="u16", desc="start minute of the current step, 0..1439"},
      {name="rate_nl_per_day", type="u32", desc="basal rate being delivered now, nL/day (0 when not infusing)"},
      {name="bolus_kind", type="u8", enum="BolusKind", desc="BolusKind of the active bolus (NONE=0)"},
      {name="bolus_remaining_nl", type="u32", desc="volume still to deliver in the active bolus, nL"},
      {name="bolus_end_ms", type="u64", desc="pump time the active bolus ends, ms (0 = no bolus)"},
      {name="active_alarms", type="u16", bitmask="Alarm", desc="bitmask of active alarms, bit i = Alarm i"},
      {name="battery_percent", type="u8", desc="remaining battery, 0..100 %"},
      {name="refill_due_ms", type="u64", desc="pump time the refill is due, ms (0 = not computable)"},
      {name="delivered_nl", type="u64", desc="volume delivered since manufacture, whole nL"},
      {name="delivered_since_refill_nl", type="u64", desc="volume delivered since the last REFILL_COMPLETE, nL"},
      {name="delivered_today_nl", type="u64", desc="volume delivered since the last wall-clock midnight, nL"},
      {name="basal_carry", type="u32", desc="basal integration carry, nL x ms / day units, < 86,400,000"},
      {name="clock_drift_ppm", type="i32", desc="run clock's drift against real time, ppm (signed, + = fast)"},
      {name="clock_drift_ms", type="i64", desc="drift the run clock has accumulated since it started, ms (signed)"},
    }},
  [0x91] = {name="DRUG", kind="response", summary="answer to GET_DRUG",
    fields={
      {name="drug_name", type="text", max=24, desc="drug library name, UTF-8 <= 24 bytes"},
      {name="concentration_ug_per_ml", type="u32", desc="drug concentration, ug/mL"},
    }},
  [0x93] = {name="SCHEDULE", kind="response", summary="answer to GET_SCHEDULE",
    fields={
      {name="weekday", type="u8", enum="Weekday", desc="Weekday 0..6 or 0xFF = every-day plan"},
      {name="steps", type="array", max=48, desc="u8 count then up to 48 steps", item={
          {name="start_minute", type="u16", desc="minute of the day the step starts, 0..1439"},
          {name="rate_nl_per_day", type="u32", desc="basal rate during the step, nL/day"},
        }},
    }},
  [0x95] = {name="LIMITS", kind="response", summary="answer to GET_LIMITS",
    fields={
      {name="patient_bolus_dose_ug", type="u32", desc="dose of one patient bolus, ug (0 = patient bolus off)"},
      {name="patient_bolus_duration_ms", type="u32", desc="duration of one patient bolus, ms"},
      {name="patient_lockout_ms", type="u32", desc="minimum time between patient boluses, ms"},
      {name="patient_max_per_day", type="u8", desc="maximum patient boluses in any 24 h"},
      {name="low_reservoir_threshold_nl", type="u32", desc="low-reservoir alarm threshold, nL"},
    }},
  [0x97] = {name="DRUG_LIBRARY", kind="response", summary="answer to GET_DRUG_LIBRARY",
    fields={
      {name="drugs", type="array", max=16, desc="u8 count then the library entries", item={
          {name="drug_name", type="text", max=24, desc="drug library name, UTF-8 <= 24 bytes"},
          {name="min_concentration_ug_per_ml", type="u32", desc="lowest concentration accepted, ug/mL"},
          {name="max_concentration_ug_per_ml", type="u32", desc="highest concentration accepted, ug/mL"},
          {name="soft_daily_limit_ug", type="u32", desc="soft daily dose limit, ug/day (ACK warns above it)"},
          {name="hard_daily_limit_ug", type="u32", desc="hard daily dose limit, ug/day (refused above it)"},
        }},
    }},
  [0x98] = {name="DEVICE_LIMITS", kind="response", summary="answer to GET_DEVICE_LIMITS",
    fields={
      {name="reservoir_capacity_nl", type="u32", desc="reservoir capacity, nL (largest fill)"},
      {name="min_rate_nl_per_day", type="u32", desc="lowest basal rate of a schedule step, nL/day"},
      {name="max_rate_nl_per_day", type="u32", desc="highest rate of any delivery (basal + bolus), nL/day"},
      {name="max_steps_per_day", type="u8", desc="most schedule steps in one plan"},
      {name="step_resolution_minute", type="u8", desc="step start minutes are multiples of this, min"},
      {name="clinician_bolus_min_duration_ms", type="u32", desc="shortest clinician bolus, ms"},
      {name="clinician_bolus_max_duration_ms", type="u32", desc="longest clinician bolus, ms"},
      {name="priming_duration_ms", type="u32", desc="duration of a priming bolus sent with duration 0, ms"},
      {name="dead_volume_nl", type="u32", desc="catheter + tubing volume (priming default, bridge bolus), nL"},
      {name="patient_min_dose_ug", type="u32", desc="smallest patient bolus dose (besides 0 = off), ug"},
      {name="patient_max_dose_ug", type="u32", desc="largest patient bolus dose, ug"},
      {name="patient_min_duration_ms", type="u32", desc="shortest patient bolus duration, ms"},
      {name="patient_max_duration_ms", type="u32", desc="longest patient bolus duration, ms"},
      {name="patient_min_lockout_ms", type="u32", desc="shortest patient lockout, ms"},
      {name="patient_max_lockout_ms", type="u32", desc="longest patient lockout, ms"},
      {name="patient_max_per_day", type="u8", desc="highest patient_max_per_day accepted"},
      {name="low_threshold_min_nl", type="u32", desc="lowest low-reservoir threshold, nL"},
      {name="low_threshold_max_nl", type="u32", desc="highest low-reservoir threshold, nL"},
      {name="low_threshold_default_nl", type="u32", desc="low-reservoir threshold of a new pump, nL"},
      {name="discrepancy_min_nl", type="u32", desc="refill discrepancy: smallest tolerance, nL"},
      {name="discrepancy_percent", type="u8", desc="refill discrepancy: tolerance in % of the expected volume"},
      {name="max_rate_changes_per_period", type="u16", desc="schedule changes accepted per period (0 = no limit)"},
      {name="rate_changes_period_ms", type="u32", desc="rolling period of that count, ms of pump time"},
      {name="clinician_bolus_starts_lockout", type="u8", desc="1 = a clinician bolus also starts the lockout"},
      {name="patient_duration_step_ms", type="u32", desc="patient bolus durations are multiples of this, ms"},
      {name="patient_lockout_step_ms", type="u32", desc="patient lockouts are multiples of this, ms"},
    }},
  [0xA2] = {name="BOLUS_STARTED", kind="response", summary="answer to CLINICIAN_BOLUS/PRIMING_BOLUS",
    fields={
      {name="bolus_kind", type="u8", enum="BolusKind", desc="BolusKind started"},
      {name="volume_nl", type="u32", desc="bolus volume, nL"},
      {name="start_ms", type="u64", desc="pump time the bolus started, ms"},
      {name="end_ms", type="u64", desc="pump time the bolus ends, ms"},
    }},
  [0xA3] = {name="PATIENT_BOLUS_RESULT", kind="response", summary="answer to PATIENT_BOLUS",
    fields={
      {name="granted", type="u8", desc="1 = granted, 0 = denied"},
      {name="denial_reason", type="u8", enum="DenialReason", desc="DenialReason (NONE=0 when granted)"},
      {name="dose_ug", type="u32", desc="dose granted, ug (0 when denied)"},
      {name="volume_nl", type="u32", desc="volume granted, nL (0 when denied)"},
      {name="end_ms", type="u64", desc="pump time the bolus ends, ms (0 when denied)"},
      {name="next_allowed_ms", type="u64", desc="earliest pump time of the next allowed patient bolus, ms"},
      {name="boluses_today", type="u8", desc="patient boluses granted in the last 24 h"},
    }},
  [0xB2] = {name="REFILL_RESULT", kind="response", summary="answer to REFILL_COMPLETE",
    fields={
      {name="reservoir_nl", type="u32", desc="reservoir volume after the refill, nL"},
      {name="expected_withdrawn_nl", type="u32", desc="volume the pump expected to be withdrawn, nL"},
      {name="discrepancy", type="u8", desc="1 if the REFILL_DISCREPANCY alarm was raised, else 0"},
      {name="refill_due_ms", type="u64", desc="next refill-due pump time, ms (0 = not computable)"},
    }},
  [0xC0] = {name="ALARM_LIST", kind="response", summary="answer to GET_ALARMS",
    fields={
      {name="alarms", type="array", max=16, desc="u8 count then the active alarms", item={
          {name="alarm", type="u8", enum="Alarm", desc="Alarm id (bit index of active_alarms)"},
          {name="priority", type="u8", enum="AlarmPriority", desc="AlarmPriority: LOW=1, MEDIUM=2, HIGH=3"},
          {name="raised_ms", type="u64", desc="pump time the alarm was raised, ms"},
          {name="acknowledged", type="u8", desc="1 if acknowledged, else 0"},
          {name="tone", type="u8", desc="Tone the alarm sounds (until acknowledged)"},
          {name="repeat_ms", type="u32", desc="interval the tone repeats at, ms"},
        }},
    }},
  [0xC2] = {name="LOG_PAGE", kind="response", summary="answer to READ_LOG",
    fields={
      {name="total_count", type="u32", desc="number of entries in the whole log"},
      {name="entries", type="array", max=16, desc="u8 count then up to 16 typed entries", item={
          {name="index", type="u32", desc="entry index in the event log, 0-based, increasing"},
          {name="time_ms", type="u64", desc="pump run-clock time of the event, ms"},
          {name="kind", type="u16", enum="EventKind", desc="EventKind of the entry (OTHER=0xFFFF for kinds without a code)"},
          {name="subject", type="u16", desc="what the entry is about; meaning per kind (section 10)"},
          {name="value_a", type="u64", desc="first value; meaning and unit per kind (section 10)"},
          {name="value_b", type="u64", desc="second value; meaning and unit per kind (section 10)"},
          {name="value_c", type="u64", desc="third value; meaning and unit per kind (section 10)"},
        }},
    }},
  [0xD0] = {name="CLOCK", kind="response", summary="answer to GET_CLOCK",
    fields={
      {name="time_ms", type="u64", desc="pump run clock, ms (monotonic; never set)"},
      {name="wall_ms", type="u64", desc="pump wall (time-of-day) clock, ms since 1970-01-01 pump local time"},
    }},
  [0xE0] = {name="ALARM_EVENT", kind="event", summary="unsolicited: alarm raised or cleared",
    fields={
      {name="alarm", type="u8", enum="Alarm", desc="Alarm id"},
      {name="raised", type="u8", desc="1 = raised, 0 = cleared"},
      {name="priority", type="u8", enum="AlarmPriority", desc="AlarmPriority"},
      {name="time_ms", type="u64", desc="pump time of the change, ms"},
      {name="active_alarms", type="u16", bitmask="Alarm", desc="bitmask of active alarms after the change"},
    }},
  [0xE1] = {name="STATUS_PUSH", kind="event", summary="unsolicited: periodic status telemetry",
    fields={
      {name="state", type="u8", enum="TherapyState", desc="TherapyState"},
      {name="time_ms", type="u64", desc="pump run clock, ms (monotonic; every other *_ms time is on it)"},
      {name="wall_ms", type="u64", desc="pump wall (time-of-day) clock, ms since 1970-01-01 pump local time"},
      {name="reservoir_nl", type="u32", desc="drug volume in the reservoir, nL"},
      {name="reservoir_capacity_nl", type="u32", desc="reservoir capacity, nL"},
      {name="step_index", type="u8", desc="index of the current schedule step, 0xFF = none"},
      {name="step_start_minute", type="u16", desc="start minute of the current step, 0..1439"},
      {name="rate_nl_per_day", type="u32", desc="basal rate being delivered now, nL/day (0 when not infusing)"},
      {name="bolus_kind", type="u8", enum="BolusKind", desc="BolusKind of the active bolus (NONE=0)"},
      {name="bolus_remaining_nl", type="u32", desc="volume still to deliver in the active bolus, nL"},
      {name="bolus_end_ms", type="u64", desc="pump time the active bolus ends, ms (0 = no bolus)"},
      {name="active_alarms", type="u16", bitmask="Alarm", desc="bitmask of active alarms, bit i = Alarm i"},
      {name="battery_percent", type="u8", desc="remaining battery, 0..100 %"},
      {name="refill_due_ms", type="u64", desc="pump time the refill is due, ms (0 = not computable)"},
      {name="delivered_nl", type="u64", desc="volume delivered since manufacture, whole nL"},
      {name="delivered_since_refill_nl", type="u64", desc="volume delivered since the last REFILL_COMPLETE, nL"},
      {name="delivered_today_nl", type="u64", desc="volume delivered since the last wall-clock midnight, nL"},
      {name="basal_carry", type="u32", desc="basal integration carry, nL x ms / day units, < 86,400,000"},
      {name="clock_drift_ppm", type="i32", desc="run clock's drift against real time, ppm (signed, + = fast)"},
      {name="clock_drift_ms", type="i64", desc="drift the run clock has accumulated since it started, ms (signed)"},
    }},
  [0xF0] = {name="ACK", kind="response", summary="generic success answer",
    fields={
      {name="request_type", type="u8", enum="MessageType", desc="MessageType of the request acknowledged"},
      {name="warnings", type="u8", desc="AckWarning bits: 1 = SOFT_LIMIT (the program exceeds a soft limit)"},
    }},
  [0xF1] = {name="NAK", kind="response", summary="refusal with NakCode and detail",
    fields={
      {name="code", type="u8", enum="NakCode", desc="NakCode"},
      {name="request_type", type="u8", enum="MessageType", desc="MessageType of the request refused"},
      {name="retry_after_ms", type="u32", desc="back-off before retrying, ms (RATE_LIMITED/BUSY/MAX_CHANGES_REACHED; else 0)"},
      {name="detail", type="text", max=48, desc="offending field name or reason, UTF-8 <= 48 bytes"},
    }},
}

local HEADER_BYTES, TAG_BYTES, CRC_BYTES = 15, 16, 2

-- Bit operations for Lua 5.1 (bit), 5.2 (bit32) and 5.3+ (operators, loaded as text so that
-- older interpreters never parse them).
local bxor, band, lshift
if bit32 then
  bxor, band, lshift = bit32.bxor, bit32.band, bit32.lshift
elseif bit then
  bxor, band, lshift = bit.bxor, bit.band, bit.lshift
else
  bxor = load("return function(a, b) return a ~ b end")()
  band = load("return function(a, b) return a & b end")()
  lshift = load("return function(a, n) return a << n end")()
end

-- CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final XOR).
local function crc16(bytes, count)
  local crc = 0xFFFF
  for i = 0, count - 1 do
    crc = bxor(crc, lshift(bytes:get_index(i), 8))
    for _ = 1, 8 do
      if band(crc, 0x8000) ~= 0 then
        crc = band(bxor(lshift(crc, 1), 0x1021), 0xFFFF)
      else
        crc = band(lshift(crc, 1), 0xFFFF)
      end
    end
  end
  return crc
end

local proto = Proto("intrapump", "intrapump pump programming protocol")

local KINDS = {[0] = "REQUEST", [1] = "RESPONSE", [2] = "EVENT", [3] = "invalid"}
local hf = {
  sync = ProtoField.uint16("intrapump.sync", "Sync", base.HEX),
  version = ProtoField.uint8("intrapump.version", "Version", base.DEC),
  flags = ProtoField.uint8("intrapump.flags", "Flags", base.HEX),
  kind = ProtoField.uint8("intrapump.kind", "Kind", base.DEC, KINDS, 0x03),
  tag_flag = ProtoField.bool("intrapump.flags.tag", "TAG (a tag follows the payload)", 8, nil, 0x04),
  reserved = ProtoField.uint8("intrapump.flags.reserved", "Reserved bits", base.HEX, nil, 0xF8),
  session_id = ProtoField.uint32("intrapump.session_id", "Session id", base.HEX),
  seq = ProtoField.uint32("intrapump.seq", "Sequence number", base.DEC),
  msg_type = ProtoField.uint8("intrapump.msg_type", "Message type", base.HEX, ENUMS.MessageType),
  length = ProtoField.uint16("intrapump.payload_length", "Payload length", base.DEC),
  message = ProtoField.string("intrapump.message", "Message"),
  payload = ProtoField.bytes("intrapump.payload", "Payload"),
  tag = ProtoField.bytes("intrapump.tag", "Tag (HMAC-SHA256, first 16 bytes)"),
  tag_status = ProtoField.string("intrapump.tag.status", "Tag status"),
  crc = ProtoField.uint16("intrapump.crc", "CRC", base.HEX),
  crc_computed = ProtoField.uint16("intrapump.crc.computed", "CRC computed", base.HEX),
  crc_good = ProtoField.bool("intrapump.crc.good", "CRC good"),
  direction = ProtoField.string("intrapump.direction", "Direction"),
  noise = ProtoField.bytes("intrapump.not_a_frame", "Bytes that are not a frame"),
  extra = ProtoField.bytes("intrapump.extra", "Bytes after the frame"),
}

local ef = {
  not_a_frame = ProtoExpert.new("intrapump.expert.not_a_frame", "Bytes that are not a frame",
                                expert.group.MALFORMED, expert.severity.WARN),
  bad_crc = ProtoExpert.new("intrapump.expert.bad_crc", "Bad CRC",
                            expert.group.CHECKSUM, expert.severity.ERROR),
  bad_header = ProtoExpert.new("intrapump.expert.bad_header", "Invalid frame header",
                               expert.group.MALFORMED, expert.severity.ERROR),
  truncated = ProtoExpert.new("intrapump.expert.truncated", "Frame cut off",
                              expert.group.MALFORMED, expert.severity.ERROR),
  malformed = ProtoExpert.new("intrapump.expert.malformed_payload", "Payload does not parse",
                              expert.group.MALFORMED, expert.severity.ERROR),
  unknown_type = ProtoExpert.new("intrapump.expert.unknown_type", "Unknown message type",
                                 expert.group.UNDECODED, expert.severity.WARN),
  tag_problem = ProtoExpert.new("intrapump.expert.tag", "Tag inconsistent with the session",
                                expert.group.SECURITY, expert.severity.WARN),
  nak = ProtoExpert.new("intrapump.expert.nak", "The pump refused a request (NAK)",
                        expert.group.RESPONSE_CODE, expert.severity.NOTE),
  extra = ProtoExpert.new("intrapump.expert.extra", "Bytes after the frame in the same packet",
                          expert.group.MALFORMED, expert.severity.WARN),
}

-- One ProtoField per payload field name (and type): intrapump.f.<name>.
local FIXED = {u8 = 1, u16 = 2, u32 = 4, u64 = 8, i8 = 1, i16 = 2, i32 = 4, i64 = 8}
local SIGNED = {i8 = true, i16 = true, i32 = true, i64 = true}  -- two's complement (clock drift)
local MAKERS = {u8 = ProtoField.uint8, u16 = ProtoField.uint16, u32 = ProtoField.uint32,
                u64 = ProtoField.uint64, i8 = ProtoField.int8, i16 = ProtoField.int16,
                i32 = ProtoField.int32, i64 = ProtoField.int64}
local pf_by_key, pf_type_of = {}, {}

local function field_pf(f)
  local abbr = "intrapump.f." .. f.name
  if pf_type_of[abbr] ~= nil and pf_type_of[abbr] ~= f.type then
    abbr = abbr .. "_" .. f.type
  end
  if pf_by_key[abbr] then return pf_by_key[abbr] end
  local pf
  if MAKERS[f.type] then
    local names = f.enum and ENUMS[f.enum] or nil
    pf = MAKERS[f.type](abbr, f.name, base.DEC, names, nil, f.desc)
  elseif f.type == "text" then
    pf = ProtoField.string(abbr, f.name, base.UNICODE, f.desc)
  elseif f.type == "array" then
    pf = ProtoField.uint8(abbr, f.name .. " (count)", base.DEC, nil, nil, f.desc)
  elseif f.type == "struct" then
    pf = ProtoField.none(abbr, f.name, f.desc)
  else
    pf = ProtoField.bytes(abbr, f.name, base.SPACE, f.desc)
  end
  pf_by_key[abbr], pf_type_of[abbr] = pf, f.type
  f.pf = pf
  return pf
end

local function register_fields(fields)
  for _, f in ipairs(fields) do
    f.pf = field_pf(f)
    if f.item then
      f.item_pf = f.item_pf or field_pf({name = f.name .. ".item", type = "struct",
                                          desc = "one entry of " .. f.name})
      register_fields(f.item)
    end
  end
end
for _, m in pairs(MESSAGES) do register_fields(m.fields) end

local all_fields = {}
for _, pf in pairs(hf) do all_fields[#all_fields + 1] = pf end
for _, pf in pairs(pf_by_key) do all_fields[#all_fields + 1] = pf end
proto.fields = all_fields
local all_experts = {}
for _, e in pairs(ef) do all_experts[#all_experts + 1] = e end
proto.experts = all_experts

local function bit_names(value, names)
  local out = {}
  for bitno = 0, 15 do
    if band(value, lshift(1, bitno)) ~= 0 then out[#out + 1] = names[bitno] or tostring(bitno) end
  end
  if #out == 0 then return "none" end
  return table.concat(out, "|")
end

local function show(f, value)
  if f.enum and ENUMS[f.enum] and ENUMS[f.enum][value] then return ENUMS[f.enum][value] end
  return tostring(value)
end

-- Decode `fields` from tvb[off, stop); returns the new offset, or nil and the reason.
local function dissect_fields(fields, tvb, off, stop, tree, notes)
  for _, f in ipairs(fields) do
    local size = FIXED[f.type]
    if size then
      if off + size > stop then return nil, f.name .. ": payload too short" end
      local range = tvb(off, size)
      local item = tree:add(f.pf, range)
      if size <= 4 then
        local value = SIGNED[f.type] and range:int() or range:uint()
        if f.bitmask then item:append_text(" (" .. bit_names(value, ENUMS[f.bitmask]) .. ")") end
        if notes then notes[#notes + 1] = f.name .. "=" .. show(f, value) end
      elseif notes then
        notes[#notes + 1] = f.name .. "=" .. tostring(SIGNED[f.type] and range:int64() or range:uint64())
      end
      off = off + size
    elseif f.type == "bytes" then
      if off + f.len > stop then return nil, f.name .. ": payload too short" end
      tree:add(f.pf, tvb(off, f.len))
      off = off + f.len
    elseif f.type == "text" then
      if off + 1 > stop then return nil, f.name .. ": payload too short" end
      local n = tvb(off, 1):uint()
      if n > f.max then return nil, f.name .. ": " .. n .. " bytes > " .. f.max end
      if off + 1 + n > stop then return nil, f.name .. ": text runs past the payload" end
      local text = n > 0 and tvb(off + 1, n):string(ENC_UTF_8) or ""
      tree:add(f.pf, tvb(off, 1 + n), text)
      if notes then notes[#notes + 1] = f.name .. "=\"" .. text .. "\"" end
      off = off + 1 + n
    elseif f.type == "array" then
      if off + 1 > stop then return nil, f.name .. ": payload too short" end
      local count = tvb(off, 1):uint()
      local sub = tree:add(f.pf, tvb(off, 1))
      if count > f.max then return nil, f.name .. ": " .. count .. " entries > " .. f.max end
      if notes then notes[#notes + 1] = f.name .. "=" .. count end
      off = off + 1
      for i = 1, count do
        local start = off
        local entry = sub:add(f.item_pf, tvb(off, math.max(0, math.min(1, stop - off))))
        entry:set_text(f.name .. "[" .. (i - 1) .. "]")
        local reason
        off, reason = dissect_fields(f.item, tvb, off, stop, entry, nil)
        if not off then return nil, reason end
        entry:set_len(off - start)
      end
    elseif f.type == "struct" then
      local sub = tree:add(f.pf, tvb(off, math.max(0, math.min(1, stop - off))))
      local start, reason = off, nil
      off, reason = dissect_fields(f.item, tvb, off, stop, sub, nil)
      if not off then return nil, reason end
      sub:set_len(off - start)
    else -- "rest": a field the generator could not describe
      if stop > off then tree:add(f.pf, tvb(off, stop - off)) end
      off = stop
    end
  end
  return off
end

local function direction_text(kind, pinfo)
  if kind == 0 then return "host > pump" end
  if kind == 1 or kind == 2 then return "pump > host" end
  if pinfo.p2p_dir == 0 then return "sent by the recording end" end
  if pinfo.p2p_dir == 1 then return "received by the recording end" end
  return "unknown"
end

local function dissect_noise(tvb, pinfo, tree)
  pinfo.cols.info = string.format("not a frame (%d bytes)", tvb:len())
  local sub = tree:add(proto, tvb(), "intrapump: bytes that are not a frame")
  sub:add(hf.direction, direction_text(-1, pinfo))
  local item = sub:add(hf.noise, tvb())
  item:add_proto_expert_info(ef.not_a_frame, string.format("%d bytes that are not a frame", tvb:len()))
  return tvb:len()
end

-- The header (offsets 0..14): adds its fields; returns the decoded values.
local function dissect_header(tvb, pinfo, root)
  local h = {version = tvb(2, 1):uint(), flags = tvb(3, 1):uint(), session_id = tvb(4, 4):uint(),
             seq = tvb(8, 4):uint(), msg_type = tvb(12, 1):uint(), plen = tvb(13, 2):uint()}
  h.kind, h.tagged = band(h.flags, 0x03), band(h.flags, 0x04) ~= 0
  h.message = MESSAGES[h.msg_type]
  h.name = h.message and h.message.name or string.format("0x%02X", h.msg_type)
  root:add(hf.direction, direction_text(h.kind, pinfo))
  local vitem = root:add(hf.version, tvb(2, 1))
  if h.version ~= PROTOCOL_VERSION then
    vitem:add_proto_expert_info(ef.bad_header, "unsupported protocol version " .. h.version)
  end
  local fitem = root:add(hf.flags, tvb(3, 1))
  fitem:add(hf.kind, tvb(3, 1))
  fitem:add(hf.tag_flag, tvb(3, 1))
  local ritem = fitem:add(hf.reserved, tvb(3, 1))
  if band(h.flags, 0xF8) ~= 0 then ritem:add_proto_expert_info(ef.bad_header, "reserved flag bits set") end
  if h.kind == 3 then fitem:add_proto_expert_info(ef.bad_header, "frame kind 3 is invalid") end
  root:add(hf.session_id, tvb(4, 4))
  root:add(hf.seq, tvb(8, 4))
  h.type_item = root:add(hf.msg_type, tvb(12, 1))
  h.length_item = root:add(hf.length, tvb(13, 2))
  pinfo.cols.info = string.format("%s %s seq=%d", h.name, KINDS[h.kind] or "?", h.seq)
  root:set_text(string.format("intrapump %s %s, session 0x%08X, seq %d", KINDS[h.kind] or "?",
                              h.name, h.session_id, h.seq))
  return h
end

-- The payload: the message's fields, or why they do not parse.
local function dissect_payload(tvb, pinfo, root, h)
  local body = HEADER_BYTES + h.plen
  local m = h.message
  if m == nil then
    h.type_item:add_proto_expert_info(ef.unknown_type,
      string.format("message type 0x%02X is not in the protocol", h.msg_type))
    if h.plen > 0 then root:add(hf.payload, tvb(HEADER_BYTES, h.plen)) end
    return
  end
  local mtree = root:add(hf.message, tvb(12, 1), m.name)
  mtree:append_text(" (" .. m.kind .. ": " .. m.summary .. ")")
  local ptree = h.plen > 0 and mtree:add(hf.payload, tvb(HEADER_BYTES, h.plen)) or mtree
  local notes = {}
  local stop, reason = dissect_fields(m.fields, tvb, HEADER_BYTES, body, ptree, notes)
  if not stop then
    mtree:add_proto_expert_info(ef.malformed, reason)
    pinfo.cols.info = tostring(pinfo.cols.info) .. " [malformed: " .. reason .. "]"
  elseif stop ~= body then
    mtree:add_proto_expert_info(ef.malformed, string.format("%d trailing bytes", body - stop))
    pinfo.cols.info = tostring(pinfo.cols.info) .. " [malformed: trailing bytes]"
  elseif #notes > 0 then
    local shown = {}
    for i = 1, math.min(#notes, 4) do shown[i] = notes[i] end
    pinfo.cols.info = tostring(pinfo.cols.info) .. " " .. table.concat(shown, " ")
  end
  if m.name == "NAK" then mtree:add_proto_expert_info(ef.nak, table.concat(notes, " ")) end
end

-- The tag: present or not, and whether that fits the session id (it is not verified).
local function dissect_tag(tvb, root, h, at)
  local status
  if h.tagged then
    root:add(hf.tag, tvb(at, TAG_BYTES))
    if h.session_id == 0 then
      status = "present, but the frame has no session (invalid)"
    else
      status = "present (not verified: needs the session key)"
    end
  elseif h.session_id ~= 0 then
    status = "missing in a session frame (invalid)"
  else
    status = "absent (no session)"
  end
  local sitem = root:add(hf.tag_status, status)
  if h.tagged == (h.session_id == 0) then sitem:add_proto_expert_info(ef.tag_problem, status) end
end

-- The CRC at `at`, checked over everything before it.
local function dissect_crc(tvb, pinfo, root, at)
  local computed = crc16(tvb(0, at):bytes(), at)
  local sent = tvb(at, CRC_BYTES):uint()
  local citem = root:add(hf.crc, tvb(at, CRC_BYTES))
  citem:add(hf.crc_computed, computed):set_generated()
  citem:add(hf.crc_good, computed == sent):set_generated()
  if computed ~= sent then
    citem:append_text(string.format(" [bad: computed 0x%04X]", computed))
    citem:add_proto_expert_info(ef.bad_crc, string.format("CRC 0x%04X, computed 0x%04X", sent, computed))
    pinfo.cols.info = tostring(pinfo.cols.info) .. " [BAD CRC]"
  else
    citem:append_text(" [good]")
  end
end

function proto.dissector(tvb, pinfo, tree)
  local len = tvb:len()
  if len == 0 then return 0 end
  pinfo.cols.protocol = "intrapump"
  if len < 2 or tvb(0, 2):uint() ~= 0xA55A then return dissect_noise(tvb, pinfo, tree) end
  local root = tree:add(proto, tvb(), "intrapump frame")
  root:add(hf.sync, tvb(0, 2))
  if len < HEADER_BYTES then
    root:add_proto_expert_info(ef.truncated, string.format("%d bytes, a header needs %d", len, HEADER_BYTES))
    pinfo.cols.info = "frame cut off in the header"
    return len
  end
  local h = dissect_header(tvb, pinfo, root)
  if h.plen > MAX_PAYLOAD then
    h.length_item:add_proto_expert_info(ef.bad_header, string.format("payload length %d > %d", h.plen, MAX_PAYLOAD))
    return len
  end
  local tag_len = h.tagged and TAG_BYTES or 0
  local total = HEADER_BYTES + h.plen + tag_len + CRC_BYTES
  if len < total then
    root:add_proto_expert_info(ef.truncated, string.format("%d bytes of a %d-byte frame", len, total))
    pinfo.cols.info = tostring(pinfo.cols.info) .. " [cut off]"
    return len
  end
  dissect_payload(tvb, pinfo, root, h)
  dissect_tag(tvb, root, h, HEADER_BYTES + h.plen)
  dissect_crc(tvb, pinfo, root, HEADER_BYTES + h.plen + tag_len)
  if len > total then
    local xitem = root:add(hf.extra, tvb(total, len - total))
    xitem:add_proto_expert_info(ef.extra, string.format("%d bytes after the frame", len - total))
  end
  return len
end

local user0 = (wtap_encaps and wtap_encaps.USER0) or (wtap and wtap.USER0) or 45
DissectorTable.get("wtap_encap"):add(user0, proto)
