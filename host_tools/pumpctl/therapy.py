"""pumpctl commands for therapy: status, drug, schedule, limits, start/stop, boluses, alarms, clock."""
from __future__ import annotations

from pathlib import Path

import click

from host_tools.client import PumpClient
from host_tools.errors import ProtocolViolation
from host_tools.preview import preview_plan, preview_table
from host_tools.pumpctl.clock_time import local_wall_ms
from host_tools.records import DrugLibraryEntry, Limits
from host_tools.pumpctl.ranges import check_bolus, check_limit_changes, device_limits
from host_tools.pumpctl.plans import PartialProgramming, PlanProblem, check_plans, program_plans
from host_tools.schedule_file import (EVERY_DAY, WEEKDAYS, ScheduleFileError, check_schedule_file,
                                      load_schedule_file, weekday_name)
from host_tools.units import (mg, ml, parse_concentration, parse_dose_ug, parse_duration_ms,
                              parse_volume_nl, wall_text)
from host_tools.pumpctl.common import (Connection, FileProblem, NotReady, console, json_option, pass_conn,
                                       print_json, quantity, warn)
from host_tools.pumpctl.views import (alarms_table, device_limits_table, limits_table, name_of,
                                      schedule_table, status_panel)
from protocol.enums import Alarm, Role, Weekday

WEEKDAY_CHOICE = click.Choice(["every_day", *WEEKDAYS], case_sensitive=False)


def weekday_value(name: str | None) -> int:
    """Weekday selector from a --weekday choice (None/every_day -> EVERY_DAY)."""
    if name is None or name.lower() == "every_day":
        return EVERY_DAY
    return WEEKDAYS.index(name.lower())


def drug_entry(client: PumpClient, drug_name: str) -> DrugLibraryEntry | None:
    """The entry of ``drug_name`` in the drug library **the pump reports** (GET_DRUG_LIBRARY),
    or None (no drug, a drug the pump does not list, or a protocol 1.0 pump, which cannot
    report its library: then no limit is checked here, and a warning says so)."""
    if not drug_name:
        return None
    try:
        entry = client.drug_entry(drug_name)
    except ProtocolViolation:
        warn("the pump does not report its drug library (protocol 1.0): daily limits not shown")
        return None
    if entry is None:
        warn(f"the pump's drug library has no {drug_name!r}: daily limits not shown")
    return entry


# ---------------------------------------------------------------------------- status
@click.command()
@json_option
@pass_conn
def status(conn: Connection, as_json: bool) -> None:
    """Show the pump status (state, rate, reservoir, bolus, alarms, battery, refill date)."""
    with conn.client() as client:
        st = client.status()
        drug = client.drug()
        ident = client.identity
    if as_json:
        doc = st.to_json()
        doc.update(drug_name=drug.name, concentration_ug_per_ml=drug.concentration_ug_per_ml,
                   model=ident.model, serial_number=ident.serial_number)
        print_json(doc)
        return
    drug_text = f"{drug.name} {drug.concentration_ug_per_ml / 1000:g} mg/mL" if drug.name else "none"
    console.print(status_panel(st, title=f"{ident.model} {ident.serial_number}", drug=drug_text))


# ---------------------------------------------------------------------------- drug
@click.group(invoke_without_command=True)
@json_option
@click.pass_context
def drug(ctx: click.Context, as_json: bool) -> None:
    """Show the programmed drug; `drug set NAME CONCENTRATION` programs it."""
    if ctx.invoked_subcommand is not None:
        return
    conn = ctx.find_object(Connection)
    with conn.client() as client:
        d = client.drug()
        entry = drug_entry(client, d.name)
    if as_json:
        doc = d.to_json()
        if entry is not None:
            doc.update(soft_daily_limit_ug=entry.soft_daily_limit_ug,
                       hard_daily_limit_ug=entry.hard_daily_limit_ug)
        print_json(doc)
        return
    if not d.name:
        console.print("no drug programmed")
        return
    line = f"{d.name}, {d.concentration_ug_per_ml} ug/mL ({d.concentration_ug_per_ml / 1000:g} mg/mL)"
    if entry is not None:
        line += (f"; daily limits: soft {mg(entry.soft_daily_limit_ug)}, "
                 f"hard {mg(entry.hard_daily_limit_ug)}")
    console.print(line)


