"""What `pumpctl clock set` sends: the pump's wall clock is its *local* time.

The pump keeps no time zone and never changes daylight saving time by itself: its wall clock is
the local time of day its schedule follows, counted in ms since 1970-01-01 00:00 as if that local
time were UTC. So `clock set 2026-03-29T08:00+01:00` sets the pump to 08:00 (the offset only says
where the time was written; it is not converted to UTC), and `--tz ZONE` converts an instant
(a time with an offset, or `now`) to that zone's local time first, DST included.
"""
from __future__ import annotations

import datetime as dt
import zoneinfo

from host_tools.units import QuantityError, parse_duration_ms

_EPOCH = dt.datetime(1970, 1, 1)


def _local_ms(local: dt.datetime) -> int:
    """A naive local date-time as pump wall ms."""
    delta = local.replace(tzinfo=None) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _zone(tz: str | None) -> dt.tzinfo | None:
    if tz is None:
        return None
    try:
        return zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise QuantityError(f"--tz: {tz!r} is not a time zone (e.g. Europe/Paris, UTC)") from None


def local_wall_ms(text: str, tz: str | None = None, pump_wall_ms: int | None = None,
                  now: dt.datetime | None = None) -> int:
    """The pump wall ms for ``text``: ISO 8601 date-time or time of day (``08:00``, on the
    pump's current local date ``pump_wall_ms``), with or without an offset; ``now`` (this
    computer's local time, or the time in ``tz``); ``-2h`` (before the pump's clock); raw ms.
    An offset is kept as written unless ``tz`` is given, which converts the instant to ``tz``'s
    local time. Raises QuantityError for anything else."""
    zone = _zone(tz)
    t = text.strip()
    if t.lower() == "now":
        instant = now if now is not None else dt.datetime.now(dt.timezone.utc)
        return _local_ms(instant.astimezone(zone) if zone is not None else instant.astimezone())
    if t.startswith("-") and pump_wall_ms is not None:
        return pump_wall_ms - parse_duration_ms(t[1:])
    if t.isdigit():
        return int(t)
    when = _parse(t, pump_wall_ms)
    if when.tzinfo is not None and zone is not None:
        when = when.astimezone(zone)
    return _local_ms(when)


def _parse(t: str, pump_wall_ms: int | None) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(t)
    except ValueError:
        pass
    try:
        tod = dt.time.fromisoformat(t)
    except ValueError:
        raise QuantityError(f"time: {t!r} is not ISO 8601 (2026-01-31T08:00, 08:00+01:00), "
                            "'now', '-2h' or ms") from None
    day = (_EPOCH + dt.timedelta(milliseconds=pump_wall_ms or 0)).date()
    return dt.datetime.combine(day, tod.replace(tzinfo=None), tzinfo=tod.tzinfo)
