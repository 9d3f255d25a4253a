"""pumpctl log (event log export) and plot (PNG of rate and delivered volume over a window)."""
from __future__ import annotations

import csv
import dataclasses
import io
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from host_tools.client import PumpClient
from host_tools.history import KIND_STATE, compile_plans, delivery_history, find_index_at
from host_tools.pumpctl.common import (Connection, console, emit_json_line, err_console,
                                       json_option, pass_conn, print_json)
from host_tools.records import LogEntry
from host_tools.units import QuantityError, ml, parse_duration_ms, parse_wall, wall_text
from protocol.enums import EventKind, Weekday

def kind_name(kind: int) -> str:
    """The name of an event-log kind code (or its number)."""
    try:
        return EventKind(kind).name
    except ValueError:
        return str(kind)


def first_index_since(client: PumpClient, since_ms: int) -> tuple[int, int]:
    """(first index with run-clock time >= since_ms, total entries), by binary search."""
    total = client.read_log(0, 1).total_count
    return find_index_at(lambda i: client.read_log(i, 1).entries[0].time_ms, total, since_ms), total


def download(client: PumpClient, start: int, end: int | None, show_progress: bool) -> list[LogEntry]:
    """Entries [start, end) with a progress bar on stderr while the pages download."""
    if not show_progress:
        return list(client.iter_log(start, end))
    with Progress(TextColumn("reading log"), BarColumn(), MofNCompleteColumn(),
                  console=err_console, transient=True) as progress:
        task = progress.add_task("log", total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)
        return list(client.iter_log(start, end, progress=update))


def _since(text: str | None, now_ms: int) -> int | None:
    if text is None:
        return None
    try:
        return parse_wall(text, now_ms)
    except QuantityError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None


@click.command("log")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="Output format.")
@click.option("--since", help="Only entries from this time: ISO 8601 (UTC), or '-6h' before the pump's now.")
@click.option("--last", type=click.IntRange(min=1), help="Only the last N entries.")
@click.option("--follow", "-f", is_flag=True,
              help="Keep reading: print new entries as the pump logs them (JSON lines with --json).")
@click.option("--poll", type=click.FloatRange(min=0.05), default=1.0, show_default=True,
              help="With --follow: seconds between reads of the log's end.")
@click.option("--duration", type=float, default=None, help="With --follow: stop after this many seconds.")
@json_option
@pass_conn
def log_cmd(conn: Connection, fmt: str, since: str | None, last: int | None, follow: bool,
            poll: float, duration: float | None, as_json: bool) -> None:
    """Export the pump's event log (pages download with a progress bar); --follow keeps
    printing new entries as they are logged."""
    if as_json:
        fmt = "json"
    if follow:
        follow_log(conn, fmt, since, last, poll, duration)
        return
    with conn.client() as client:
        st = client.status()
        offset = st.wall_offset_ms
        since_wall = _since(since, st.wall_ms)
        if since_wall is not None:
            start, total = first_index_since(client, since_wall - offset)
        else:
            start, total = 0, client.read_log(0, 1).total_count
        if last is not None:
            start = max(start, total - last)
        entries = download(client, start, None, show_progress=fmt == "table" or err_console.is_terminal)
    if fmt == "json":
        print_json({"total_count": total, "wall_offset_ms": offset, "entries": [
            _entry_doc(e, offset) for e in entries]})
    elif fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["index", "time_ms", "wall", "kind", "kind_name", "detail"])
        for e in entries:
            writer.writerow([e.index, e.time_ms, wall_text(e.time_ms + offset), e.kind,
                             kind_name(e.kind), e.detail])
        click.echo(out.getvalue(), nl=False)
    else:
        table = Table(title=f"event log ({len(entries)} of {total} entries)")
        for heading in ("#", "pump time", "event", "detail"):
            table.add_column(heading, justify="right" if heading == "#" else "left")
        for e in entries:
            table.add_row(str(e.index), wall_text(e.time_ms + offset), kind_name(e.kind), e.detail)
        console.print(table)


def _entry_doc(e: LogEntry, offset: int) -> dict:
    return {**e.to_json(), "kind_name": kind_name(e.kind), "wall": wall_text(e.time_ms + offset)}