@drug.command("set")
@click.argument("name")
@click.argument("concentration", callback=quantity(parse_concentration))
@pass_conn
def drug_set(conn: Connection, name: str, concentration: int) -> None:
    """Program the drug NAME (library name) at CONCENTRATION (ug/mL, or e.g. 10mg/mL)."""
    with conn.client() as client:
        client.set_drug(name, concentration)
    console.print(f"drug set: {name}, {concentration} ug/mL")


# ---------------------------------------------------------------------------- schedule
@click.group()
def schedule() -> None:
    """Show or program the time-of-day schedule."""


@schedule.command("show")
@click.option("--weekday", type=WEEKDAY_CHOICE, default=None, help="Plan to show (default: every day).")
@click.option("--all", "show_all", is_flag=True, help="Show the every-day plan and every weekday plan.")
@json_option
@pass_conn
def schedule_show(conn: Connection, weekday: str | None, show_all: bool, as_json: bool) -> None:
    """Show a schedule plan with the rate and dose per day of each step."""
    with conn.client() as client:
        d = client.drug()
        selectors = [EVERY_DAY] + (list(range(7)) if show_all else [])
        if not show_all:
            selectors = [weekday_value(weekday)]
        plans = [client.schedule(w) for w in selectors]
    if as_json:
        doc = {"drug_name": d.name, "concentration_ug_per_ml": d.concentration_ug_per_ml,
               "plans": [p.to_json() for p in plans]}
        print_json(doc)
        return
    for p in plans:
        if show_all and p.weekday != Weekday.EVERY_DAY and not p.steps:
            continue
        console.print(schedule_table(p, d.concentration_ug_per_ml or None))


@schedule.command("set")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--weekday", type=WEEKDAY_CHOICE, default=None,
              help="Send only this plan of the file (default: every plan in the file).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_option
@pass_conn
def schedule_set(conn: Connection, file: Path, weekday: str | None, yes: bool, as_json: bool) -> None:
    """Program the schedule in FILE (YAML or CSV), after a 24 h preview of each plan.

    The whole file is checked before the pump is contacted, and every plan against the ranges
    and drug library the pump reports before the first is sent; a plan refused midway puts the
    others back."""
    try:
        check_schedule_file(file)  # syntax, structure and values: before any session
    except ScheduleFileError as exc:
        raise FileProblem(str(exc)) from None
    with conn.client() as client:
        d = client.drug()
        if not d.name or not d.concentration_ug_per_ml:
            raise NotReady("no drug is programmed: program it first with "
                          "`pumpctl drug set NAME CONCENTRATION`")
        try:
            plans = load_schedule_file(file, d.concentration_ug_per_ml)
        except ScheduleFileError as exc:
            raise FileProblem(str(exc)) from None
        if weekday is not None:
            wanted = weekday_value(weekday)
            plans = [p for p in plans if p.weekday == wanted]
            if not plans:
                raise FileProblem(f"{file}: {weekday}: the file has no plan for this day")
        entry = drug_entry(client, d.name)
        soft = entry.soft_daily_limit_ug if entry else None
        hard = entry.hard_daily_limit_ug if entry else None
        previews = [preview_plan(p, d.concentration_ug_per_ml, soft, hard) for p in plans]
        if not as_json:
            for pv in previews:
                console.print(preview_table(pv, d.name))
                if pv.over_soft_limit and not pv.over_hard_limit:
                    warn(f"{weekday_name(pv.weekday)}: the day's dose exceeds the soft limit")
        try:
            check_plans(plans, previews, device_limits(client))
        except PlanProblem as exc:
            raise NotReady(str(exc)) from None
        if not yes and not click.confirm("Program this schedule?", default=False, err=True):
            raise click.ClickException("not programmed (not confirmed)")
        try:
            program_plans(client, plans)
        except PartialProgramming as exc:
            raise NotReady(str(exc)) from None
    if as_json:
        print_json({"programmed": [
            {"weekday": "EVERY_DAY" if pv.weekday == EVERY_DAY else WEEKDAYS[pv.weekday].upper(),
             "steps": [{"start_minute": r.start_minute, "rate_nl_per_day": r.rate_nl_per_day}
                       for r in pv.rows],
             "daily_volume_nl": int(pv.total_volume_nl), "daily_dose_ug": int(pv.total_dose_ug),
             "over_soft_limit": pv.over_soft_limit} for pv in previews]})
        return
    console.print(f"schedule programmed: {', '.join(weekday_name(p.weekday) for p in plans)}")


