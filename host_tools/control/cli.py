"""``pumpsim control``: drive a running pump's control API from the shell.

    pumpsim control --url http://127.0.0.1:8765/ status
    pumpsim control --url ... faults list
    pumpsim control --url ... faults add motor_stall
    pumpsim control --url ... faults add link_drop probability=0.05
    pumpsim control --url ... faults clear motor_stall
    pumpsim control --url ... clock advance 6h          # also: clock pause|resume|warp 3600
    pumpsim control --url ... power-cycle
    pumpsim control --url ... reset
    pumpsim control --url ... scenario run FILE
    pumpsim control --url ... watch                     # live status and event log

``--url`` defaults to ``$PUMPSIM_CONTROL``, ``--token-file`` / ``$PUMPSIM_CONTROL_TOKEN`` give
a bearer token. A refusal prints the server's message and exits 1.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from .client import ControlClient


class ControlFailed(click.ClickException):
    """The control server refused or could not be reached (exit 1)."""

    exit_code = 1


def _client(ctx: click.Context) -> "ControlClient":
    from .client import ControlClient
    if not ctx.obj["url"]:  # checked here, not by click, so that `SUBCOMMAND --help` works
        raise click.UsageError("Missing option '--url' (or $PUMPSIM_CONTROL): the control URL "
                               "pumpsim serve printed", ctx)
    return ControlClient(ctx.obj["url"], token=ctx.obj["token"])


def _do(ctx: click.Context, method: str, *args: Any) -> Any:
    from .client import ControlRefused
    with _client(ctx) as client:
        try:
            return getattr(client, method)(*args)
        except ControlRefused as exc:
            raise ControlFailed(exc.message) from None


def _echo(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise click.BadParameter(f"{text!r} is not a number") from None


@click.group()
@click.option("--url", envvar="PUMPSIM_CONTROL", default=None,
              help="the control URL pumpsim serve printed (default: $PUMPSIM_CONTROL)")
@click.option("--token", envvar="PUMPSIM_CONTROL_TOKEN", default=None,
              help="bearer token (default: $PUMPSIM_CONTROL_TOKEN)")
@click.option("--token-file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="file holding the bearer token")
@click.pass_context
def control(ctx: click.Context, url: str | None, token: str | None, token_file: str | None) -> None:
    """Drive a running pump through its control API (pumpsim serve --control)."""
    if token_file:
        token = Path(token_file).read_text(encoding="utf-8").strip()
    ctx.obj = {"url": url, "token": token}


@control.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Pump status, truth ledger, link statistics, clock (JSON)."""
    _echo(_do(ctx, "status"))


@control.group()
def faults() -> None:
    """List, switch on and switch off model and link faults."""


@faults.command("list")
@click.pass_context
def faults_list(ctx: click.Context) -> None:
    """Every fault, its parameters (range, default) and whether it is on."""
    for f in _do(ctx, "faults"):
        params = ", ".join(f"{p['name']} {p['minimum']}..{p['maximum']} {p['unit']} "
                           f"(default {p['default']})" for p in f["params"])
        state = f"ON {f['values']}" if f["active"] else "off"
        click.echo(f"{f['name']:24} {f['kind']:5} {state:10} {f['description']}"
                   + (f"  [{params}]" if params else ""))


@faults.command("add")
@click.argument("name")
@click.argument("params", nargs=-1, metavar="[PARAM=VALUE]...")
@click.pass_context
def faults_add(ctx: click.Context, name: str, params: tuple[str, ...]) -> None:
    """Switch fault NAME on, e.g. ``link_drop probability=0.05``."""
    values: dict[str, int | float] = {}
    for item in params:
        key, sep, text = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not PARAM=VALUE")
        values[key] = _number(text)
    _echo(_with_params(ctx, name, values))


def _with_params(ctx: click.Context, name: str, values: dict[str, int | float]) -> Any:
    from .client import ControlRefused
    with _client(ctx) as client:
        try:
            return client.add_fault(name, **values)
        except ControlRefused as exc:
            raise ControlFailed(exc.message) from None


@faults.command("clear")
@click.argument("name")
@click.pass_context
def faults_clear(ctx: click.Context, name: str) -> None:
    """Switch fault NAME off."""
    _echo(_do(ctx, "clear_fault", name))


@control.group()
def clock() -> None:
    """Move, pause, resume or re-warp the pump's clock."""


@clock.command("advance")
@click.argument("duration")
@click.pass_context
def clock_advance(ctx: click.Context, duration: str) -> None:
    """Move pump time forward by DURATION (6h, 3d, 90s, 500ms)."""
    from host_tools.units import QuantityError, parse_duration_ms
    try:
        ms = parse_duration_ms(duration)
    except QuantityError as exc:
        raise click.BadParameter(str(exc)) from None
    _echo(_do(ctx, "advance_clock", ms))


@clock.command("pause")
@click.pass_context
def clock_pause(ctx: click.Context) -> None:
    """Stop pump time."""
    _echo(_do(ctx, "pause_clock"))


@clock.command("resume")
@click.pass_context
def clock_resume(ctx: click.Context) -> None:
    """Let pump time run again."""
    _echo(_do(ctx, "resume_clock"))


@clock.command("warp")
@click.argument("factor", type=float)
@click.pass_context
def clock_warp(ctx: click.Context, factor: float) -> None:
    """Run at FACTOR simulated seconds per real second."""
    _echo(_do(ctx, "set_warp", factor))


@control.command("power-cycle")
@click.pass_context
def power_cycle(ctx: click.Context) -> None:
    """Power loss and restart from the state file."""
    _echo(_do(ctx, "power_cycle"))


@control.command()
@click.pass_context
def reset(ctx: click.Context) -> None:
    """A fresh pump (the server needs --allow-reset)."""
    _echo(_do(ctx, "reset"))


@control.group()
def scenario() -> None:
    """Run scenarios on the pump."""


@scenario.command("run")
@click.argument("path", type=click.Path(dir_okay=False, exists=True))
@click.pass_context
def scenario_run(ctx: click.Context, path: str) -> None:
    """Start the YAML scenario in PATH."""
    _echo(_do(ctx, "run_scenario", Path(path).read_text(encoding="utf-8")))


@scenario.command("show")
@click.pass_context
def scenario_show(ctx: click.Context) -> None:
    """The running (or last) scenario's progress."""
    _echo(_do(ctx, "scenario"))


@control.command()
@click.option("--count", type=click.IntRange(min=1), default=None,
              help="stop after this many stream events")
@click.pass_context
def watch(ctx: click.Context, count: int | None) -> None:
    """Follow the pump live: a status line when it changes, each new log entry."""
    from .client import ControlRefused
    seen = 0
    with _client(ctx) as client:
        try:
            for event in client.stream():
                click.echo(_watch_line(event.kind, event.data))
                seen += 1
                if count is not None and seen >= count:
                    return
        except ControlRefused as exc:
            raise ControlFailed(exc.message) from None


def _watch_line(kind: str, data: Any) -> str:
    if kind == "status":
        p = data["pump"]
        alarms = ",".join(a["alarm"] for a in p["alarms"]) or "-"
        return (f"status t={p['time_ms']} ms {p['state']} rate {p['rate_nl_per_day']} nL/day "
                f"reservoir {p['reservoir_nl']} nL battery {p['battery_percent']} % "
                f"alarms {alarms}")
    if kind == "log":
        return f"log #{data['index']} t={data['time_ms']} ms {data['kind']} " \
               f"{json.dumps(data['details'], sort_keys=True)}"
    return f"{kind} {json.dumps(data)}"
