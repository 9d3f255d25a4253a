"""Typed event-log records (protocol 1.1): what ``subject`` and ``value_a..c`` mean per kind.

A LogEntry carries its kind and four numbers; this table says, for each EventKind, which of
them are used, their name, unit and enumeration. It is the single source for the pump (which
fills them from its log details), for hosts (which read them back by name) and for the
documentation (PROTOCOL.md section 10, "Event-log records", checked against it by a test).
Unused slots are 0. No entry carries free text.
"""
from __future__ import annotations

import dataclasses
import enum
from typing import Any, Callable, Mapping

from vocabulary import (Alarm, AlarmPriority, BolusKind, DenialReason, EventKind, Role,
                        TherapyState)

from .enums import MessageType
from .errors import NakCode

U64 = (1 << 64) - 1
U16 = 0xFFFF
NO_DRUG = U16  # PROGRAM.subject when the drug is not in the library the pump reports


class BolusOutcome(enum.IntEnum):
    """How a bolus ended (BOLUS_END.value_b)."""

    COMPLETE = 1
    CANCELLED = 2


@dataclasses.dataclass(frozen=True)
class Slot:
    """One used number of a record: the pump's detail key, its unit ("-" if none), an
    enumeration for coded values, and what it means."""

    key: str
    unit: str
    meaning: str
    enum: type[enum.IntEnum] | None = None


@dataclasses.dataclass(frozen=True)
class RecordLayout:
    """Meaning of subject and value_a, value_b, value_c for one EventKind (None = unused)."""

    subject: Slot | None = None
    value_a: Slot | None = None
    value_b: Slot | None = None
    value_c: Slot | None = None

    def slots(self) -> list[tuple[str, Slot]]:
        """(wire field, slot) of the used numbers, in wire order."""
        return [(f, s) for f in SLOT_FIELDS if (s := getattr(self, f)) is not None]


SLOT_FIELDS = ("subject", "value_a", "value_b", "value_c")

_ALARM = Slot("alarm", "-", "the alarm", Alarm)
_KIND = Slot("bolus_kind", "-", "the bolus kind", BolusKind)
LAYOUTS: dict[EventKind, RecordLayout] = {
    EventKind.STATE: RecordLayout(Slot("new", "-", "new therapy state", TherapyState),
                                  Slot("old", "-", "previous therapy state", TherapyState)),
    EventKind.ALARM_RAISED: RecordLayout(_ALARM, Slot("priority", "-", "its priority",
                                                      AlarmPriority)),
    EventKind.ALARM_CLEARED: RecordLayout(_ALARM),
    EventKind.ALARM_ACK: RecordLayout(_ALARM),
    EventKind.BOLUS_START: RecordLayout(
        _KIND, Slot("volume_nl", "nL", "bolus volume"),
        Slot("end_ms", "ms", "run-clock time it is due to end (0 for BRIDGE: STATUS tells)"),
        Slot("duration_ms", "ms", "programmed duration (0 for BRIDGE)")),
    EventKind.BOLUS_END: RecordLayout(
        _KIND, Slot("delivered_nl", "nL", "volume the bolus delivered"),
        Slot("outcome", "-", "how it ended", BolusOutcome)),
    EventKind.PATIENT_BOLUS_GRANTED: RecordLayout(
        None, Slot("dose_ug", "ug", "dose granted"), Slot("volume_nl", "nL", "volume granted")),
    EventKind.PATIENT_BOLUS_DENIED: RecordLayout(Slot("reason", "-", "why", DenialReason)),
    EventKind.PATIENT_BOLUS_CONFIG: RecordLayout(
        Slot("max_per_24h", "-", "boluses allowed per 24 h (0 = patient bolus off)"),
        Slot("dose_ug", "ug", "dose of one bolus"),
        Slot("duration_ms", "ms", "duration of one bolus"),
        Slot("lockout_ms", "ms", "lockout after a bolus starts")),
    EventKind.PROGRAM: RecordLayout(
        Slot("drug", "-", "drug: index in DRUG_LIBRARY.drugs (0xFFFF = not in the library)"),
        Slot("concentration_ug_per_ml", "ug/mL", "concentration"),
        Slot("daily_volume_nl", "nL", "mean daily volume of the schedule")),
    EventKind.SOFT_LIMIT_WARNING: RecordLayout(
        None, Slot("dose_ug", "ug", "highest daily dose the program allows"),
        Slot("soft_daily_limit_ug", "ug", "the drug's soft daily limit")),
    EventKind.THRESHOLD: RecordLayout(None, Slot("low_threshold_nl", "nL",
                                                 "new low-reservoir threshold")),
    EventKind.REFILL_BEGIN: RecordLayout(None, Slot("reservoir_nl", "nL",
                                                    "volume the pump counts in the reservoir")),
    EventKind.REFILL_WITHDRAWN: RecordLayout(
        None, Slot("withdrawn_nl", "nL", "volume reported withdrawn"),
        Slot("expected_nl", "nL", "volume the pump expected"),
        Slot("tolerance_nl", "nL", "allowed difference before REFILL_DISCREPANCY")),
    EventKind.REFILL_COMPLETE: RecordLayout(
        None, Slot("filled_nl", "nL", "volume filled"),
        Slot("concentration_ug_per_ml", "ug/mL", "new concentration"),
        Slot("old_concentration_ug_per_ml", "ug/mL", "previous concentration")),
    EventKind.REFILL_DUE_DATE: RecordLayout(None, Slot("refill_due_ms", "ms",
                                                       "run-clock time the refill is due")),
    EventKind.CLOCK_SET: RecordLayout(None, Slot("old_wall_ms", "ms", "wall clock before"),
                                      Slot("new_wall_ms", "ms", "wall clock after")),
    EventKind.REFUSED: RecordLayout(
        Slot("code", "-", "the NakCode answered", NakCode),
        Slot("request_type", "-", "MessageType of the refused request", MessageType),
        Slot("role", "-", "role of the session (0 = no authenticated session)", Role),
        Slot("count", "-", "refusals this entry stands for (unauthenticated ones are "
                           "summarised, section 7)")),
    EventKind.BATTERY_FORECAST: RecordLayout(
        None, Slot("daily_volume_nl", "nL", "daily volume of the therapy now in force"),
        Slot("eri_reserve_uah", "uAh", "charge ERI is raised before end of service"),
        Slot("eri_days", "d", "days from ERI to end of service at that volume")),
    EventKind.SAFE_MODE: RecordLayout(
        Slot("reason", "-", "the alarm that caused it", Alarm),
        Slot("rate_nl_per_day", "nL/day", "the minimum rate the pump now runs at")),
    EventKind.SAFE_MODE_END: RecordLayout(Slot("reason", "-", "the alarm whose acknowledgement "
                                               "ended it", Alarm)),
    EventKind.ALARM_TEST: RecordLayout(),
    EventKind.DOSE_WINDOW_LIMIT: RecordLayout(
        None, Slot("window_hours", "h", "length of the drug's dose window"),
        Slot("window_limit_ug", "ug", "dose allowed per window"),
        Slot("keep_open_nl_per_day", "nL/day", "keep-open rate until the window ends")),
    EventKind.DOSE_WINDOW_END: RecordLayout(),
    EventKind.OTHER: RecordLayout(),
}