# ---------------------------------------------------------------------------- limits
@click.group(invoke_without_command=True)
@json_option
@click.pass_context
def limits(ctx: click.Context, as_json: bool) -> None:
    """Show patient-bolus limits and the low-reservoir threshold; `limits set` programs them."""
    if ctx.invoked_subcommand is not None:
        return
    conn = ctx.find_object(Connection)
    with conn.client() as client:
        lim = client.limits()
    if as_json:
        print_json(lim.to_json())
    else:
        console.print(limits_table(lim))


@limits.command("set")
@click.option("--dose", callback=quantity(parse_dose_ug), help="Patient bolus dose (ug, or 0.1mg).")
@click.option("--duration", callback=quantity(parse_duration_ms), help="Patient bolus duration (10min).")
@click.option("--lockout", callback=quantity(parse_duration_ms), help="Minimum time between patient boluses (1h).")
@click.option("--max-per-day", type=click.IntRange(0, 255), help="Patient boluses allowed in 24 h.")
@click.option("--threshold", callback=quantity(parse_volume_nl), help="Low-reservoir alarm threshold (2mL).")
@json_option
@pass_conn
def limits_set(conn: Connection, dose: int | None, duration: int | None, lockout: int | None,
               max_per_day: int | None, threshold: int | None, as_json: bool) -> None:
    """Change some limits; the others keep their programmed values. Each value is checked
    against the range the pump reports before anything is sent."""
    changes = {k: v for k, v in {"patient_bolus_dose_ug": dose, "patient_bolus_duration_ms": duration,
                                 "patient_lockout_ms": lockout, "patient_max_per_day": max_per_day,
                                 "low_reservoir_threshold_nl": threshold}.items() if v is not None}
    if not changes:
        raise click.UsageError("give at least one of --dose, --duration, --lockout, --max-per-day, --threshold")
    with conn.client() as client:
        check_limit_changes(device_limits(client), changes)
        sent: Limits = client.set_limits(**changes)
    if as_json:
        print_json(sent.to_json())
    else:
        console.print(limits_table(sent))


@limits.command("device")
@json_option
@pass_conn
def limits_device(conn: Connection, as_json: bool) -> None:
    """Show the ranges the pump accepts, as it reports them (GET_DEVICE_LIMITS)."""
    with conn.client() as client:
        reported = device_limits(client)
    if reported is None:
        raise NotReady("the pump does not report its ranges (protocol 1.0)")
    if as_json:
        print_json(reported.to_json())
    else:
        console.print(device_limits_table(reported))


# ---------------------------------------------------------------------------- start / stop
@click.command()
@pass_conn
def start(conn: Connection) -> None:
    """Start (resume) the programmed therapy."""
    with conn.client() as client:
        client.start()
        st = client.status()
    console.print(f"therapy started: {name_of(st.state)}, {st.rate_nl_per_day / 1e6:.3f} mL/day")


@click.command()
@pass_conn
def stop(conn: Connection) -> None:
    """Stop the pump (an active bolus is cancelled)."""
    with conn.client() as client:
        client.stop()
    console.print("pump stopped")


# ---------------------------------------------------------------------------- boluses
@click.command()
@click.option("--volume", callback=quantity(parse_volume_nl), help="Bolus volume (nL, or 0.1mL).")
@click.option("--dose", callback=quantity(parse_dose_ug), help="Bolus dose (ug, or 0.5mg).")
@click.option("--duration", callback=quantity(parse_duration_ms), required=True, help="Duration (30min).")
@json_option
@pass_conn
def bolus(conn: Connection, volume: int | None, dose: int | None, duration: int, as_json: bool) -> None:
    """Give a clinician bolus of a volume or a dose over a duration (checked against the
    duration range and maximum rate the pump reports before it is sent)."""
    if (volume is None) == (dose is None):
        raise click.UsageError("give exactly one of --volume and --dose")
    with conn.client() as client:
        check_bolus(device_limits(client), volume, duration)
        started = client.clinician_bolus(duration, volume_nl=volume, dose_ug=dose)
        offset = client.status().wall_offset_ms
    if as_json:
        print_json(started.to_json())
        return
    console.print(f"bolus started: {ml(started.volume_nl)}, ends {wall_text(started.end_ms + offset)}")


