"""``pumpsim``: run a virtual pump on a link, so programmer software can talk to it.

    pumpsim serve --url pty                          # prints "device: /dev/pts/N" first
    pumpsim serve --url tcp-listen://127.0.0.1:7070 --warp 3600 --state pump.db
    pumpsim serve --url /dev/ttyUSB0 --baud 115200 --keys pump-keys.json --log-frames
    pumpsim keys generate pump-keys.json --serial IP-000042
    pumpsim profiles

``serve`` prints one line ``device: <URL a host opens>`` on stdout (flushed) before anything
else, then logs to stderr. SIGINT/SIGTERM stop it with the state committed (exit 0). Bad
options print one line and exit 2.
"""
from __future__ import annotations

import logging
import os
import signal
import sqlite3
import sys
import threading
from pathlib import Path
from typing import Any

import click

import hal
from hal.urls import split_url
from firmware_sim import ManualClock, ProfileError, Pump, ScaledClock, Storage, load_profile
from firmware_sim.device import Device
from firmware_sim.profile import PROFILE_DIR
from host_tools.capture_frames import FrameSegmenter
from protocol import KeyFileError, dump_keys, generate_keys, load_keys
from protocol.frame import PROTOCOL_VERSION

log = logging.getLogger("pumpsim")

EXIT_USAGE = 2
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class UsageProblem(click.UsageError):
    """A bad option value found after parsing (exit 2, one line)."""


def _host_url(link: hal.Link, url: str) -> str:
    """The URL/path a host opens to reach this pump end."""
    path = getattr(link, "device_path", None)
    if path:
        return str(path)
    bound = getattr(link, "bound_address", None)
    if bound:
        return f"socket://{bound[0]}:{bound[1]}"
    return url


def _check_url(url: str) -> None:
    bare = url[len("fault+"):] if url.lower().startswith("fault+") else url
    if bare.lower().startswith("virtual://"):
        raise UsageProblem("virtual:// links exist only inside one process; use --url pty, "
                           "--url tcp-listen://HOST:PORT or a serial port")
    if bare.lower().startswith(("socket://", "tcp://")):
        raise UsageProblem(f"{url} is a host end; the pump listens with tcp-listen://HOST:PORT")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="intrapump", prog_name="pumpsim",
                      message="%(prog)s (intrapump) %(version)s, protocol version " + str(PROTOCOL_VERSION))
def cli() -> None:
    """Run and provision virtual intrapump pumps."""


@cli.command()
@click.option("--url", required=True,
              help="pty | tcp-listen://HOST:PORT | serial port (/dev/ttyUSB0, COM3) | pyserial URL")
@click.option("--baud", type=click.IntRange(min=1), default=None,
              help="baud rate of a serial port")
@click.option("--warp", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="simulated seconds per real second")
@click.option("--state", "state_path", type=click.Path(dir_okay=False), default=None,
              help="SQLite state file (the pump resumes from it); default: in memory")
@click.option("--profile", default="ip20", show_default=True, help="ip20, ip40 or a TOML file")
@click.option("--faults", default=None, help="fault injection, e.g. drop=0.01,corrupt=0.001,seed=7")
@click.option("--capture", type=click.Path(dir_okay=False), default=None,
              help="record the link to a pcapng file")
@click.option("--log-frames", is_flag=True, help="log every frame, decoded, one line each")
@click.option("--keys", "keys_path", type=click.Path(dir_okay=False), default=None,
              help="key file (default: the public development keys)")
@click.option("--serial", "serial_number", default="IP-000001", show_default=True,
              help="serial number reported by IDENTIFY")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"],
                                               case_sensitive=False),
              default="INFO", show_default=True)
def serve(url: str, baud: int | None, warp: float, state_path: str | None, profile: str,
          faults: str | None, capture: str | None, log_frames: bool, keys_path: str | None,
          serial_number: str, log_level: str) -> None:
    """Serve one virtual pump on URL until SIGINT/SIGTERM."""
    # Until the device line is out, problems are reported as one line only (exit 2).
    quiet = logging.NullHandler()
    root = logging.getLogger()
    root.addHandler(quiet)
    try:
        _check_url(url)
        prof, keys = _load(profile, keys_path, serial_number, state_path)
        link = _open(url, baud, faults, capture)
    except BaseException:
        root.removeHandler(quiet)
        raise
    print(f"device: {_host_url(link, url)}", flush=True)
    root.removeHandler(quiet)
    logging.basicConfig(level=log_level.upper(), format=LOG_FORMAT, stream=sys.stderr)
    log.info("%s open", link.name)
    options: dict[str, Any] = {} if baud is None else {"baud": baud}
    try:
        _run(link, url, options, faults, prof, state_path, keys, serial_number, warp, log_frames)
    finally:
        link.close()


