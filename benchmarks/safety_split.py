"""Where the safety machine's time goes: hypothesis itself against everything it drives.

Runs the machine (clean links, then faulty links, as ``benchmarks/safety.py`` does) under
``cProfile`` and splits the CPU time of every function by who it works for:

* **hypothesis**: code in the hypothesis package (its engine, choosing rules, drawing values);
* **project**: code of this source tree (the machine's rules and checks, the oracle, the client,
  protocol, device and pump under test);
* everything else (the standard library, C built-ins such as SQLite and HMAC, construct,
  transitions) is charged to whoever called it, in proportion to the time each caller spent in
  it, following callers up to the first hypothesis or project frame.

The hypothesis share bounds what any speed-up of the project can give: with the project's share
made free, the machine runs at most ``1 / hypothesis share`` times as fast. cProfile adds the
same cost to every Python call, so call-heavy code (hypothesis's and the project's alike) looks
somewhat heavier than it is; the split is a measurement of shares, not of speed.

    python benchmarks/safety_split.py [--examples N] [--steps N] [--json]
"""
from __future__ import annotations

import argparse
import cProfile
import json
import logging
import os
import pstats
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import safety  # noqa: E402  (benchmarks/safety.py: the same measured run)

Func = tuple[str, int, str]


def _own_group(func: Func) -> str | None:
    """'hypothesis' or 'project' for a function defined there, None for anything else."""
    path = func[0]
    if f"{os.sep}hypothesis{os.sep}" in path:
        return "hypothesis"
    if path.startswith(ROOT + os.sep) and f"{os.sep}site-packages{os.sep}" not in path:
        return "project"
    return None


def split(stats: pstats.Stats, depth: int = 8) -> dict[str, float]:
    """CPU seconds per group, every function's own time charged as the module says."""
    table: dict[Func, Any] = stats.stats  # type: ignore[attr-defined]
    totals = {"hypothesis": 0.0, "project": 0.0, "unattributed": 0.0}

    def charge(func: Func, seconds: float, level: int) -> None:
        group = _own_group(func)
        if group is not None:
            totals[group] += seconds
            return
        callers = table.get(func, (0, 0, 0.0, 0.0, {}))[4]
        spent = sum(c[2] for c in callers.values())
        if level >= depth or not callers or spent <= 0:
            totals["unattributed"] += seconds
            return
        for caller, c in callers.items():
            charge(caller, seconds * c[2] / spent, level + 1)

    for func, (_, _, own, _, _) in table.items():
        charge(func, own, 0)
    return totals


def main() -> None:
    """Profile one run of the machine and print the split."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=30, help="examples per link kind")
    ap.add_argument("--steps", type=int, default=30, help="steps per example")
    ap.add_argument("--warmup", type=int, default=3, help="uncounted examples per link kind")
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--machine", default="host_tools.safety.machine")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    for faults in (False, True):  # warm-up outside the profile: imports, caches
        safety.measure(args.machine, 1, args.steps, faults, args.seed - 7, args.warmup)
    prof = cProfile.Profile()
    prof.enable()
    for faults in (False, True):
        safety.measure(args.machine, args.examples, args.steps, faults, args.seed + faults)
    prof.disable()
    totals = split(pstats.Stats(prof))
    whole = sum(totals.values())
    shares = {k: round(v / whole, 3) for k, v in totals.items()}
    bound = 1 / shares["hypothesis"] if shares["hypothesis"] else float("inf")
    if args.json:
        print(json.dumps({"cpu_s": {k: round(v, 3) for k, v in totals.items()},
                          "shares": shares, "max_speedup_with_project_free": round(bound, 2)}))
        return
    print(f"safety machine under cProfile: {whole:.2f} s of CPU in "
          f"{2 * args.examples} examples of up to {args.steps} steps")
    for k, v in totals.items():
        print(f"  {k:13} {v:7.2f} s  {shares[k]:6.1%}")
    print(f"with the project's share free, the machine would run at most {bound:.2f}x as fast")


if __name__ == "__main__":
    main()
