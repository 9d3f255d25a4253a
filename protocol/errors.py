"""Protocol error codes (NAK codes) and the protocol's exception types.

NakCode values are the wire values of NAK.code. Every name of the model's `Rejected.code` is a
NakCode name (values 0x20 and up; three are aliases: INVALID_ARGUMENT = INVALID_FIELD,
ALARM_NOT_ACTIVE = NO_SUCH_ALARM, TIME_OUT_OF_RANGE = CLOCK_OUT_OF_RANGE), so a pump turns a
rejection into a NAK with ``NakCode[rejected.code.value]``.
"""
from __future__ import annotations

import enum


class NakCode(enum.IntEnum):
    """Why a request was refused (NAK.code, u8). 0x01-0x1F: link/session; 0x20-0x3F: model."""

    FRAMING = 0x01  # bad sync/length/CRC (counted by the decoder; never executed)
    UNSUPPORTED_VERSION = 0x02  # header version is not PROTOCOL_VERSION
    UNKNOWN_MESSAGE_TYPE = 0x03  # type byte not a known request
    MALFORMED_PAYLOAD = 0x04  # payload does not parse exactly (short, long, bad string)
    NO_SESSION = 0x05  # command needs an established session (or unknown session id)
    BAD_TAG = 0x06  # tag missing or HMAC verification failed
    STALE_SEQUENCE = 0x07  # sequence <= last executed one (replay), or reused with other content
    FORBIDDEN_FOR_ROLE = 0x08  # session role may not send this command
    AUTH_FAILED = 0x09  # session proof wrong (or unknown role / no key)
    RATE_LIMITED = 0x0A  # too many failed authentications: back off `retry_after_ms`
    BUSY = 0x0B  # pump cannot serve now (e.g. storage busy); retry later
    RATE_OUT_OF_RANGE = 0x20
    STEP_ORDER = 0x21
    TOO_MANY_STEPS = 0x22
    CONCENTRATION_OUT_OF_RANGE = 0x23
    HARD_DAILY_LIMIT = 0x24
    UNKNOWN_DRUG = 0x25
    INVALID_STATE = 0x26
    BOLUS_ACTIVE = 0x27
    RESERVOIR_OVERFLOW = 0x28
    THRESHOLD_OUT_OF_RANGE = 0x29
    DURATION_OUT_OF_RANGE = 0x2A
    LOCKOUT_OUT_OF_RANGE = 0x2B
    DOSE_OUT_OF_RANGE = 0x2C
    VOLUME_OUT_OF_RANGE = 0x2D
    INVALID_FIELD = 0x2E
    WEEKDAY_NOT_SUPPORTED = 0x2F
    NO_SUCH_ALARM = 0x30
    CLOCK_OUT_OF_RANGE = 0x31
    STORAGE_ERROR = 0x32
    NO_STEPS = 0x33
    MINUTE_OUT_OF_RANGE = 0x34
    NO_DEFAULT_PLAN = 0x35
    NO_PROGRAM = 0x36
    NO_BOLUS = 0x37
    RESERVOIR_EMPTY = 0x38
    INSUFFICIENT_RESERVOIR = 0x39
    MAX_PER_DAY_OUT_OF_RANGE = 0x3A
    WITHDRAW_REQUIRED = 0x3B
    ALREADY_WITHDRAWN = 0x3C
    MAX_CHANGES_REACHED = 0x3D  # the profile's schedule changes per period are spent
    INTERNAL_ERROR = 0x3F
    UNKNOWN_FAULT = 0x48
    FAULT_PARAM_OUT_OF_RANGE = 0x49
    FAULT_NOT_ACTIVE = 0x4A
    # Aliases (same wire value) so that every model rejection name is a NakCode name.
    INVALID_ARGUMENT = 0x2E
    ALARM_NOT_ACTIVE = 0x30
    TIME_OUT_OF_RANGE = 0x31