@click.command()
@json_option
@pass_conn
def ptm(conn: Connection, as_json: bool) -> None:
    """Patient bolus request (patient role by default): granted, or the denial reason."""
    with conn.client(default_role=Role.PATIENT) as client:
        result = client.patient_bolus()
        offset = client.status().wall_offset_ms
    if as_json:
        print_json(result.to_json())
        return
    if result.granted:
        console.print(f"[green]granted[/]: {mg(result.dose_ug)} ({ml(result.volume_nl)}), ends "
                      f"{wall_text((result.end_ms or 0) + offset)}; {result.boluses_today} today")
    else:
        console.print(f"[yellow]denied[/]: {name_of(result.denial_reason)}; next allowed "
                      f"{wall_text(result.next_allowed_ms + offset)}")


@click.command()
@pass_conn
def cancel(conn: Connection) -> None:
    """Cancel the active bolus."""
    with conn.client() as client:
        client.cancel_bolus()
    console.print("bolus cancelled")


# ---------------------------------------------------------------------------- alarms
@click.group(invoke_without_command=True)
@json_option
@click.pass_context
def alarms(ctx: click.Context, as_json: bool) -> None:
    """List the active alarms; `alarms ack` acknowledges them."""
    if ctx.invoked_subcommand is not None:
        return
    conn = ctx.find_object(Connection)
    with conn.client() as client:
        active = client.alarms()
        offset = client.status().wall_offset_ms
    if as_json:
        print_json({"alarms": [a.to_json() for a in active]})
    else:
        console.print(alarms_table(active, offset))


@alarms.command("test")
@pass_conn
def alarms_test(conn: Connection) -> None:
    """Sound both alarm tones once on the pump (the three-second two-tone alarm, then the
    one-second single tone), so the patient can be asked whether they hear them."""
    with conn.client() as client:
        client.alarm_test()
    console.print("alarm test: the pump sounded TWO_TONE_3S then SINGLE_TONE_1S")


@alarms.command("ack")
@click.argument("alarm", required=False, type=click.Choice([a.name.lower() for a in Alarm],
                                                            case_sensitive=False))
@pass_conn
def alarms_ack(conn: Connection, alarm: str | None) -> None:
    """Acknowledge ALARM, or every unacknowledged alarm when none is named."""
    with conn.client() as client:
        if alarm is not None:
            targets = [Alarm[alarm.upper()]]
        else:
            targets = [a.alarm for a in client.alarms() if not a.acknowledged]
        for a in targets:
            client.ack_alarm(a)
    console.print("acknowledged: " + (", ".join(name_of(a) for a in targets) or "nothing to acknowledge"))


# ---------------------------------------------------------------------------- clock
@click.group(invoke_without_command=True)
@json_option
@click.pass_context
def clock(ctx: click.Context, as_json: bool) -> None:
    """Show the pump clock; `clock set TIME` sets it."""
    if ctx.invoked_subcommand is not None:
        return
    conn = ctx.find_object(Connection)
    with conn.client() as client:
        reading = client.clock()
    if as_json:
        print_json({**reading.to_json(), "wall": wall_text(reading.wall_ms)})
    else:
        console.print(f"pump clock: {wall_text(reading.wall_ms)} (run clock {reading.time_ms} ms)")


@clock.command("set")
@click.argument("when")
@click.option("--tz", default=None, metavar="ZONE",
              help="convert WHEN (a time with an offset, or 'now') to this zone's local time, "
                   "e.g. Europe/Paris")
@pass_conn
def clock_set(conn: Connection, when: str, tz: str | None) -> None:
    """Set the pump's wall clock, which is the pump's LOCAL time, to WHEN: ISO 8601 date-time or
    time of day (08:00 is today on the pump; an offset such as 08:00+01:00 is kept as written,
    not converted to UTC), 'now' (this computer's local time), '-2h' or ms since 1970-01-01.
    The pump never changes daylight saving time by itself: set it again when the clocks change
    (see PROTOCOL.md, SET_CLOCK)."""
    def target_for(pump_wall_ms: int) -> int:
        try:
            target = local_wall_ms(when, tz, pump_wall_ms)
        except (ValueError, OverflowError) as exc:
            raise click.BadParameter(str(exc), param_hint="WHEN") from None
        if not 0 <= target < 1 << 63:
            raise click.BadParameter(f"{when!r} is outside the pump clock's range",
                                     param_hint="WHEN")
        return target

    # checked before any session; a time of day or '-2h' is then placed on the pump's own date
    target = target_for(86_400_000)
    with conn.client() as client:
        target = target_for(client.clock().wall_ms)
        client.set_clock(target)
    console.print(f"pump clock set to {wall_text(target)} (pump local time)")


COMMANDS = [status, drug, schedule, limits, start, stop, bolus, ptm, cancel, alarms, clock]
