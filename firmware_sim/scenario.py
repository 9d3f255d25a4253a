"""A time-warped demonstration: ``python -m firmware_sim.scenario --days 7``.

A 20 mL pump, morphine 10 mg/mL, a four-step time-of-day schedule, patient boluses (one of them
refused by the lockout), a refill with a new concentration on day 4 (so a bridge bolus runs), and
a table per day: delivered volume and dose, reservoir at midnight, alarms raised.
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict

from rich.console import Console
from rich.table import Table

from .clock import ManualClock
from .profile import DAY_MS, load_profile
from .pump import Pump
from .schedule import Schedule
from .storage import Event

HOUR_MS = 3_600_000


def refill(pump: Pump) -> None:
    """Refill with 18 mL at 12 mg/mL; the withdrawn volume is measured 0.15 mL short."""
    st = pump.status()
    pump.refill_begin()
    pump.refill_withdrawn(max(0, st.reservoir_nl - 150_000))
    pump.refill_complete(18_000_000, 12_000)


def run(days: int, console: Console) -> int:
    """Run the scenario for ``days`` simulated days and print the table; returns an exit code."""
    clock = ManualClock(0)
    pump = Pump(load_profile("ip20"), clock=clock)
    raised: dict[int, list[str]] = defaultdict(list)
    denied: dict[int, int] = defaultdict(int)

    def on_event(ev: Event) -> None:
        day = ev.time_ms // DAY_MS
        if ev.kind == "ALARM_RAISED":
            raised[day].append(ev.details["alarm"])
        elif ev.kind == "PATIENT_BOLUS_DENIED":
            denied[day] += 1

    pump.subscribe(on_event)
    schedule = Schedule.daily([(0, 400_000), (360, 900_000), (720, 1_200_000), (1200, 600_000)])
    pump.program_therapy("morphine", 10_000, schedule)
    pump.set_low_reservoir_threshold(2_000_000)
    pump.refill_begin()
    pump.refill_withdrawn(0)
    pump.refill_complete(5_000_000, 10_000)
    pump.start_priming_bolus()
    pump.advance_to(HOUR_MS)
    pump.start()
    pump.configure_patient_bolus(dose_ug=250, duration_ms=10 * 60_000, lockout_ms=3 * HOUR_MS,
                                 max_per_24h=4)
    table = Table(title=f"intrapump scenario: {days} days, morphine, profile ip20")
    for col in ("day", "delivered (mL)", "dose (mg)", "reservoir (mL)", "state",
                "patient denied", "alarms raised"):
        table.add_column(col, justify="right" if col not in ("state", "alarms raised") else "left")
    prev_nl, prev_ug = 0, 0
    for day in range(days):
        base = day * DAY_MS
        for hour in (8, 9, 14, 16, 20):  # the 9 o'clock request falls in the lockout
            pump.advance_to(max(pump.status().time_ms, base + hour * HOUR_MS))
            if hour == 16:
                if day == 3:
                    refill(pump)
                continue
            pump.request_patient_bolus()
        pump.advance_to(base + DAY_MS)
        st = pump.status()
        table.add_row(str(day + 1), f"{(st.delivered_nl - prev_nl) / 1e6:.3f}",
                      f"{(st.delivered_dose_ug - prev_ug) / 1000:.2f}",
                      f"{st.reservoir_nl / 1e6:.3f}", st.state.name, str(denied[day]),
                      ", ".join(raised[day]) or "-")
        prev_nl, prev_ug = st.delivered_nl, st.delivered_dose_ug
    console.print(table)
    st = pump.status()
    ok = st.filled_nl == st.delivered_nl + st.reservoir_nl + st.withdrawn_nl
    console.print(f"filled {st.filled_nl} nL = delivered {st.delivered_nl} + reservoir "
                  f"{st.reservoir_nl} + withdrawn {st.withdrawn_nl}: {'OK' if ok else 'MISMATCH'}; "
                  f"{st.event_count} events logged")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=7, help="simulated days (default 7)")
    args = ap.parse_args(argv)
    if args.days < 1:
        ap.error("--days must be >= 1")
    return run(args.days, Console())


if __name__ == "__main__":
    sys.exit(main())
