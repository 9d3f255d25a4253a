"""JSON-friendly views of a served pump: status, truth ledger, link statistics, events.

Called with the device's lock held; integers stay integers (nL, ug, ms).
"""
from __future__ import annotations

import dataclasses
import enum
from typing import Any

from firmware_sim import AlarmPriority, Pump
from firmware_sim.device import Device
from firmware_sim.schedule import weekday_of

TWO_TONE = "two-tone, 3 s"
SINGLE_TONE = "single tone, 1 s"


def tone_of(alarm: Any) -> str:
    """The annunciation of ``alarm``: the model's own when it names one, else the critical
    (high priority) alarms sound the three-second two-tone alarm and the others the one-second
    single tone."""
    tone = getattr(alarm, "tone", None)
    if isinstance(tone, str):
        return tone
    return TWO_TONE if alarm.priority is AlarmPriority.HIGH else SINGLE_TONE


def plain(value: Any) -> Any:
    """``value`` with enums as names, dataclasses as dicts, tuples as lists."""
    if isinstance(value, enum.Enum):
        return value.name
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {(k.name if isinstance(k, enum.Enum) else str(k)): plain(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    return value


def _schedule_today(pump: Pump) -> list[dict[str, int]] | None:
    schedule = pump.schedule
    if schedule is None:
        return None
    plan = schedule.plan_for(weekday_of(pump.wall_ms))
    return [{"start_minute": s.start_minute, "rate_nl_per_day": s.rate_nl_per_day}
            for s in plan.steps]


def pump_status(pump: Pump) -> dict[str, Any]:
    """The pump's status (as a programmer reads it) plus the day's schedule and the alarms'
    tones."""
    st = pump.status()
    out = plain(st)
    out["alarms"] = [{**plain(a), "tone": tone_of(a.alarm)} for a in st.alarms]
    out["schedule_today"] = _schedule_today(pump)
    cfg = pump.patient_bolus_config
    out["patient_bolus"] = None if cfg is None else plain(cfg)
    out["patient_boluses_24h"] = pump.patient_boluses_24h
    out["refill_stage"] = pump.refill_stage
    out["profile"] = pump.profile.name
    return out


def truth(pump: Pump) -> dict[str, Any]:
    """The mechanism's truth ledger now: what really reached the patient, leaked, remains and
    was withdrawn (nL)."""
    return plain(pump.truth())


def link_stats(device: Device) -> dict[str, Any]:
    """The device's frame counters and its link's name."""
    stats = plain(device.stats)
    stats["naks"] = {getattr(k, "name", str(k)): v for k, v in device.stats.naks.items()}
    return {"name": device.link.name, "session": device.session is not None, "device": stats}


def events(pump: Pump, since: int, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` log entries from index ``since`` on."""
    return [plain(e) for e in pump.read_events(since, limit)]
