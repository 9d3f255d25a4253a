"""pumpctl commands for the bench: wireshark (the dissector), replay (a capture again) and shell."""
from __future__ import annotations

import sys
from pathlib import Path

import click

import hal
from hal.capture import CaptureFormatError
from hal.errors import LinkOpenError
from host_tools import wireshark as ws
from host_tools.client import PumpClient
from host_tools.errors import ConnectionFailed
from host_tools.pumpctl.common import (Connection, FileProblem, emit_json_line, json_option,
                                       pass_conn, print_json)
from host_tools.replay import CLOCK_FIELDS, TIMINGS
from host_tools.replay import replay as run_replay
from protocol.enums import Role


@click.command()
@click.option("--install", "install_it", is_flag=True,
              help="Copy the dissector into Wireshark's personal plugin folder.")
@click.option("--plugin-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Install into this folder instead.")
@json_option
def wireshark(install_it: bool, plugin_dir: Path | None, as_json: bool) -> None:
    """Print the path of the Wireshark dissector and the command that uses it (or install it)."""
    tshark, gui = ws.usage_commands()
    installed = str(ws.install(plugin_dir)) if install_it or plugin_dir is not None else None
    if as_json:
        print_json({"dissector": str(ws.dissector_path()), "tshark": tshark, "wireshark": gui,
                    "installed": installed})
        return
    click.echo(f"dissector: {ws.dissector_path()}")
    click.echo(tshark)
    click.echo(gui)
    if installed:
        click.echo(f"installed: {installed} (Wireshark loads it at start; no -X needed)")


COMMANDS = [wireshark]


@click.command()
@click.argument("capture", type=click.Path(exists=True, dir_okay=False))
@click.option("--timing", type=click.Choice(TIMINGS), default="fast", show_default=True,
              help="original: keep the capture's spacing between requests; fast: no waiting.")
@click.option("--ignore", "ignore_fields", multiple=True, metavar="FIELD",
              help="A field not to compare (repeatable; default: the clock fields).")
@click.option("--strict", is_flag=True, help="Compare every field, clock readings included.")
@json_option
@pass_conn
def replay(conn: Connection, capture: str, timing: str, ignore_fields: tuple[str, ...], strict: bool,
           as_json: bool) -> None:
    """Send the host side of CAPTURE again (re-signed in a new session) and report every answer
    that differs from the recorded one. Exit 0 when all match, 1 otherwise."""
    ignore = frozenset(ignore_fields) if ignore_fields else (frozenset() if strict else CLOCK_FIELDS)
    results = []
    try:
        with conn.client() as client:
            for result in run_replay(capture, client, timing=timing, ignore=ignore):
                results.append(result)
                if as_json:
                    emit_json_line(result.to_json())
                elif result.same:
                    click.echo(f"#{result.index:<4} {result.request:<18} {result.replayed}: same")
                else:
                    click.echo(f"#{result.index:<4} {result.request:<18} DIFFERS: "
                               + "; ".join(result.differences))
    except CaptureFormatError as exc:
        raise FileProblem(str(exc)) from None
    except ValueError as exc:
        raise FileProblem(str(exc)) from None
    differing = sum(not r.same for r in results)
    summary = f"{len(results)} requests replayed, {differing} answers differ"
    if differing:
        raise ReplayDiffers(summary)
    if not as_json:
        click.echo(summary)


class ReplayDiffers(click.ClickException):
    """Some replayed answers differ from the recorded ones (exit code 1)."""

    exit_code = 1


COMMANDS.append(replay)


@click.command()
@click.option("--history", "history_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="History file (default when interactive: ~/.pumpctl_history).")
@pass_conn
def shell(conn: Connection, history_path: Path | None) -> None:
    """Interactive prompt: typed commands, 'send MSG field=...', 'raw a5 5a ...', events as they
    arrive, Tab completion and history."""
    from host_tools.shell import PumpShell, TapLink, default_history

    if not conn.url:
        raise click.UsageError("--url is required (or set PUMPCTL_URL)")
    interactive = sys.stdin.isatty()
    try:
        link = hal.open(conn.url, **conn.link_options())
    except LinkOpenError as exc:
        raise ConnectionFailed(str(exc)) from None
    tap = TapLink(link)
    role = conn.role_for(Role.CLINICIAN)
    try:
        with PumpClient(tap, role, conn.key_for(role), timeout_s=conn.response_timeout_s(),
                        retries=conn.retries) as client:
            history = history_path or (default_history() if interactive else None)
            shell_ = PumpShell(client, tap, stdin=None if interactive else sys.stdin,
                               stdout=sys.stdout, history=history)
            if not interactive:
                shell_.prompt = ""
                shell_.intro = None
            shell_.cmdloop()
    finally:
        tap.close()


COMMANDS.append(shell)
