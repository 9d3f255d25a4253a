"""pumpctl monitor (live view from telemetry), sniff (frame decoder) and ports."""
from __future__ import annotations

import os
import threading
import time

import click
from rich.live import Live

import hal
from hal.capture import CaptureFormatError
from hal.errors import LinkOpenError
from host_tools import sniff as sniffer
from host_tools.errors import ConnectionFailed
from host_tools.pumpctl.common import (Connection, FileProblem, console, emit_json_line,
                                       json_option, pass_conn, print_json)
from host_tools.pumpctl.views import monitor_view, name_of
from host_tools.records import AlarmEvent, Status, StatusPush
from host_tools.units import ml, ml_per_day, parse_duration_ms, wall_text


def _event_line(event: AlarmEvent | StatusPush, offset_ms: int) -> str:
    if isinstance(event, AlarmEvent):
        what = "raised" if event.raised else "cleared"
        return f"{wall_text(event.time_ms + offset_ms)} alarm {name_of(event.alarm)} {what} ({name_of(event.priority)})"
    st = event.status
    return (f"{wall_text(st.wall_ms)} {name_of(st.state)} {ml_per_day(st.rate_nl_per_day)} "
            f"reservoir {ml(st.reservoir_nl)}")


@click.command()
@click.option("--duration", type=float, default=None, help="Stop after this many seconds (default: until Ctrl-C).")
@click.option("--interval", default="1s", show_default=True,
              help="Telemetry period asked from the pump (pump time, e.g. 1s, 1min).")
@click.option("--refresh", type=float, default=1.0, show_default=True,
              help="Poll the status at least this often (seconds) when no telemetry arrives.")
@json_option
@pass_conn
def monitor(conn: Connection, duration: float | None, interval: str, refresh: float, as_json: bool) -> None:
    """Live view of state, rate, reservoir and alarms, updated as telemetry arrives.

    With --json: JSON lines, flushed as they come (first the status, then one object per event
    or status poll, each with "event": Status, StatusPush or AlarmEvent), e.g. for ``| jq``."""
    try:
        interval_ms = parse_duration_ms(interval)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--interval") from None
    deadline = None if duration is None else time.monotonic() + duration
    lines: list[str] = []
    with conn.client() as client:
        client.set_telemetry(interval_ms)
        status: Status = client.status()
        pushes = 0
        if as_json:
            emit_json_line({"event": "Status", **status.to_json()})

        def render():
            return monitor_view(status, lines, f"{pushes} pushes")

        live = Live(render(), console=console, auto_refresh=False, transient=False) \
            if not as_json else None
        try:
            if live is not None:
                live.start()
            last_poll = time.monotonic()
            while deadline is None or time.monotonic() < deadline:
                wait = refresh if deadline is None else max(0.0, min(refresh, deadline - time.monotonic()))
                event = client.next_event(timeout=wait)
                if event is None:
                    if time.monotonic() - last_poll >= refresh:
                        status = client.status()
                        last_poll = time.monotonic()
                        if as_json:
                            emit_json_line({"event": "Status", **status.to_json()})
                else:
                    if isinstance(event, StatusPush):
                        changed = (event.status.state, event.status.bolus_kind) != \
                            (status.state, status.bolus_kind)
                        status = event.status
                        pushes += 1
                        last_poll = time.monotonic()
                        if changed:  # the event list shows changes, not every push
                            lines.append(_event_line(event, status.wall_offset_ms))
                    else:
                        lines.append(_event_line(event, status.wall_offset_ms))
                    if as_json:
                        emit_json_line({"event": type(event).__name__, **event.to_json()})
                if live is not None:
                    live.update(render(), refresh=True)
        except KeyboardInterrupt:
            pass
        finally:
            if live is not None:
                live.stop()
            try:
                client.set_telemetry(0)
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass


@click.command()
@click.argument("source")
@click.option("--relay", "relay_to", metavar="PUMP_URL",
              help="Serve SOURCE as the pump end (e.g. 'pty') and forward to PUMP_URL, decoding both ways.")
@click.option("--duration", type=float, default=None, help="Stop listening after this many seconds.")
@click.option("--count", type=click.IntRange(min=1), default=None, help="Stop after this many frames.")
@click.option("--no-hex", is_flag=True, help="Do not print the frames' bytes.")
@json_option
def sniff(source: str, relay_to: str | None, duration: float | None, count: int | None,
          no_hex: bool, as_json: bool) -> None:
    """Decode frames in a capture file (pcapng) or on a link URL: time, direction, type,
    fields, hex. With --json: one JSON object per frame and line, flushed as it is decoded."""
    seen = 0
    stop = threading.Event()

    def emit(item: sniffer.Sniffed) -> None:
        nonlocal seen
        seen += 1
        if as_json:
            emit_json_line(item.to_json())
        else:
            click.echo(item.line(with_hex=not no_hex))
        if count is not None and seen >= count:
            stop.set()

    if os.path.isfile(source) and relay_to is None:
        try:
            for item in sniffer.from_capture(source):
                emit(item)
                if stop.is_set():
                    break
        except CaptureFormatError as exc:
            raise FileProblem(str(exc)) from None
    elif relay_to is not None:
        try:
            host_side = hal.open(source, end="pump")
            pump_side = hal.open(relay_to)
        except LinkOpenError as exc:
            raise ConnectionFailed(str(exc)) from None
        path = getattr(host_side, "device_path", None)
        click.echo(f"device: {path or host_side.name}", err=True)
        timer = threading.Timer(duration, stop.set) if duration is not None else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            sniffer.relay(host_side, pump_side, emit, stop)
        except KeyboardInterrupt:
            stop.set()
        finally:
            if timer is not None:
                timer.cancel()
            host_side.close()
            pump_side.close()
    else:
        try:
            link = hal.open(source)
        except LinkOpenError as exc:
            raise ConnectionFailed(str(exc)) from None
        try:
            for item in sniffer.from_link(link, duration_s=duration, stop=stop):
                emit(item)
        except KeyboardInterrupt:
            pass
        finally:
            link.close()


@click.command()
@json_option
def ports(as_json: bool) -> None:
    """List the serial ports of this computer."""
    found = hal.list_ports()
    if as_json:
        print_json({"ports": [{"device": p.device, "description": p.description, "hwid": p.hwid}
                              for p in found]})
        return
    if not found:
        console.print("no serial ports found")
    for p in found:
        console.print(f"{p.device}  {p.description}  {p.hwid}")


COMMANDS = [monitor, sniff, ports]
