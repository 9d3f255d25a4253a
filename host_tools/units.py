"""Quantities a person types and reads, converted exactly to and from the integer units.

Parsing is exact (Decimal), and a value that is not a whole number of the integer unit is an
error, never rounded silently: ``parse_volume_nl("0.25mL") == 250_000``;
``parse_duration_ms("10min") == 600_000``; ``parse_dose_ug("1.5mg") == 1_500``;
``parse_concentration("10mg/mL") == 10_000`` (ug/mL). A bare number is read in the integer unit.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

_NUMBER = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([A-Za-zµ/]*)\s*$")

VOLUME_NL = {"": 1, "nl": 1, "ul": 1_000, "µl": 1_000, "ml": 1_000_000}
DOSE_UG = {"": 1, "ug": 1, "µg": 1, "mcg": 1, "mg": 1_000}
DURATION_MS = {"": 1, "ms": 1, "s": 1_000, "sec": 1_000, "min": 60_000, "m": 60_000,
               "h": 3_600_000, "hr": 3_600_000, "d": 86_400_000, "day": 86_400_000}
CONCENTRATION = {"": 1, "ug/ml": 1, "µg/ml": 1, "mcg/ml": 1, "mg/ml": 1_000}


class QuantityError(ValueError):
    """A quantity that cannot be read (the message says what was expected)."""


def _parse(text: str, units: dict[str, int], what: str) -> int:
    m = _NUMBER.match(str(text))
    if not m:
        raise QuantityError(f"{what}: {text!r} is not a number with an optional unit "
                            f"({', '.join(u for u in units if u)})")
    number, unit = m.group(1), m.group(2).lower()
    if unit not in units:
        raise QuantityError(f"{what}: unknown unit {m.group(2)!r} (use {', '.join(u for u in units if u)})")
    try:
        value = Decimal(number) * units[unit]
    except InvalidOperation:
        raise QuantityError(f"{what}: {text!r} is not a number") from None
    if value != value.to_integral_value():
        raise QuantityError(f"{what}: {text!r} is not a whole number of the pump's unit")
    return int(value)


def parse_volume_nl(text: str) -> int:
    """Volume in nL from '250000', '0.25mL', '250uL', '250000nL'."""
    return _parse(text, VOLUME_NL, "volume")


def parse_dose_ug(text: str) -> int:
    """Dose in ug from '100', '100ug', '0.1mg'."""
    return _parse(text, DOSE_UG, "dose")


def parse_duration_ms(text: str) -> int:
    """Duration in ms from '600000', '600s', '10min', '1.5h', '1d'."""
    return _parse(text, DURATION_MS, "duration")


def parse_concentration(text: str) -> int:
    """Concentration in ug/mL from '10000', '10000ug/mL', '10mg/mL'."""
    return _parse(text, CONCENTRATION, "concentration")


def ml(nl: int | float) -> str:
    """nL as mL text with 3 decimals ('1.250 mL')."""
    return f"{nl / 1_000_000:.3f} mL"


def ml_per_day(nl_per_day: int) -> str:
    """nL/day as 'x.xxx mL/day'."""
    return f"{nl_per_day / 1_000_000:.3f} mL/day"


def mg(ug: int | float) -> str:
    """ug as mg text ('1.500 mg')."""
    return f"{ug / 1_000:.3f} mg"


def duration(ms: int) -> str:
    """ms as a short duration ('1 h 30 min', '45 s')."""
    if ms % 3_600_000 == 0 and ms:
        return f"{ms // 3_600_000} h"
    if ms >= 3_600_000:
        return f"{ms // 3_600_000} h {ms % 3_600_000 // 60_000} min"
    if ms % 60_000 == 0 and ms:
        return f"{ms // 60_000} min"
    if ms % 1000 == 0:
        return f"{ms // 1000} s"
    return f"{ms} ms"


def wall_text(wall_ms: int | None) -> str:
    """A pump wall-clock time (ms since the Unix epoch, UTC) as 'YYYY-MM-DD HH:MM:SS'."""
    if wall_ms is None:
        return "-"
    return dt.datetime.fromtimestamp(wall_ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def parse_wall(text: str, now_wall_ms: int | None = None) -> int:
    """A wall time in ms from an ISO date/time (UTC unless it has an offset), 'now', a
    relative '-2h' (before now) or raw ms; 'now' is ``now_wall_ms`` when given (the pump's
    clock), else the host's clock."""
    t = text.strip()
    if t.lower() == "now":
        return now_wall_ms if now_wall_ms is not None else int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000)
    if t.startswith("-"):
        base = now_wall_ms if now_wall_ms is not None else parse_wall("now")
        return base - parse_duration_ms(t[1:])
    if t.isdigit():
        return int(t)
    try:
        when = dt.datetime.fromisoformat(t)
    except ValueError:
        raise QuantityError(f"time: {text!r} is not ISO 8601 (2026-01-31T08:00), 'now', '-2h' or ms") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return int(when.timestamp() * 1000)
