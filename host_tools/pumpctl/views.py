"""Rich renderables of pump data (status panel, tables), shared by commands and the monitor."""
from __future__ import annotations

import time

from rich.console import Group
from rich.panel import Panel
from rich.table import Table

from host_tools.errors import Refused
from host_tools.records import AlarmInfo, DeviceLimits, Limits, Schedule, Status
from host_tools.units import duration, mg, ml, ml_per_day, wall_text
from protocol.enums import AlarmPriority, BolusKind, TherapyState, Weekday
from protocol.errors import NakCode

STATE_STYLE = {TherapyState.INFUSING: "green", TherapyState.BOLUS: "cyan",
               TherapyState.STOPPED: "yellow", TherapyState.REFILL: "blue",
               TherapyState.EMPTY: "red", TherapyState.FAULT: "bold red",
               TherapyState.END_OF_SERVICE: "bold red"}
PRIORITY_STYLE = {AlarmPriority.LOW: "yellow", AlarmPriority.MEDIUM: "dark_orange",
                  AlarmPriority.HIGH: "bold red"}


def name_of(value: object) -> str:
    """Enum member name, or the raw value."""
    return getattr(value, "name", str(value))


def clock_drift_text(drift_ppm: int, drift_ms: int) -> str:
    """``+250 ppm (fast), +21.600 s so far``: the run clock's drift against real time."""
    way = "fast" if drift_ppm > 0 else "slow" if drift_ppm < 0 else "exact"
    return f"{drift_ppm:+d} ppm ({way}), {drift_ms / 1000:+.3f} s so far"


def status_panel(status: Status, title: str = "pump status", drug: str | None = None) -> Panel:
    """A panel with state, rate, reservoir, bolus, alarms, battery and refill date (times shown
    on the pump's wall clock, UTC-formatted)."""
    offset = status.wall_offset_ms
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    state_style = STATE_STYLE.get(status.state, "white")  # type: ignore[call-overload]
    grid.add_row("state", f"[{state_style}]{name_of(status.state)}[/]")
    grid.add_row("pump time", f"{wall_text(status.wall_ms)} (run clock {status.time_ms} ms)")
    if status.clock_drift_ppm is not None:  # protocol 1.1
        grid.add_row("clock drift", clock_drift_text(status.clock_drift_ppm,
                                                     status.clock_drift_ms or 0))
    if drug:
        grid.add_row("drug", drug)
    step = "-" if status.step_index is None else (
        f"step {status.step_index} from {status.step_start_minute // 60:02d}:"
        f"{status.step_start_minute % 60:02d}")
    grid.add_row("rate", f"{ml_per_day(status.rate_nl_per_day)} ({step})")
    pct = 100 * status.reservoir_nl // status.reservoir_capacity_nl if status.reservoir_capacity_nl else 0
    grid.add_row("reservoir", f"{ml(status.reservoir_nl)} of {ml(status.reservoir_capacity_nl)} ({pct} %)")
    if status.bolus_kind != BolusKind.NONE:
        end = wall_text(status.bolus_end_ms + offset) if status.bolus_end_ms else "on volume"
        grid.add_row("bolus", f"{name_of(status.bolus_kind)}: {ml(status.bolus_remaining_nl)} "
                     f"left, ends {end}")
    else:
        grid.add_row("bolus", "none")
    alarms = ", ".join(name_of(a) for a in status.active_alarms) or "none"
    grid.add_row("alarms", f"[red]{alarms}[/]" if status.active_alarms else alarms)
    grid.add_row("battery", f"{status.battery_percent} %")
    grid.add_row("refill due", wall_text(status.refill_due_ms + offset)
                 if status.refill_due_ms is not None else "-")
    return Panel(grid, title=title, expand=False)


def schedule_table(plan: Schedule, concentration_ug_per_ml: int | None = None) -> Table:
    """A table of a plan's steps (start, rate, and dose/day when the concentration is known)."""
    which = "every day" if plan.weekday == Weekday.EVERY_DAY else name_of(plan.weekday).lower()
    table = Table(title=f"schedule, {which}")
    table.add_column("#", justify="right")
    table.add_column("start", justify="right")
    table.add_column("rate mL/day", justify="right")
    if concentration_ug_per_ml:
        table.add_column("dose mg/day", justify="right")
    for i, s in enumerate(plan.steps):
        row = [str(i), f"{s.start_minute // 60:02d}:{s.start_minute % 60:02d}",
               f"{s.rate_nl_per_day / 1e6:.3f}"]
        if concentration_ug_per_ml:
            row.append(f"{s.rate_nl_per_day * concentration_ug_per_ml / 1e9:.3f}")
        table.add_row(*row)
    if not plan.steps:
        table.caption = "no plan of its own (the every-day plan applies)"
    return table