def follow_log(conn: Connection, fmt: str, since: str | None, last: int | None, poll: float,
               duration: float | None) -> None:
    """Print the log from --since/--last (default: only new entries), then every new entry as it
    is logged, one line each (a JSON object per line with --json), until Ctrl-C or --duration."""
    deadline = None if duration is None else time.monotonic() + duration
    writer = csv.writer(sys.stdout, lineterminator="\n")
    if fmt == "csv":
        writer.writerow(["index", "time_ms", "wall", "kind", "kind_name", "detail"])
    with conn.client() as client:
        st = client.status()
        offset = st.wall_offset_ms
        since_wall = _since(since, st.wall_ms)
        total = client.read_log(0, 1).total_count
        start = total if since_wall is None else first_index_since(client, since_wall - offset)[0]
        if last is not None:
            start = min(start, max(0, total - last))
        try:
            while True:
                for e in client.iter_log(start):
                    if fmt == "json":
                        emit_json_line(_entry_doc(e, offset))
                    elif fmt == "csv":
                        writer.writerow([e.index, e.time_ms, wall_text(e.time_ms + offset), e.kind,
                                         kind_name(e.kind), e.detail])
                        sys.stdout.flush()
                    else:
                        click.echo(f"{e.index:>6} {wall_text(e.time_ms + offset)} "
                                   f"{kind_name(e.kind):<22} {e.detail}")
                    start = e.index + 1
                if deadline is not None and time.monotonic() >= deadline:
                    return
                time.sleep(poll if deadline is None else max(0.0, min(poll, deadline - time.monotonic())))
        except KeyboardInterrupt:
            return


def planned_steps(compiled: Any, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
    """``(wall_ms, rate_nl_per_day)`` changes of the programmed schedule in [start_ms, end_ms)
    (empty without a schedule)."""
    if compiled is None:
        return []
    steps: list[tuple[int, int]] = []
    t = start_ms
    while t < end_ms:
        _, rate, next_t = compiled.lookup(t)
        if not steps or steps[-1][1] != rate:
            steps.append((t, rate))
        t = next_t
    return steps


def read_plans(client: PumpClient) -> list:
    """Every schedule plan of the pump (every day, then the weekdays that have their own)."""
    plans = [client.schedule(Weekday.EVERY_DAY)]
    if client.identity.weekday_plans:
        plans += [p for p in (client.schedule(w) for w in range(7)) if p.steps]
    return plans


def entries_for_window(client: PumpClient, start_ms: int, show_progress: bool) -> list[LogEntry]:
    """Log entries from the last state change before ``start_ms`` (run clock) to the end."""
    first, total = first_index_since(client, start_ms)
    index = first
    while index > 0:  # walk back, page by page, to the state in force at the window start
        page_start = max(0, index - 16)
        page = client.read_log(page_start, index - page_start).entries
        states = [e for e in page if e.kind == KIND_STATE]
        if states:
            index = states[-1].index
            break
        index = page_start
    return download(client, index, total, show_progress)


@click.command()
@click.option("--hours", default="24h", show_default=True,
              help="Window length ending now (e.g. 24h, 90min).")
@click.option("--since", help="Window start instead (ISO 8601 UTC, or '-6h').")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=Path("pump-plot.png"),
              show_default=True, help="PNG file to write.")
@click.option("--ahead", default="0", show_default=True,
              help="Also draw the programmed schedule this far ahead of the pump's now (e.g. 12h).")
@json_option
@pass_conn
def plot(conn: Connection, hours: str, since: str | None, out: Path, ahead: str, as_json: bool) -> None:
    """Write a PNG of the programmed rate and the delivered volume over a window (pump clock
    times on the axis), optionally with the programmed schedule ahead of now."""
    try:
        window = parse_duration_ms(hours)
    except QuantityError as exc:
        raise click.BadParameter(str(exc), param_hint="--hours") from None
    try:
        ahead_ms = parse_duration_ms(ahead) if ahead.strip() not in ("0", "") else 0
    except QuantityError as exc:
        raise click.BadParameter(str(exc), param_hint="--ahead") from None
    with conn.client() as client:
        st = client.status()
        offset, end = st.wall_offset_ms, st.wall_ms
        start = _since(since, end) if since else end - window
        if start is None or start >= end:
            raise click.BadParameter("the window must start before the pump's now", param_hint="--since")
        plans = read_plans(client)
        entries = entries_for_window(client, start - offset, show_progress=not as_json)
        ident = client.identity
    from host_tools.plotting import plot_rate_and_delivery  # matplotlib: only for this command

    # The schedule follows the wall clock: move the log's run-clock times onto it.
    wall_entries = [dataclasses.replace(e, time_ms=e.time_ms + offset) for e in entries]
    compiled = compile_plans(plans)
    history = delivery_history(compiled, wall_entries, start, end)
    planned = planned_steps(compiled, end, end + ahead_ms) if ahead_ms else []
    out.parent.mkdir(parents=True, exist_ok=True)
    plot_rate_and_delivery(out, history.rate_steps, history.delivered,
                           title=f"{ident.model} {ident.serial_number}: {wall_text(start)} to "
                                 f"{wall_text(end)}", start_ms=start, end_ms=end,
                           planned_steps=planned, planned_end_ms=end + ahead_ms if ahead_ms else None)
    if as_json:
        print_json({"path": str(out), "start_ms": start, "end_ms": end,
                    "delivered_nl": history.delivered_nl, "rate_steps": history.rate_steps,
                    "planned_steps": planned})
        return
    console.print(f"plot written to {out} ({ml(history.delivered_nl)} delivered in the window)")
