"""Summary of the safety machine's work (examples, steps, attacks...) in the terminal summary.

Under pytest-xdist every worker sends its counters to the controller, which prints the sum.
"""
from __future__ import annotations

import collections
import time

import pytest

from host_tools.safety import stats

from . import profiles

_TOTAL: collections.Counter[str] = collections.Counter()
_START = time.monotonic()


def pytest_sessionfinish(session: pytest.Session) -> None:
    worker_output = getattr(session.config, "workeroutput", None)
    if worker_output is not None:  # an xdist worker: hand the counters to the controller
        worker_output["intrapump_safety"] = stats.snapshot()
    else:
        _TOTAL.update(stats.snapshot())


def pytest_testnodedown(node, error) -> None:  # pragma: no cover - xdist controller only
    _TOTAL.update(getattr(node, "workeroutput", {}).get("intrapump_safety", {}))


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not _TOTAL.get("examples"):
        return
    p = profiles.current()
    elapsed = time.monotonic() - _START
    tr = terminalreporter
    tr.section("intrapump safety machine")
    tr.write_line(f"profile {p.name} (seed base {p.base_seed}): {_TOTAL['examples']} examples, "
                  f"{_TOTAL['steps']} checked steps, {_TOTAL['advance']} clock moves, "
                  f"{_TOTAL['restart']} power losses, "
                  f"{sum(v for k, v in _TOTAL.items() if k.startswith('attack.'))} raw attacks, "
                  f"{_TOTAL['outcome.unknown']} commands with a lost answer")
    tr.write_line(f"{_TOTAL['examples'] / elapsed:.1f} examples/s, {_TOTAL['steps'] / elapsed:.0f} "
                  f"steps/s over {elapsed:.1f} s of wall time (all workers)")
    cmds = sorted((k[4:], v) for k, v in _TOTAL.items() if k.startswith("cmd."))
    tr.write_line("commands: " + ", ".join(f"{k} {v}" for k, v in cmds))
    for prefix, title in (("state.", "steps ending in state"), ("alarm.", "steps with alarm"),
                          ("patient.", "patient bolus answers")):
        items = sorted((k[len(prefix):], v) for k, v in _TOTAL.items() if k.startswith(prefix))
        if items:
            tr.write_line(f"{title}: " + ", ".join(f"{k} {v}" for k, v in items))
