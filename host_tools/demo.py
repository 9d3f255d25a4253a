"""The end-to-end demo: a virtual pump on a real tty, programmed with pumpctl.

``python -m host_tools.demo`` starts ``pumpsim serve --url pty`` in the background with a time
warp, reads the tty path it prints, and drives it with ``pumpctl`` commands, exactly as a person
would in a terminal: read the status, set the clock, program the drug and the time-of-day schedule
of ``host_tools/examples/morphine_day.yaml``, fill the reservoir, set the patient-bolus limits,
start therapy, give a patient bolus and ask for a second one 15 minutes of pump time later
(denied: lockout; the pump's clock is paused and moved through the control API for the two
requests), let a warped day pass, then print status and log and write the plot to ``demo-out/``
in the current directory (``--out`` to choose; never inside the installed package). Last, the
control API (``pumpsim serve --control``) changes the pump's world from outside while the
programmer watches: ``pumpsim control`` jumps the clock six hours and stalls the motor, and
``pumpctl`` reads the FAULT and its alarm. It stops the
simulator with SIGTERM, checks that it exited cleanly, and exits 0 only if every step did what it
should. Nothing is left running, whatever happens.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from host_tools.control.process import ControlledPumpsim
from host_tools.simprocess import PumpsimStartError, pumpsim_command

EXAMPLE = Path(__file__).resolve().parent / "examples" / "morphine_day.yaml"
WARP = 14_400  # simulated seconds per real second: one pump day in 6 s
LOCKOUT = "8h"  # 2 s of real time at this warp: the second request comes well inside it


class DemoFailed(Exception):
    """A demo step did not do what it should (the message says which and why)."""


def _tool(name: str, module: str) -> list[str]:
    """The console script next to this interpreter, else ``python -m module``."""
    script = Path(sys.executable).with_name(name)
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", module]


def section(title: str) -> None:
    """A visible header for each part of the demo."""
    bar = "=" * 78
    print(f"\n{bar}\n== {title}\n{bar}", flush=True)


class Demo:
    """Runs the steps; every pumpctl call is echoed with its output."""

    def __init__(self, out_dir: Path, warp: int) -> None:
        self.out_dir = out_dir
        self.warp = warp
        self.pumpctl = _tool("pumpctl", "host_tools.pumpctl")
        self.pumpsim = pumpsim_command()
        self.device = ""
        self.control = ""

    def ctl(self, *args: str, expect: int = 0, json_out: bool = False) -> dict | str:
        """Run ``pumpctl --url DEVICE args``; fail unless it exits with ``expect``."""
        cmd = [*self.pumpctl, "--url", self.device, *args]
        print(f"$ pumpctl {' '.join(args)}", flush=True)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if not json_out and done.stdout:
            print(done.stdout.rstrip(), flush=True)
        if done.stderr.strip():
            print(done.stderr.rstrip(), file=sys.stderr, flush=True)
        if done.returncode != expect:
            raise DemoFailed(f"pumpctl {' '.join(args)} exited {done.returncode}, expected {expect}")
        if json_out:
            doc = json.loads(done.stdout)
            print(json.dumps(doc, indent=2), flush=True)
            return doc
        return done.stdout

    def run(self, state_dir: Path) -> None:
        section(f"starting pumpsim on a pseudo-terminal (warp {self.warp}x: a pump day in "
                f"{86_400 / self.warp:.0f} s)")
        cmd = [*self.pumpsim, "serve", "--url", "pty", "--warp", str(self.warp),
               "--state", str(state_dir / "pump.db"), "--control", "127.0.0.1:0"]
        print("$ " + " ".join(["pumpsim", *cmd[len(self.pumpsim):]]), flush=True)
        sim_log = state_dir / "pumpsim.log"  # a file, not a pipe: a full pipe would stall it
        try:
            sim = ControlledPumpsim(cmd[len(self.pumpsim) + 1:], sim_log)
        except PumpsimStartError as exc:
            raise DemoFailed(str(exc)) from None
        try:
            self.device = sim.device
            self.control = sim.control
            print(f"pumpsim serves the pump on {self.device}; its control API and dashboard: "
                  f"{self.control}", flush=True)
            self.steps()
            section("stopping pumpsim (SIGTERM)")
            rc = sim.stop(timeout_s=15)
            tail = "\n".join(sim_log.read_text(errors="replace").strip().splitlines()[-3:])
            if tail:
                print(tail, flush=True)
            if rc != 0:
                raise DemoFailed(f"pumpsim exited with code {rc} after SIGTERM "
                                 "(killed if it did not stop within 15 s)")
            print("pumpsim stopped cleanly (exit code 0)", flush=True)
        finally:
            sim.kill()

    def steps(self) -> None:
        section("1. status of a fresh pump")
        self.ctl("status")
        section("2. clock, drug and time-of-day schedule")
        self.ctl("clock", "set", "now")
        self.ctl("drug", "set", "morphine", "10mg/mL")
        self.ctl("schedule", "set", str(EXAMPLE), "--yes")
        section("3. fill the reservoir and set the patient-bolus limits")
        self.ctl("refill", "--withdrawn", "0", "--filled", "20mL", "--no-start")
        self.ctl("limits", "set", "--dose", "0.5mg", "--duration", "10min", "--lockout", LOCKOUT,
                 "--max-per-day", "4", "--threshold", "2mL")
        section("4. start therapy")
        self.ctl("start")
        section("5. patient bolus (granted), then an immediate second one (denied: lockout)")
        # the pump's clock is held still for the two requests (at this warp a slow machine
        # could let the whole lockout pass between them) and moved past the bolus's 10 minutes
        self.api("pause_clock")
        first = self.ctl("ptm", "--json", json_out=True)
        self.api("advance_clock", 15 * 60_000)
        second = self.ctl("ptm", "--json", json_out=True)
        self.api("resume_clock")
        if not first.get("granted"):
            raise DemoFailed(f"the first patient bolus was denied: {first.get('denial_reason')}")
        if second.get("granted") or second.get("denial_reason") != "LOCKOUT":
            raise DemoFailed(f"the second patient bolus was not denied for lockout: {second}")
        print("first bolus granted; second denied: LOCKOUT", flush=True)
        section(f"6. a warped day passes ({86_400 / self.warp:.0f} s)")
        before = self.ctl("status", "--json", json_out=True)
        time.sleep(86_400 / self.warp)
        after = self.ctl("status", "--json", json_out=True)
        used = before["reservoir_nl"] - after["reservoir_nl"]
        elapsed_h = (after["time_ms"] - before["time_ms"]) / 3_600_000
        print(f"pump time advanced {elapsed_h:.1f} h; {used / 1e6:.3f} mL delivered", flush=True)
        if elapsed_h < 20 or used <= 0:
            raise DemoFailed("the pump did not run a day of therapy")
        section("7. status, event log and plot")
        self.ctl("status")
        self.ctl("log", "--last", "25")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        png = self.out_dir / "pump-day.png"
        self.ctl("plot", "--hours", "24h", "--out", str(png))
        if png.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
            raise DemoFailed(f"{png} is not a PNG")
        self.control_steps()

    def api(self, method: str, *args: int) -> None:
        """Call ``ControlClient.method(*args)`` on the control API (from Python); echoed."""
        from host_tools.control.client import ControlClient, ControlRefused
        with ControlClient(self.control) as client:
            try:
                result = getattr(client, method)(*args)
            except ControlRefused as exc:
                raise DemoFailed(f"the control API refused {method}: {exc.message}") from None
        print(f">>> control.{method}({', '.join(map(str, args))}) -> {result}", flush=True)

    def sim_control(self, *args: str) -> dict:
        """Run ``pumpsim control --url CONTROL args`` (JSON out); fail unless it exits 0."""
        print(f"$ pumpsim control {' '.join(args)}", flush=True)
        done = subprocess.run([*self.pumpsim, "control", "--url", self.control, *args],
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise DemoFailed(f"pumpsim control {' '.join(args)} exited {done.returncode}: "
                             f"{done.stderr.strip()}")
        print(done.stdout.rstrip(), flush=True)
        return json.loads(done.stdout) if done.stdout.startswith("{") else {}

    def control_steps(self) -> None:
        section("8. the control API: jump the clock, stall the motor, the programmer sees it")
        before = self.ctl("status", "--json", json_out=True)
        self.sim_control("clock", "advance", "6h")
        after = self.ctl("status", "--json", json_out=True)
        print(f"{(before['reservoir_nl'] - after['reservoir_nl']) / 1e6:.3f} mL delivered in "
              "the jump", flush=True)
        self.sim_control("faults", "add", "motor_stall")
        stalled = self.ctl("status", "--json", json_out=True)
        if stalled["state"] != "FAULT" or "MOTOR_STALL" not in stalled["active_alarms"]:
            raise DemoFailed(f"the programmer did not see the motor stall: {stalled}")
        self.sim_control("faults", "clear", "motor_stall")
        print("motor stall raised from outside, read by the programmer, cleared", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the demo; 0 on success, 1 if a step failed."""
    parser = argparse.ArgumentParser(prog="python -m host_tools.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("demo-out"),
                        help="where the plot goes (default: demo-out in the current directory)")
    parser.add_argument("--warp", type=int, default=WARP, help="pumpsim time warp")
    args = parser.parse_args(argv)
    state_dir = Path(tempfile.mkdtemp(prefix="intrapump-demo-"))
    started = time.monotonic()
    try:
        Demo(args.out, args.warp).run(state_dir)
    except (DemoFailed, subprocess.TimeoutExpired, OSError, ValueError) as exc:
        print(f"\nDEMO FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    section(f"demo finished in {time.monotonic() - started:.1f} s: all steps succeeded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