def _load(profile: str, keys_path: str | None, serial_number: str,
          state_path: str | None) -> tuple[Any, Any]:
    """Check the options that need no link: (profile, keys or None)."""
    try:
        prof = load_profile(profile)
    except ProfileError as exc:
        raise UsageProblem(f"--profile: {exc}") from None
    keys = None
    if keys_path is not None:
        try:
            keys = load_keys(keys_path)
        except KeyFileError as exc:
            raise UsageProblem(f"--keys: {exc}") from None
    if len(serial_number.encode("utf-8")) > 16:
        raise UsageProblem("--serial: at most 16 bytes")
    if state_path is not None and not Path(state_path).resolve().parent.is_dir():
        raise UsageProblem(f"--state: directory of {state_path} does not exist")
    return prof, keys


def _open(url: str, baud: int | None, faults: str | None, capture: str | None) -> hal.Link:
    """The pump end of ``url`` (UsageProblem if it cannot be opened)."""
    _check_url(url)
    options: dict[str, Any] = {} if baud is None else {"baud": baud}
    try:
        if capture is not None:  # one packet per frame (see host_tools.capture_frames)
            options["capture_segmenter"] = FrameSegmenter
        return hal.open(url, end="pump", faults=faults, capture=capture, **options)
    except hal.LinkError as exc:
        raise UsageProblem(f"--url: {exc}") from None


def _run(link: hal.Link, url: str, options: dict[str, Any], faults: str | None, prof: Any,
         state_path: str | None, keys: Any, serial_number: str, warp: float,
         log_frames: bool) -> None:
    try:
        storage = Storage(state_path or ":memory:")
    except (sqlite3.Error, OSError) as exc:
        raise UsageProblem(f"--state: cannot use {state_path}: {exc}") from None
    try:
        try:
            pump = Pump(prof, storage, ManualClock(0))
        except sqlite3.Error as exc:
            raise UsageProblem(f"--state: cannot write {state_path}: {exc}") from None
        if storage.fault:
            log.error("state file %s was unusable (%s); started fresh with a memory alarm",
                      state_path, storage.fault)
        pump.clock = ScaledClock(warp, start_ms=pump.t_ms)
        log.info("pump %s, profile %s, state %s, warp %g, run clock at %d ms", serial_number,
                 pump.profile.name, state_path or "in memory", warp, pump.t_ms)
        reopen = None
        if split_url(url)[0] not in ("pty", "tcp-listen") and \
                not url.lower().startswith("fault+"):
            def reopen() -> hal.Link:
                """The serial port again (after it was unplugged)."""
                return hal.open(url, end="pump", faults=faults, **options)
        stop = threading.Event()

        def on_signal(signum: int, frame: Any) -> None:
            """SIGINT/SIGTERM: stop serving; the state is committed on the way out."""
            log.info("%s received: stopping", signal.Signals(signum).name)
            stop.set()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        device = Device(pump, link, keys, serial_number=serial_number, log_frames=log_frames,
                        reopen=reopen)
        try:
            device.serve_forever(stop)
        finally:
            device.close()
            st = device.pump.status()
            log.info("stopped at run clock %d ms: %s, reservoir %d nL, %d events; state %s",
                     st.time_ms, st.state.name, st.reservoir_nl, st.event_count,
                     "committed" if state_path else "discarded (in memory)")
    finally:
        storage.close()


@cli.group()
def keys() -> None:
    """Per-device key files."""


@keys.command("generate")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--serial", "serial_number", default=None, help="serial number recorded in the file")
@click.option("--force", is_flag=True, help="overwrite an existing file")
def keys_generate(path: str, serial_number: str | None, force: bool) -> None:
    """Write fresh random role keys to PATH (mode 0600)."""
    if os.path.exists(path) and not force:
        raise UsageProblem(f"{path} exists; use --force to overwrite it")
    text = dump_keys(generate_keys(), serial_number) + "\n"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        fd = os.open(path, flags, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(path, 0o600)
    except OSError as exc:
        raise UsageProblem(f"cannot write {path}: {exc}") from None
    click.echo(f"wrote {path}")


@cli.command()
def profiles() -> None:
    """List the shipped device profiles."""
    for path in sorted(PROFILE_DIR.glob("*.toml")):
        p = load_profile(path.stem)
        click.echo(f"{path.stem}: reservoir {p.reservoir_capacity_nl / 1e6:g} mL, rate "
                   f"{p.min_rate_nl_per_day}..{p.max_rate_nl_per_day} nL/day, "
                   f"drugs {', '.join(sorted(p.drugs))}")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: usage errors are one line on stderr and exit 2."""
    try:
        rv = cli.main(args=argv, prog_name="pumpsim", standalone_mode=False)
    except click.UsageError as exc:
        click.echo(f"pumpsim: error: {exc.format_message()}", err=True)
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        click.echo(f"pumpsim: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.Abort:
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