def _number(value: Any, slot: Slot) -> int:
    """A detail value as a wire number (enum names and members accepted), clamped to u64."""
    if isinstance(value, str) and slot.enum is not None:
        try:
            value = slot.enum[value]
        except KeyError:
            return 0
    if isinstance(value, bool):
        value = int(value)
    if not isinstance(value, int):
        return 0
    return max(0, min(int(value), U64))


def encode_record(kind: str, details: Mapping[str, Any],
                  drug_index: Callable[[str], int] = lambda name: NO_DRUG) -> dict[str, int]:
    """LogEntry fields (kind, subject, value_a..c) of a pump log event ``kind`` (its name) with
    ``details``; ``drug_index`` maps a drug name to its DRUG_LIBRARY index."""
    try:
        code = EventKind[kind]
    except KeyError:
        code = EventKind.OTHER
    out = {"kind": int(code), "subject": 0, "value_a": 0, "value_b": 0, "value_c": 0}
    layout = LAYOUTS.get(code, LAYOUTS[EventKind.OTHER])
    for field, slot in layout.slots():
        if slot.key == "drug":
            value: Any = drug_index(str(details.get("drug_name", "")))
        else:
            value = details.get(slot.key, 0)
        out[field] = min(_number(value, slot), U16) if field == "subject" else _number(value, slot)
    return out


def decode_record(kind: int, numbers: Mapping[str, int]) -> dict[str, Any]:
    """The named values of a LogEntry (enumerations as members where known)."""
    try:
        layout = LAYOUTS.get(EventKind(kind), LAYOUTS[EventKind.OTHER])
    except ValueError:
        layout = LAYOUTS[EventKind.OTHER]
    out: dict[str, Any] = {}
    for field, slot in layout.slots():
        value = int(numbers.get(field, 0))
        if slot.enum is not None:
            try:
                value = slot.enum(value)
            except ValueError:
                pass
        out[slot.key] = value
    return out


def describe_record(kind: int, numbers: Mapping[str, int]) -> str:
    """A one-line human summary (``key=value`` pairs) of a typed entry, for display only."""
    parts = []
    for key, value in decode_record(kind, numbers).items():
        parts.append(f"{key}={value.name if isinstance(value, enum.Enum) else value}")
    return " ".join(parts)