def limits_table(limits: Limits) -> Table:
    """The patient-bolus settings and the low-reservoir threshold."""
    table = Table(title="limits", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    enabled = limits.patient_bolus_dose_ug > 0
    table.add_row("patient bolus dose", mg(limits.patient_bolus_dose_ug) if enabled else "off")
    table.add_row("patient bolus duration", duration(limits.patient_bolus_duration_ms))
    table.add_row("patient lockout", duration(limits.patient_lockout_ms))
    table.add_row("patient boluses / 24 h", str(limits.patient_max_per_day))
    table.add_row("low-reservoir threshold", ml(limits.low_reservoir_threshold_nl))
    return table


def device_limits_table(d: DeviceLimits) -> Table:
    """The ranges the pump reports (DEVICE_LIMITS), one per row."""
    table = Table(title="ranges the pump accepts", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("reservoir", ml(d.reservoir_capacity_nl))
    table.add_row("rate", f"{ml_per_day(d.min_rate_nl_per_day)} .. "
                  f"{ml_per_day(d.max_rate_nl_per_day)}")
    table.add_row("schedule steps", f"{d.max_steps_per_day} a day, "
                  f"{d.step_resolution_minute}-minute resolution")
    table.add_row("clinician bolus duration", f"{duration(d.clinician_bolus_min_duration_ms)} .. "
                  f"{duration(d.clinician_bolus_max_duration_ms)}")
    table.add_row("priming", f"{ml(d.dead_volume_nl)} over {duration(d.priming_duration_ms)}")
    table.add_row("patient bolus dose",
                  f"{mg(d.patient_min_dose_ug)} .. {mg(d.patient_max_dose_ug)}")
    table.add_row("patient bolus duration", f"{duration(d.patient_min_duration_ms)} .. "
                  f"{duration(d.patient_max_duration_ms)}")
    table.add_row("patient lockout", f"{duration(d.patient_min_lockout_ms)} .. "
                  f"{duration(d.patient_max_lockout_ms)}")
    table.add_row("patient boluses / 24 h", f"up to {d.patient_max_per_day}")
    table.add_row("low-reservoir threshold", f"{ml(d.low_threshold_min_nl)} .. "
                  f"{ml(d.low_threshold_max_nl)} (default {ml(d.low_threshold_default_nl)})")
    table.add_row("refill discrepancy", f"> {ml(d.discrepancy_min_nl)} or "
                  f"{d.discrepancy_percent} %, whichever is larger")
    for label, text in programming_limit_rows(d):
        table.add_row(label, text)
    return table


def programming_limit_rows(d: DeviceLimits) -> list[tuple[str, str]]:
    """(label, text) of the programming limits the pump reports (none for a pump that does
    not report them): rate changes per period, step of the patient bolus duration and lockout,
    and whether a clinician bolus starts the patient lockout."""
    if d.max_rate_changes_per_period is None or d.rate_changes_period_ms is None:
        return []
    changes = ("no limit" if d.max_rate_changes_per_period == 0 else
               f"up to {d.max_rate_changes_per_period} per {duration(d.rate_changes_period_ms)}")
    return [("schedule changes", changes),
            ("patient bolus duration step", _step_text(d.patient_duration_step_ms)),
            ("patient lockout step", _step_text(d.patient_lockout_step_ms)),
            ("clinician bolus starts lockout", "yes" if d.clinician_bolus_starts_lockout else "no")]


def _step_text(step_ms: int | None) -> str:
    return "any ms" if step_ms in (None, 1) else duration(step_ms)


def refusal_text(exc: Refused, now_s: float | None = None) -> str:
    """One line for a refusal; a MAX_CHANGES_REACHED also says when the next schedule change
    is allowed (from the NAK's retry_after_ms: in how long, and the host's local time then)."""
    text = str(exc)
    if exc.code == NakCode.MAX_CHANGES_REACHED and exc.retry_after_ms > 0:
        at = (time.time() if now_s is None else now_s) + exc.retry_after_ms / 1000
        text += (f"; the next schedule change is allowed in {duration(exc.retry_after_ms)} "
                 f"(at {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(at))} host time)")
    return text


def alarms_table(alarms: list[AlarmInfo], offset_ms: int = 0) -> Table:
    """Active alarms with priority, raise time and acknowledgement."""
    table = Table(title="active alarms")
    for heading in ("alarm", "priority", "raised", "acknowledged", "tone", "repeats every"):
        table.add_column(heading)
    for a in alarms:
        style = PRIORITY_STYLE.get(a.priority, "")  # type: ignore[call-overload]
        table.add_row(name_of(a.alarm), f"[{style}]{name_of(a.priority)}[/]" if style else name_of(a.priority),
                      wall_text(a.raised_ms + offset_ms), "yes" if a.acknowledged else "no",
                      name_of(a.tone), f"{a.repeat_ms // 60_000} min" if a.repeat_ms else "-")
    if not alarms:
        table.caption = "no active alarms"
    return table


def monitor_view(status: Status | None, events: list[str], source: str) -> Group:
    """The monitor screen: status panel and the latest events."""
    parts = []
    if status is not None:
        parts.append(status_panel(status, title=f"pump status ({source})"))
    log = Table(title="latest events", show_header=False, expand=False)
    log.add_column()
    for line in events[-10:]:
        log.add_row(line)
    if not events:
        log.add_row("(none yet: alarms and state changes appear here)")
    parts.append(log)
    return Group(*parts)
