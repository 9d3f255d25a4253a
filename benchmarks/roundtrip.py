"""Whole-stack round trips through PumpClient: status and a 48-step set-schedule.

Each round trip goes client -> protocol (encode, tag, CRC) -> link -> device (decode, session
check, dispatch, model, storage commit) -> back. Two links:

* ``virtual``: the in-process virtual pair to a device started with ``start_virtual_pump``;
* ``pty``: a pseudo-terminal to a ``pumpsim serve --url pty`` process;
* ``pty-control``: the same with the control server running (``--control 127.0.0.1:0``) and a
  dashboard client streaming its live status and event log the whole time. Its status p99 is
  compared with ``pty``'s from the same run (target: within 20 %); the two are measured in
  ten alternating blocks so that a busy moment of the machine weighs on both alike.

    python benchmarks/roundtrip.py            # a table
    python benchmarks/roundtrip.py --json     # {"virtual": {"status_p50_us": .., "status_p99_us": ..,
                                              #   "schedule_p50_us": .., "schedule_p99_us": ..}, "pty": {..}}

The pumps keep their state in memory by default (the link and protocol stack is measured);
``--state-file`` adds a SQLite file, whose commits then dominate (each request that finds the
pump's time advanced commits its state).

Targets: virtual status p99 < 1 ms, pty status p99 < 2 ms, pty-control status p99 within 20 %
of pty's.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from host_tools.client import PumpClient  # noqa: E402
from host_tools.simprocess import PumpsimProcess  # noqa: E402
from host_tools.records import Step  # noqa: E402

STEPS_48 = [Step(30 * i, 100_000 + 1_000 * i) for i in range(48)]
TARGETS_US = {"virtual": 1_000, "pty": 2_000, "pty-control": 2_000}
CONTROL_OVERHEAD = 1.20  # pty-control status p99 at most 20 % above pty's
BLOCKS = 10  # pty and pty-control status are measured in this many alternating blocks each


def _percentile(samples: list[int], q: float) -> int:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _time(call: Callable[[], object], rounds: int, warmup: int) -> list[int]:
    for _ in range(warmup):
        call()
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        call()
        out.append(time.perf_counter_ns() - t0)
    return out


def measure(client: PumpClient, rounds: int, schedule_rounds: int, warmup: int) -> dict[str, int]:
    """p50/p99 of status and of a 48-step set-schedule, in microseconds."""
    client.set_drug("morphine", 10_000)
    status = _time(client.status, rounds, warmup)
    schedule = _time(lambda: client.set_schedule(STEPS_48), schedule_rounds, min(warmup, 20))
    return {"status_p50_us": _percentile(status, 0.50) // 1000,
            "status_p99_us": _percentile(status, 0.99) // 1000,
            "schedule_p50_us": _percentile(schedule, 0.50) // 1000,
            "schedule_p99_us": _percentile(schedule, 0.99) // 1000}


def bench_virtual(rounds: int, schedule_rounds: int, warmup: int, state_file: bool) -> dict[str, int]:
    """Round trips to an in-process device over the virtual pair."""
    from firmware_sim.device import start_virtual_pump
    with tempfile.TemporaryDirectory() as tmp:
        state = os.path.join(tmp, "pump.db") if state_file else ":memory:"
        with start_virtual_pump(state_path=state) as vp:
            with PumpClient(vp.url, timeout_s=2.0) as client:
                return measure(client, rounds, schedule_rounds, warmup)


def bench_pty(rounds: int, schedule_rounds: int, warmup: int, state_file: bool) -> dict[str, int]:
    """Round trips to a pumpsim process over a pseudo-terminal."""
    with tempfile.TemporaryDirectory() as tmp:
        state = ["--state", os.path.join(tmp, "pump.db")] if state_file else []
        with PumpsimProcess(["--url", "pty", *state]) as sim, \
                PumpClient(sim.device, timeout_s=2.0) as client:
            return measure(client, rounds, schedule_rounds, warmup)


class DashboardStream:
    """A dashboard's live connection: reads the control server's event stream in a thread
    until stopped; counts what it received."""

    def __init__(self, control_url: str) -> None:
        from host_tools.control.client import ControlClient
        self.client = ControlClient(control_url)
        self.received = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from host_tools.control.client import ControlRefused
        try:
            for _ in self.client.stream(interval_ms=500):
                self.received += 1
                if self._stop.is_set():
                    return
        except ControlRefused:
            pass

    def stop(self) -> None:
        self._stop.set()
        self.client.close()
        self._thread.join(5)


def bench_pty_pair(rounds: int, schedule_rounds: int, warmup: int,
                   state_file: bool) -> dict[str, dict[str, int]]:
    """pty without and with the control plane (server + a streaming dashboard client), both
    pumps running side by side, status measured in alternating blocks."""
    from host_tools.control.process import ControlledPumpsim
    with tempfile.TemporaryDirectory() as tmp:
        state = (lambda name: ["--state", os.path.join(tmp, name)]) if state_file else \
            (lambda name: [])
        with PumpsimProcess(["--url", "pty", *state("plain.db")]) as plain, \
                ControlledPumpsim(["--url", "pty", *state("ctl.db")]) as controlled, \
                PumpClient(plain.device, timeout_s=2.0) as a, \
                PumpClient(controlled.device, timeout_s=2.0) as b:
            dashboard = DashboardStream(controlled.control)
            try:
                samples: dict[str, list[int]] = {"pty": [], "pty-control": []}
                for client in (a, b):
                    client.set_drug("morphine", 10_000)
                    _time(client.status, warmup, 0)
                for _ in range(BLOCKS):
                    samples["pty"] += _time(a.status, rounds // BLOCKS, 0)
                    samples["pty-control"] += _time(b.status, rounds // BLOCKS, 0)
                sched_a = _time(lambda: a.set_schedule(STEPS_48), schedule_rounds, 20)
                sched_b = _time(lambda: b.set_schedule(STEPS_48), schedule_rounds, 20)
            finally:
                dashboard.stop()
            if dashboard.received == 0:
                raise RuntimeError("the dashboard client received nothing from the stream")
    out = {}
    for name, sched in (("pty", sched_a), ("pty-control", sched_b)):
        status = samples[name]
        out[name] = {"status_p50_us": _percentile(status, 0.50) // 1000,
                     "status_p99_us": _percentile(status, 0.99) // 1000,
                     "schedule_p50_us": _percentile(sched, 0.50) // 1000,
                     "schedule_p99_us": _percentile(sched, 0.99) // 1000}
    out["pty-control"]["stream_events"] = dashboard.received
    return out


def main(argv: list[str] | None = None) -> int:
    """Run both benchmarks; print a table or one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--rounds", type=int, default=2000, help="status round trips per link")
    parser.add_argument("--schedule-rounds", type=int, default=300, help="set-schedule round trips")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--links", default="virtual,pty,pty-control",
                        help="comma-separated: virtual, pty, pty-control (pty-control measures "
                             "pty too, in the same run)")
    parser.add_argument("--state-file", action="store_true",
                        help="give both pumps a SQLite state file (default: in-memory store)")
    args = parser.parse_args(argv)
    runners = {"virtual": bench_virtual, "pty": bench_pty}
    results = {}
    links = args.links.split(",")
    if "pty-control" in links:
        results.update(bench_pty_pair(args.rounds, args.schedule_rounds, args.warmup,
                                      args.state_file))
    for name in links:
        if name not in results:
            results[name] = runners[name](args.rounds, args.schedule_rounds, args.warmup,
                                          args.state_file)
    if "pty-control" in results:
        ratio = results["pty-control"]["status_p99_us"] / max(1, results["pty"]["status_p99_us"])
        results["pty-control"]["status_p99_vs_pty"] = round(ratio, 3)
    if args.json:
        print(json.dumps(results))
        return 0
    print(f"{'link':11} {'status p50':>11} {'status p99':>11} {'sched p50':>10} {'sched p99':>10}  target")
    for name, r in results.items():
        ok = "ok" if r["status_p99_us"] < TARGETS_US[name] else "MISSED"
        print(f"{name:11} {r['status_p50_us']:>8} us {r['status_p99_us']:>8} us "
              f"{r['schedule_p50_us']:>7} us {r['schedule_p99_us']:>7} us  status p99 < "
              f"{TARGETS_US[name]} us: {ok}")
    if "pty-control" in results:
        ratio = results["pty-control"]["status_p99_vs_pty"]
        ok = "ok" if ratio <= CONTROL_OVERHEAD else "MISSED"
        print(f"control plane: status p99 {ratio:.2f} x pty's (target <= {CONTROL_OVERHEAD:.2f}, "
              f"{results['pty-control']['stream_events']} stream events received): {ok}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
