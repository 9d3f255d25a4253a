"""Time-warp benchmark of the event-driven pump model.

Simulates 365 days of a 48-step schedule with 6 patient bolus requests a day and a refill every
30 days, and prints wall seconds per simulated year and the number of segments (events) the model
processed. In the same run, a naive loop stepping ``advance_to`` one second at a time over one
simulated day of the same scenario is timed and scaled to a year, for the speed-up ratio.

A third figure times the integration alone: the same pump and schedule for a year with no
patient requests (a refill every 30 days, one ``advance_to`` per refill interval), which is what
the closed-form integration of the schedule between real events makes cheap.

A fourth figure splits the year's time: the same year run once more with the pump's commit (state
encoded, sealed and written with its new log entries to SQLite in one transaction, which every
command and every run that logs does before it returns) timed on its own, so the output says how
much of a year is durability and how much is the model.

A fifth figure is the floor of that durability: the same commits (the same number, each with
its own number of new log rows and a state text of the same length) replayed as bare SQLite
transactions on an in-memory database - no model, no JSON, no hash chain, no seal. No design
that stores every command before it returns (REQUIREMENTS.md PER-1) can spend less on this
workload in this interpreter.

The year is run ``--repeat`` times (default 3) on fresh pumps and the fastest run is reported,
as ``timeit`` does: the slower runs measure other load on the machine, not the model. Every run
must end in the same state.

With ``--mechanism`` the delivery mechanism is active: its stroke error model on, a +14.5 %
over-infusion fault in force all year, the truth ledger read after every patient request and the
refills withdrawing the true volume.

    python benchmarks/timewarp.py [--json] [--profile] [--repeat N] [--mechanism]
"""
from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sqlite3
import time
from typing import Any

from firmware_sim import DAY_MS, Pump, Schedule, Storage, load_profile

HOUR_MS = 3_600_000
REQUEST_HOURS = (7, 10, 13, 16, 19, 22)


def make_pump(mechanism: bool = False) -> Pump:
    """A 40 mL pump on morphine 10 mg/mL, 48-step schedule, patient boluses configured
    (``mechanism``: error model on and a +14.5 % over-infusion in force)."""
    pump = Pump(load_profile("ip40"), Storage(":memory:"))
    steps = [(i * 30, 600_000 + (i % 8) * 100_000) for i in range(48)]
    pump.program_therapy("morphine", 10_000, Schedule.daily(steps))
    pump.refill_begin()
    pump.refill_withdrawn(0)
    pump.refill_complete(40_000_000, 10_000)
    pump.start()
    pump.configure_patient_bolus(dose_ug=200, duration_ms=15 * 60_000, lockout_ms=2 * HOUR_MS,
                                 max_per_24h=6)
    if mechanism:
        pump.set_error_model(True)
        pump.raise_fault("over_infusion", permille=145)
    return pump


def refill(pump: Pump) -> None:
    """Withdraw what is left and fill 40 mL again."""
    pump.refill_begin()
    pump.refill_withdrawn(pump.true_reservoir_nl)
    pump.refill_complete(40_000_000, 10_000)


def run_days(pump: Pump, days: int, step_ms: int | None = None, truth: bool = False) -> None:
    """Drive the scenario; ``step_ms`` set = naive loop advancing by that step; ``truth``:
    read the truth ledger after every patient request."""
    t = pump.status().time_ms
    for day in range(days):
        base = day * DAY_MS
        if day and day % 30 == 0:
            refill(pump)
        for hour in (*REQUEST_HOURS, 24):
            target = base + hour * HOUR_MS
            if step_ms is None:
                pump.advance_to(target)
            else:
                while t < target:
                    t = min(t + step_ms, target)
                    pump.advance_to(t)
            t = target
            if hour != 24:
                pump.request_patient_bolus()
                if truth:
                    pump.truth()


def commit_share(mechanism: bool) -> tuple[int, float, float, list[tuple[int, int]]]:
    """One more year with the pump's commits timed: (commits, seconds in commits, total s,
    and each commit's (new log rows, state text length))."""
    pump = make_pump(mechanism)
    spent = [0, 0.0]
    shapes: list[tuple[int, int]] = []
    commit = pump._commit

    def timed_commit() -> None:
        rows = len(pump._pending)
        t0 = time.perf_counter()
        commit()
        spent[0] += 1
        spent[1] += time.perf_counter() - t0
        shapes.append((rows, len(pump.storage._state_text or "")))
    pump._commit = timed_commit  # type: ignore[method-assign]
    t0 = time.perf_counter()
    run_days(pump, 365, truth=mechanism)
    return spent[0], spent[1], time.perf_counter() - t0, shapes


