"""Summary of the safety machine's work (examples, steps, attacks...) in the terminal summary.

Under pytest-xdist every worker sends its counters to the controller, which prints the sum
(the counters are summed by the intrapump_trace plugin into ``host_tools.safety.stats.TOTAL``).
"""
from __future__ import annotations

import time

from host_tools.safety import stats

from . import profiles

_START = time.monotonic()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    total = stats.TOTAL
    if not total.get("examples"):
        return
    p = profiles.current()
    elapsed = time.monotonic() - _START
    tr = terminalreporter
    tr.section("intrapump safety machine")
    tr.write_line(f"profile {p.name} (seed base {p.base_seed}): {total['examples']} examples, "
                  f"{total['steps']} checked steps, {total['advance']} clock moves, "
                  f"{total['restart']} power losses, "
                  f"{sum(v for k, v in total.items() if k.startswith('attack.'))} raw attacks, "
                  f"{total['outcome.unknown']} commands with a lost answer")
    tr.write_line(f"{total['examples'] / elapsed:.1f} examples/s, {total['steps'] / elapsed:.0f} "
                  f"steps/s over {elapsed:.1f} s of wall time (all workers)")
    checks = sorted((k[6:], v) for k, v in total.items() if k.startswith("check."))
    if checks:
        tr.write_line("invariant checks: " + ", ".join(f"{k} {v}" for k, v in checks))
    cmds = sorted((k[4:], v) for k, v in total.items() if k.startswith("cmd."))
    tr.write_line("commands: " + ", ".join(f"{k} {v}" for k, v in cmds))
    for prefix, title in (("state.", "steps ending in state"), ("alarm.", "steps with alarm"),
                          ("patient.", "patient bolus answers"),
                          ("window.", "dose-window log entries")):
        items = sorted((k[len(prefix):], v) for k, v in total.items() if k.startswith(prefix))
        if items:
            tr.write_line(f"{title}: " + ", ".join(f"{k} {v}" for k, v in items))