NAK_DESCRIPTIONS: dict[NakCode, str] = {
    NakCode.FRAMING: ("bad sync, length or CRC; the frame was discarded (local report only: "
                      "such frames are never answered)"),
    NakCode.UNSUPPORTED_VERSION: ("protocol version not supported (reserved: a version-1 receiver "
                                  "drops frames of other versions unanswered)"),
    NakCode.UNKNOWN_MESSAGE_TYPE: "message type is not a known request",
    NakCode.MALFORMED_PAYLOAD: "payload does not parse exactly for its message type",
    NakCode.NO_SESSION: "command requires an established session (or the session id is unknown)",
    NakCode.BAD_TAG: "authentication tag missing or wrong",
    NakCode.STALE_SEQUENCE: "sequence number already used (replay/stale) or reused with other content",
    NakCode.FORBIDDEN_FOR_ROLE: "the session's role may not send this command",
    NakCode.AUTH_FAILED: "session proof did not verify, or the role has no key",
    NakCode.RATE_LIMITED: "too many failed authentications; retry after retry_after_ms",
    NakCode.BUSY: "pump busy; retry later",
    NakCode.RATE_OUT_OF_RANGE: "a rate is outside the pump's hardware range",
    NakCode.STEP_ORDER: "schedule steps are not strictly increasing by start minute (first must be 0)",
    NakCode.TOO_MANY_STEPS: "more schedule steps than the pump allows (48)",
    NakCode.CONCENTRATION_OUT_OF_RANGE: "concentration outside the drug's allowed range",
    NakCode.HARD_DAILY_LIMIT: "program would exceed the drug's hard daily dose limit",
    NakCode.UNKNOWN_DRUG: "drug name is not in the drug library",
    NakCode.INVALID_STATE: "command not allowed in the pump's current state",
    NakCode.BOLUS_ACTIVE: "a bolus is already running",
    NakCode.RESERVOIR_OVERFLOW: "volume exceeds the reservoir capacity",
    NakCode.THRESHOLD_OUT_OF_RANGE: "low-reservoir threshold out of range",
    NakCode.DURATION_OUT_OF_RANGE: "duration out of range",
    NakCode.LOCKOUT_OUT_OF_RANGE: "lockout out of range",
    NakCode.DOSE_OUT_OF_RANGE: "dose out of range",
    NakCode.VOLUME_OUT_OF_RANGE: "volume out of range",
    NakCode.INVALID_FIELD: "a field value is invalid (see detail)",
    NakCode.WEEKDAY_NOT_SUPPORTED: "this model has no per-weekday plans",
    NakCode.NO_SUCH_ALARM: "alarm is not active",
    NakCode.CLOCK_OUT_OF_RANGE: "clock value out of range",
    NakCode.STORAGE_ERROR: "non-volatile storage failed; nothing changed",
    NakCode.NO_STEPS: "a schedule plan has no steps",
    NakCode.MINUTE_OUT_OF_RANGE: "a step's start minute is outside 0..1439",
    NakCode.NO_DEFAULT_PLAN: "per-weekday plans need an every-day plan first",
    NakCode.NO_PROGRAM: "no drug or schedule programmed yet",
    NakCode.NO_BOLUS: "no bolus is running",
    NakCode.RESERVOIR_EMPTY: "the reservoir is empty",
    NakCode.INSUFFICIENT_RESERVOIR: "the reservoir holds less than the requested volume",
    NakCode.MAX_PER_DAY_OUT_OF_RANGE: "patient boluses per day out of range",
    NakCode.WITHDRAW_REQUIRED: "report the withdrawn volume (REFILL_WITHDRAWN) first",
    NakCode.ALREADY_WITHDRAWN: "the withdrawn volume was already reported",
    NakCode.MAX_CHANGES_REACHED: ("max changes for period reached: the schedule changes the "
                                  "period allows are spent; retry after retry_after_ms"),
    NakCode.INTERNAL_ERROR: "internal error; nothing changed",
    NakCode.UNKNOWN_FAULT: "INJECT_FAULT: the emulated model has no such fault",
    NakCode.FAULT_PARAM_OUT_OF_RANGE: "INJECT_FAULT: the fault's parameter is outside its range",
    NakCode.FAULT_NOT_ACTIVE: "INJECT_FAULT: the fault to clear is not active",
}


class ProtocolError(Exception):
    """A protocol-level refusal: carries the NakCode and a short field/reason text.

    Raised by payload decoding/encoding and by session checks; the pump turns it into a NAK
    with the same code and detail.
    """

    def __init__(self, code: NakCode, detail: str = "", retry_after_ms: int = 0) -> None:
        self.code = NakCode(code)
        self.detail = detail
        self.retry_after_ms = retry_after_ms
        super().__init__(f"{self.code.name}: {detail}" if detail else self.code.name)


class DecoderError(Exception):
    """Raised by StreamDecoder.feed only when given something that is not bytes-like."""
