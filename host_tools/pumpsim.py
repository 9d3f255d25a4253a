"""``pumpsim``: run a virtual pump on a link, so programmer software can talk to it.

    pumpsim serve --url pty                          # prints "device: /dev/pts/N" first
    pumpsim serve --url tcp-listen://127.0.0.1:7070 --warp 3600 --state pump.db
    pumpsim serve --url /dev/ttyUSB0 --baud 115200 --keys pump-keys.json --log-frames
    pumpsim keys generate pump-keys.json --serial IP-000042
    pumpsim serve --url pty --control 127.0.0.1:0    # then "control: http://127.0.0.1:PORT/"
    pumpsim serve --url pty --scenario host_tools/control/scenarios/motor_stall_refill.yaml
    pumpsim control --url http://127.0.0.1:PORT/ faults list
    pumpsim profiles
    pumpsim accuracy --profile ip20 --rate 1000000 --fault over_infusion:permille=145 --out acc

``serve`` prints one line ``device: <URL a host opens>`` on stdout (flushed) before anything
else, then logs to stderr; with ``--control`` the next line is
``control: <URL of the control API and dashboard>`` (and ``control-token: TOKEN`` when remote
access is allowed and no token file was given). SIGINT/SIGTERM stop it with the state committed (exit 0). Bad
options print one line and exit 2.
"""
from __future__ import annotations

import ipaddress
import logging
import os
import signal
import sqlite3
import sys
import threading
from pathlib import Path
from typing import Any, Callable

import click

import hal
from hal.urls import split_url
from firmware_sim import ManualClock, ProfileError, Pump, ScaledClock, Storage, load_profile
from firmware_sim.device import Device
from firmware_sim.profile import PROFILE_DIR
from host_tools.capture_frames import FrameSegmenter
from protocol import KeyFileError, dump_keys, generate_keys, load_keys
from protocol.frame import PROTOCOL_VERSION

from host_tools.control.cli import control as control_group

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
              help="baud rate of a serial port; with pty, paces the tty like a line of that speed")
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
@click.option("--allow-remote-dev-keys", is_flag=True,
              help="let a TCP pump end on a non-loopback address use the public development keys")
@click.option("--serial", "serial_number", default="IP-000001", show_default=True,
              help="serial number reported by IDENTIFY")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"],
                                               case_sensitive=False),
              default="INFO", show_default=True)
@click.option("--control", "control_address", default=None, metavar="HOST:PORT",
              help="serve the control API and dashboard there (loopback; port 0 = any free)")
@click.option("--control-allow-remote", is_flag=True,
              help="let --control listen on a non-loopback address (a bearer token is required)")
@click.option("--control-token-file", type=click.Path(dir_okay=False), default=None,
              help="file holding the control API's bearer token (default: generated, printed)")
@click.option("--allow-reset", is_flag=True, help="allow POST /api/reset (a fresh pump)")
@click.option("--scenario", "scenario_path", type=click.Path(dir_okay=False), default=None,
              help="run this YAML scenario against the pump")
def serve(url: str, baud: int | None, warp: float, state_path: str | None, profile: str,
          faults: str | None, capture: str | None, log_frames: bool, keys_path: str | None,
          serial_number: str, log_level: str, control_address: str | None,
          control_allow_remote: bool, control_token_file: str | None, allow_reset: bool,
          scenario_path: str | None, allow_remote_dev_keys: bool = False) -> None:
    """Serve one virtual pump on URL until SIGINT/SIGTERM.

    ``tcp-listen://:PORT`` listens on loopback only; a TCP pump end on any other address needs
    ``--keys`` (the development keys are public), or ``--allow-remote-dev-keys`` to say so."""
    # Until the device line is out, problems are reported as one line only (exit 2).
    quiet = logging.NullHandler()
    root = logging.getLogger()
    root.addHandler(quiet)
    control = None
    try:
        _check_url(url)
        prof, keys = _load(profile, keys_path, serial_number, state_path)
        control = _control_options(control_address, control_allow_remote, control_token_file,
                                   allow_reset, scenario_path)
        link = _open(url, baud, faults, capture)
        _check_remote_dev_keys(link, keys, allow_remote_dev_keys)
    except BaseException:
        root.removeHandler(quiet)
        if control is not None and control.sock is not None:
            control.sock.close()
        raise
    if control is not None:
        from host_tools.control.serve import wrap_link
        link = wrap_link(link)
    print(f"device: {_host_url(link, url)}", flush=True)
    root.removeHandler(quiet)
    logging.basicConfig(level=log_level.upper(), format=LOG_FORMAT, stream=sys.stderr)
    log.info("%s open", link.name)
    options: dict[str, Any] = {} if baud is None else {"baud": baud}
    try:
        if control is None:
            _run(link, url, options, faults, prof, state_path, keys, serial_number, warp,
                 log_frames)
        else:
            _run_controlled(link, url, options, faults, prof, state_path, keys, serial_number,
                            warp, log_frames, control)
    finally:
        link.close()


def _check_remote_dev_keys(link: hal.Link, keys: Any, allowed: bool) -> None:
    """UsageProblem (and the link closed) for a TCP pump end reachable from other machines with
    the public development keys, unless ``allowed``."""
    bound = getattr(link, "bound_address", None)
    if bound is None or keys is not None or allowed:
        return
    try:
        loopback = ipaddress.ip_address(bound[0]).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        link.close()
        raise UsageProblem(f"--url: {bound[0]} is not a loopback address and the pump would use "
                           "the public development keys; give --keys FILE (pumpsim keys generate) "
                           "or --allow-remote-dev-keys")