def durability_floor(shapes: list[tuple[int, int]]) -> float:
    """Wall seconds of the year's commits as bare in-memory SQLite transactions: for each
    (new log rows, state length), BEGIN, insert the rows, replace the state row, COMMIT."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE state (id INTEGER PRIMARY KEY, json TEXT, seal TEXT)")
    conn.execute("CREATE TABLE events (idx INTEGER PRIMARY KEY, time_ms INTEGER, kind TEXT, "
                 "details TEXT, chain TEXT)")
    chain = "0" * 64
    states = {n: "x" * n for n in {n for _, n in shapes}}
    batches = []
    idx = 0
    for rows, n in shapes:
        batches.append(([(idx + i, idx, "kind", "{}", chain) for i in range(rows)], states[n]))
        idx += rows
    t0 = time.perf_counter()
    for rows, text in batches:
        conn.execute("BEGIN")
        if rows:
            conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", rows)
        conn.execute("INSERT OR REPLACE INTO state VALUES (1, ?, ?)", (text, chain))
        conn.execute("COMMIT")
    spent = time.perf_counter() - t0
    conn.close()
    return spent


def year_runs(repeat: int, mechanism: bool, prof: cProfile.Profile | None
              ) -> tuple[list[float], Any, int]:
    """The year run ``repeat`` times on fresh pumps (the first one profiled with ``prof``):
    (wall seconds of each run, the final status, segments); every run must end in the same
    state, with its volumes and the truth ledger conserved."""
    runs: list[float] = []
    final = None
    segments = 0
    for i in range(repeat):
        pump = make_pump(mechanism)
        t0 = time.perf_counter()
        if prof and i == 0:
            prof.enable()
        run_days(pump, 365, truth=mechanism)
        if prof and i == 0:
            prof.disable()
        runs.append(time.perf_counter() - t0)
        st = pump.status()
        assert st.filled_nl == st.delivered_nl + st.reservoir_nl + st.withdrawn_nl
        tr = pump.truth()
        assert tr.filled_nl == tr.patient_nl + tr.leaked_nl + tr.reservoir_nl + tr.withdrawn_nl
        assert final is None or st == final, "runs of the same scenario differ"
        final, segments = st, pump.segments
    return runs, final, segments


def integration_only() -> float:
    """Wall seconds of a year with no patient requests: a refill every 30 days, one
    ``advance_to`` per refill interval."""
    qp = make_pump()
    t0 = time.perf_counter()
    for day in range(30, 365, 30):
        qp.advance_to(day * DAY_MS)
        refill(qp)
    qp.advance_to(365 * DAY_MS)
    return time.perf_counter() - t0


def main() -> None:
    """Run both measurements and print the figures."""
    ap = argparse.ArgumentParser(description="event-driven vs tick-loop time warp")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--profile", action="store_true", help="print a cProfile summary")
    ap.add_argument("--repeat", type=int, default=3, help="year runs, fastest reported (3)")
    ap.add_argument("--mechanism", action="store_true",
                    help="error model on, +14.5 %% over-infusion, truth read at every request")
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error("--repeat must be >= 1")

    prof = cProfile.Profile() if args.profile else None
    runs, st, events = year_runs(args.repeat, args.mechanism, prof)
    year_s = min(runs)

    quiet_s = min(integration_only() for _ in range(args.repeat))

    tick_pump = make_pump(args.mechanism)
    t0 = time.perf_counter()
    run_days(tick_pump, 1, step_ms=1000, truth=args.mechanism)
    tick_day_s = time.perf_counter() - t0
    speedup = tick_day_s * 365 / year_s

    commits, commit_s, split_s, shapes = commit_share(args.mechanism)
    floor_s = min(durability_floor(shapes) for _ in range(args.repeat))

    if args.json:
        print(json.dumps({"seconds_per_year": round(year_s, 4), "events": events,
                          "commits_per_year": commits,
                          "commit_seconds_per_year": round(commit_s, 4),
                          "commit_share": round(commit_s / split_s, 3),
                          "durability_floor_seconds_per_year": round(floor_s, 4),
                          "speedup_vs_tick": round(speedup, 1), "mechanism": args.mechanism,
                          "integration_only_seconds_per_year": round(quiet_s, 4)}))
    else:
        print(f"event-driven: {year_s:.3f} s per simulated year, {events} events (segments), "
              f"{st.event_count} log entries, state {st.state.name}, "
              f"delivered {st.delivered_nl / 1e6:.1f} mL")
        print("year runs (s): " + ", ".join(f"{r:.3f}" for r in runs))
        print(f"1 s tick loop: {tick_day_s:.2f} s per simulated day "
              f"(~{tick_day_s * 365:.0f} s per year)")
        print(f"speed-up: {speedup:.0f}x")
        print(f"integration alone (no requests, refill every 30 days): {quiet_s:.4f} s per "
              "simulated year")
        print(f"commits: {commits} per simulated year, {commit_s:.3f} s of a {split_s:.3f} s "
              f"year ({commit_s / split_s:.0%}), {commit_s / commits * 1e6:.0f} us each; the "
              f"model between them: {split_s - commit_s:.3f} s")
        print(f"durability floor: the same {commits} commits as bare SQLite transactions "
              f"(no model, JSON, chain or seal): {floor_s:.4f} s per simulated year")
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(20)


if __name__ == "__main__":
    main()
