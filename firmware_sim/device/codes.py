"""Wire codes the device owns: model rejections -> NAK codes, event-log kind codes, NAK details.

The model refuses with ``Rejected(code, field, reason)`` (firmware_sim.enums.RejectCode); the
protocol refuses with ``NakCode``, which has every model code's name. The NAK detail is the
offending field under its wire name, or the reason when no field is at fault.
"""
from __future__ import annotations

import re

from firmware_sim.enums import RejectCode
from protocol import MessageType as MT
from protocol import EventKind, NakCode, truncate_utf8
from protocol.messages import MAX_TEXT


def nak_code(code: RejectCode) -> NakCode:
    """The NAK code for a model rejection code (every model code is a NakCode name)."""
    try:
        return NakCode[code.value]
    except KeyError:  # a model code newer than the protocol: still a refusal of a field
        return NakCode.INVALID_FIELD


# NAK codes whose detail is the pump's reason rather than a field name.
_REASON_CODES = frozenset({NakCode.INVALID_STATE, NakCode.BOLUS_ACTIVE,
                           NakCode.MAX_CHANGES_REACHED})

# Model argument names -> wire field names, per request (model names not listed are the same).
_FIELD_NAMES: dict[MT, dict[str, str]] = {
    MT.SET_LIMITS: {"threshold_nl": "low_reservoir_threshold_nl",
                    "dose_ug": "patient_bolus_dose_ug",
                    "duration_ms": "patient_bolus_duration_ms",
                    "lockout_ms": "patient_lockout_ms",
                    "max_per_24h": "patient_max_per_day",
                    "patient_bolus": "patient_max_per_day",
                    "schedule": "patient_bolus_dose_ug"},
    MT.SET_DRUG: {"schedule": "concentration_ug_per_ml",
                  "patient_bolus": "concentration_ug_per_ml"},
    MT.INJECT_FAULT: {name: "value" for name in ("permille", "blocked_percent", "lost_percent",
                                                  "recover_after_ms", "duration_ms")},
    MT.REFILL_COMPLETE: {"schedule": "concentration_ug_per_ml",
                         "patient_bolus": "concentration_ug_per_ml"},
    MT.SET_SCHEDULE: {"patient_bolus": "steps"},
}
_PLAN_PREFIX = re.compile(r"^schedule\.plans\[[A-Z_]+\]\.?")


def wire_field(request: int, field: str) -> str:
    """The wire name of the model's ``field`` for ``request`` (schedule paths become steps[i])."""
    named = _FIELD_NAMES.get(request, {}).get(field)  # type: ignore[call-overload]
    if named is not None:
        return named
    if field.startswith("schedule"):
        rest = _PLAN_PREFIX.sub("", field)
        return rest if rest and rest != "schedule" else "steps"
    return field


def clip_text(text: str, max_bytes: int = MAX_TEXT["detail"]) -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes on a character boundary."""
    return truncate_utf8(text, max_bytes)


def nak_detail(code: NakCode, field: str, reason: str) -> str:
    """The NAK detail: the offending wire field name, or the reason when there is no field (or
    the code is about the pump's state), at most 48 UTF-8 bytes."""
    if field and code not in _REASON_CODES:
        return clip_text(field)
    return clip_text(reason or field)


LOG_KINDS: dict[str, int] = {k.name: int(k) for k in EventKind if k is not EventKind.OTHER}
UNKNOWN_LOG_KIND = int(EventKind.OTHER)

# Detail keys shown first (when present) in a log entry's one-line detail.
_DETAIL_FIRST = ("alarm", "old", "new", "bolus_kind", "reason", "outcome", "drug_name")
_DETAIL_SKIP = frozenset({"schedule", "trigger", "priority", "reason_code"})


def fit_parts(parts: list[str], max_bytes: int = MAX_TEXT["detail"]) -> str:
    """``parts`` joined by spaces in at most ``max_bytes`` UTF-8 bytes without cutting one: the
    longest prefix of whole parts that fits, followed by ``+N`` when N parts were left out (so a
    shown value is always complete; a reader knows when something is missing)."""
    n = len(parts)
    for k in range(n, -1, -1):
        shown = parts[:k]
        if k < n:
            shown = [*shown, f"+{n - k}"]
        text = " ".join(shown)
        if len(text.encode("utf8")) <= max_bytes:
            return text
    return ""  # only when max_bytes cannot even hold "+N"


def log_detail(kind: str, details: dict[str, object]) -> str:
    """A short ``key=value`` summary of an event's details (<= 48 UTF-8 bytes): whole parts
    only, the ones that do not fit left out and counted as ``+N`` (see :func:`fit_parts`)."""
    if kind not in LOG_KINDS:
        parts = [kind]
    else:
        parts = []
    if kind == "STATE":
        parts.append(f"{details.get('old')}->{details.get('new')}")
        keys: list[str] = []
    else:
        keys = [k for k in _DETAIL_FIRST if k in details]
        keys += [k for k in details if k not in keys]
    for k in keys:
        if k in _DETAIL_SKIP:
            continue
        v = details[k]
        if isinstance(v, (dict, list)):
            continue
        parts.append(str(v) if k in ("alarm", "bolus_kind", "reason", "outcome") else f"{k}={v}")
    return fit_parts(parts)