def _control_options(address: str | None, allow_remote: bool, token_file: str | None,
                     allow_reset: bool, scenario_path: str | None) -> Any:
    """The checked control options (None when neither --control nor --scenario is given);
    the control socket is bound here, so a busy address is a usage error."""
    if address is None and scenario_path is None:
        for flag, given in (("--control-allow-remote", allow_remote),
                            ("--control-token-file", token_file), ("--allow-reset", allow_reset)):
            if given:
                raise UsageProblem(f"{flag} needs --control")
        return None
    from host_tools.control.address import ControlAddressError, ControlOptions, bind, read_token
    from host_tools.control.scenario import ScenarioError, parse_scenario
    opts = ControlOptions(allow_reset=allow_reset, allow_remote=allow_remote)
    try:
        if scenario_path is not None:
            opts.scenario = parse_scenario(Path(scenario_path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageProblem(f"--scenario: cannot read {scenario_path}: {exc}") from None
    except ScenarioError as exc:
        raise UsageProblem(f"--scenario: {scenario_path}: {exc}") from None
    try:
        if token_file is not None:
            opts.token = read_token(token_file)
        if address is not None:
            opts.sock = bind(address, allow_remote=allow_remote)
    except ControlAddressError as exc:
        raise UsageProblem(f"--control: {exc}") from None
    return opts


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
        reopen = _reopener(url, faults, options)
        stop = _stop_on_signals()
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


def _reopener(url: str, faults: str | None,
              options: dict[str, Any]) -> Callable[[], hal.Link] | None:
    """How to open a serial port again after it was unplugged (None for pty and tcp-listen
    ends, which serve successive hosts themselves, and for fault-wrapped URLs)."""
    if split_url(url)[0] in ("pty", "tcp-listen") or url.lower().startswith("fault+"):
        return None

    def reopen() -> hal.Link:
        """The serial port again (after it was unplugged)."""
        return hal.open(url, end="pump", faults=faults, **options)
    return reopen


def _stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM: stop serving; the state is committed on the way out."""
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    return stop


def _run_controlled(link: hal.Link, url: str, options: dict[str, Any], faults: str | None,
                    prof: Any, state_path: str | None, keys: Any, serial_number: str,
                    warp: float, log_frames: bool, control: Any) -> None:
    from host_tools.control.errors import ControlError
    from host_tools.control.serve import serve_controlled
    reopen = _reopener(url, faults, options)
    stop = _stop_on_signals()
    try:
        serve_controlled(link, prof, control, state_path=state_path, warp=warp, stop=stop,
                         announce=lambda line: print(line, flush=True), keys=keys,
                         serial_number=serial_number, log_frames=log_frames, reopen=reopen)
    except (sqlite3.Error, OSError) as exc:
        raise UsageProblem(f"--state: cannot use {state_path}: {exc}") from None
    except ControlError as exc:
        raise UsageProblem(f"--scenario: {exc.message}") from None


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


cli.add_command(control_group)


@cli.command()
def profiles() -> None:
    """List the shipped device profiles."""
    for path in sorted(PROFILE_DIR.glob("*.toml")):
        p = load_profile(path.stem)
        click.echo(f"{path.stem}: reservoir {p.reservoir_capacity_nl / 1e6:g} mL, rate "
                   f"{p.min_rate_nl_per_day}..{p.max_rate_nl_per_day} nL/day, "
                   f"drugs {', '.join(sorted(p.drugs))}")


def _parse_fault(text: str) -> tuple[str, dict[str, int]]:
    """``name`` or ``name:param=value,param=value`` (integers) -> (name, parameters)."""
    name, _, rest = text.partition(":")
    params: dict[str, int] = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        try:
            params[key.strip()] = int(value.replace("_", ""))
        except ValueError:
            eq = ""
        if not eq:
            raise UsageProblem(f"--fault {text}: expected NAME or NAME:PARAM=INTEGER,...")
    return name.strip(), params


@cli.command()
@click.option("--profile", "profile_name", default="ip20", show_default=True,
              help="device profile (name or TOML path)")
@click.option("--rate", "rate_nl_per_day", type=int, default=1_000_000, show_default=True,
              help="programmed rate, nL/day")
@click.option("--fault", "faults", multiple=True, metavar="NAME[:PARAM=N,...]",
              help="a model fault active during the test (repeatable), e.g. "
                   "over_infusion:permille=145 or occlusion:blocked_percent=50")
@click.option("--ideal", is_flag=True, help="switch the mechanism's error model off")
@click.option("--out", "out", default="accuracy", show_default=True,
              help="output path without extension: writes OUT.png and OUT.json")
def accuracy(profile_name: str, rate_nl_per_day: int, faults: tuple[str, ...], ideal: bool,
             out: str) -> None:
    """IEC 60601-2-24 accuracy test of the emulated mechanism: start-up graph and trumpet curve
    (PNG), windows with their max/min error and the mean error (JSON), and a table."""
    from rich.console import Console

    from firmware_sim.errors import Rejected
    from host_tools import accuracy as acc

    try:
        prof = load_profile(profile_name)
    except ProfileError as exc:
        raise UsageProblem(str(exc)) from None
    wanted = dict(_parse_fault(f) for f in faults)
    try:
        report = acc.run_accuracy(prof, rate_nl_per_day, wanted, ideal=ideal)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    except Rejected as exc:
        raise UsageProblem(f"--fault: {exc.code.value} ({exc.field}): {exc.reason}") from None
    try:
        png = acc.write_png(report, f"{out}.png")
        js = acc.write_json(report, f"{out}.json")
    except OSError as exc:
        raise UsageProblem(f"--out: cannot write {out}: {exc}") from None
    Console().print(acc.rich_table(report))
    click.echo(f"wrote {png} and {js}")


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
