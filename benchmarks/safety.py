"""Throughput of the whole-stack safety machine: examples/s per core.

Runs the machine (clean links, then faulty links) for ``--examples`` examples of ``--steps``
steps each with fixed seeds in this one process (one core), and prints examples and steps per
second of wall time and per CPU-second of this process (all its threads: the client, the
device thread, the model, SQLite). On a machine shared with other work the CPU figure is the
fair one: it is what one dedicated core would do, and it does not count the time the process
spent waiting for a core.

    python benchmarks/safety.py                          # this tree's machine
    python benchmarks/safety.py --json
    # the same measurement of an older tree (say a `git worktree add /tmp/old 30d6fab`, where the
    # machine still lived in tests/safety/):
    python benchmarks/safety.py --root /tmp/old --machine tests.safety.machine

Target: at least 5x the examples/s per core of commit 30d6fab measured this way.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from typing import Any


def measure(machine_module: str, examples: int, steps: int, faults: bool,
            seed0: int) -> dict[str, Any]:
    """Run ``examples`` examples; wall and CPU seconds, examples and checked steps."""
    from hypothesis import HealthCheck, Phase, seed, settings
    from hypothesis.stateful import get_state_machine_test
    mod = importlib.import_module(machine_module)
    machine = mod.make_machine(faults=faults, name="Bench")
    test = get_state_machine_test(machine, settings=settings(
        max_examples=examples, stateful_step_count=steps, deadline=None, database=None,
        phases=[Phase.generate], suppress_health_check=list(HealthCheck), print_blob=False))
    before = dict(mod.stats.COUNTS)
    wall, cpu = time.perf_counter(), time.process_time()
    seed(seed0)(test)()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    done = {k: mod.stats.COUNTS[k] - before.get(k, 0) for k in ("examples", "steps")}
    return {"links": "faulty" if faults else "clean", "examples": done["examples"],
            "steps": done["steps"], "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
            "examples_per_s": round(done["examples"] / wall, 2),
            "examples_per_cpu_s": round(done["examples"] / cpu, 2),
            "steps_per_cpu_s": round(done["steps"] / cpu, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=60, help="examples per link kind")
    ap.add_argument("--steps", type=int, default=30, help="steps per example")
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--root", default=None, help="source tree to measure (default: this one)")
    ap.add_argument("--machine", default="host_tools.safety.machine",
                    help="module with make_machine() and stats")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    root = args.root or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, os.path.abspath(root))
    import logging
    logging.disable(logging.WARNING)  # refusals are logged at WARNING: keep the output readable
    rows = [measure(args.machine, args.examples, args.steps, faults, args.seed + faults)
            for faults in (False, True)]
    total_ex = sum(r["examples"] for r in rows)
    total_cpu = sum(r["cpu_s"] for r in rows)
    import firmware_sim
    summary = {"root": os.path.abspath(root), "machine": args.machine,
               "model": os.path.dirname(firmware_sim.__file__), "runs": rows,
               "examples_per_cpu_s": round(total_ex / total_cpu, 2),
               "examples_per_s": round(total_ex / sum(r["wall_s"] for r in rows), 2)}
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(f"safety machine {args.machine} in {summary['root']} (model {summary['model']})")
    for r in rows:
        print(f"  {r['links']:6} links: {r['examples']} examples, {r['steps']} steps in "
              f"{r['wall_s']:.1f} s wall / {r['cpu_s']:.1f} s CPU -> {r['examples_per_s']:.1f} "
              f"examples/s wall, {r['examples_per_cpu_s']:.1f} examples/s per core")
    print(f"  all: {summary['examples_per_cpu_s']:.1f} examples/s per core "
          f"({summary['examples_per_s']:.1f} examples/s wall)")


if __name__ == "__main__":
    main()
