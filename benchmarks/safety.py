"""Throughput of the whole-stack safety machine: examples/s and steps/s per core.

Runs the machine (clean links, then faulty links) for ``--examples`` examples of ``--steps``
steps each with fixed seeds in this one process (one core), after ``--warmup`` examples that are
not counted (the first examples of a process pay one-time costs: imports, hypothesis scanning the
project's source for constants, caches filling). It prints examples and steps per second of wall
time and per CPU-second of this process (all its threads). On a machine shared with other work
the CPU figure is the fair one: it is what one dedicated core would do, and it does not count the
time the process spent waiting for a core.

    python benchmarks/safety.py                          # this tree's machine
    python benchmarks/safety.py --json
    # the same measurement of an older tree (say a `git worktree add /tmp/old 30d6fab`, where the
    # machine still lived in tests/safety/):
    python benchmarks/safety.py --root /tmp/old --machine tests.safety.machine
    # both, interleaved: ROUNDS runs of each tree alternately, each in a fresh process; prints
    # every run, the medians and the ratio of the medians
    python benchmarks/safety.py --against /tmp/old --against-machine tests.safety.machine --rounds 3

Target: at least 5x the examples/s per core of commit 30d6fab measured this way.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))


def _run(machine: Any, examples: int, steps: int, seed0: int) -> None:
    from hypothesis import HealthCheck, Phase, seed, settings
    from hypothesis.stateful import get_state_machine_test
    test = get_state_machine_test(machine, settings=settings(
        max_examples=examples, stateful_step_count=steps, deadline=None, database=None,
        phases=[Phase.generate], suppress_health_check=list(HealthCheck), print_blob=False))
    seed(seed0)(test)()


def measure(machine_module: str, examples: int, steps: int, faults: bool, seed0: int,
            warmup: int = 0) -> dict[str, Any]:
    """Run ``warmup`` uncounted examples, then ``examples`` examples; wall and CPU seconds,
    examples and checked steps, and the rates."""
    mod = importlib.import_module(machine_module)
    machine = mod.make_machine(faults=faults, name="Bench")
    if warmup:
        _run(machine, warmup, steps, seed0 - 1)
    before = dict(mod.stats.COUNTS)
    wall, cpu = time.perf_counter(), time.process_time()
    _run(machine, examples, steps, seed0)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    done = {k: mod.stats.COUNTS[k] - before.get(k, 0) for k in ("examples", "steps")}
    return {"links": "faulty" if faults else "clean", "examples": done["examples"],
            "steps": done["steps"], "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
            "examples_per_s": round(done["examples"] / wall, 2),
            "examples_per_cpu_s": round(done["examples"] / cpu, 2),
            "steps_per_cpu_s": round(done["steps"] / cpu, 1)}


def run_tree(root: str, machine: str, examples: int, steps: int, seed0: int,
             warmup: int) -> dict[str, Any]:
    """Measure the machine of the source tree ``root`` in this process (both link kinds)."""
    sys.path.insert(0, os.path.abspath(root))
    import logging
    logging.disable(logging.WARNING)  # refusals are logged at WARNING: keep the output readable
    rows = [measure(machine, examples, steps, faults, seed0 + faults, warmup)
            for faults in (False, True)]
    total_cpu = sum(r["cpu_s"] for r in rows)
    import firmware_sim
    return {"root": os.path.abspath(root), "machine": machine,
            "model": os.path.dirname(firmware_sim.__file__), "runs": rows,
            "examples_per_cpu_s": round(sum(r["examples"] for r in rows) / total_cpu, 2),
            "steps_per_cpu_s": round(sum(r["steps"] for r in rows) / total_cpu, 1),
            "examples_per_s": round(sum(r["examples"] for r in rows)
                                    / sum(r["wall_s"] for r in rows), 2)}


def show(summary: dict[str, Any]) -> None:
    """Print one tree's figures."""
    print(f"safety machine {summary['machine']} in {summary['root']} (model {summary['model']})")
    for r in summary["runs"]:
        print(f"  {r['links']:6} links: {r['examples']} examples, {r['steps']} steps in "
              f"{r['wall_s']:.1f} s wall / {r['cpu_s']:.1f} s CPU -> {r['examples_per_s']:.1f} "
              f"examples/s wall, {r['examples_per_cpu_s']:.1f} examples/s and "
              f"{r['steps_per_cpu_s']:.0f} steps/s per core")
    print(f"  all: {summary['examples_per_cpu_s']:.1f} examples/s and "
          f"{summary['steps_per_cpu_s']:.0f} steps/s per core "
          f"({summary['examples_per_s']:.1f} examples/s wall)")


def _child(root: str, machine: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--json", "--root", root,
           "--machine", machine, "--examples", str(args.examples), "--steps", str(args.steps),
           "--seed", str(args.seed), "--warmup", str(args.warmup)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def compare(args: argparse.Namespace, root: str) -> None:
    """``--rounds`` runs of this tree and of ``--against``, alternately, each in a fresh
    process; every run, the medians and their ratio."""
    mine: list[dict[str, Any]] = []
    theirs: list[dict[str, Any]] = []
    for i in range(args.rounds):
        for runs, tree, machine in ((mine, root, args.machine),
                                    (theirs, args.against, args.against_machine)):
            result = _child(tree, machine, args)
            runs.append(result)
            print(f"round {i + 1}: {tree}: {result['examples_per_cpu_s']:.1f} examples/s, "
                  f"{result['steps_per_cpu_s']:.0f} steps/s per core", flush=True)
    med = {name: {k: statistics.median(r[k] for r in runs)
                  for k in ("examples_per_cpu_s", "steps_per_cpu_s")}
           for name, runs in (("this", mine), ("against", theirs))}
    ratio = {k: round(med["this"][k] / med["against"][k], 2) for k in med["this"]}
    if args.json:
        print(json.dumps({"this": mine, "against": theirs, "medians": med, "ratio": ratio},
                         indent=2))
        return
    print(f"median of {args.rounds}: this tree {med['this']['examples_per_cpu_s']:.1f} examples/s "
          f"({med['this']['steps_per_cpu_s']:.0f} steps/s) per core; {args.against} "
          f"{med['against']['examples_per_cpu_s']:.1f} examples/s "
          f"({med['against']['steps_per_cpu_s']:.0f} steps/s) per core")
    print(f"ratio: {ratio['examples_per_cpu_s']:.2f}x examples/s, "
          f"{ratio['steps_per_cpu_s']:.2f}x steps/s per core")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=60, help="examples per link kind")
    ap.add_argument("--steps", type=int, default=30, help="steps per example")
    ap.add_argument("--warmup", type=int, default=3,
                    help="uncounted examples per link kind before the measured ones")
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--root", default=None, help="source tree to measure (default: this one)")
    ap.add_argument("--machine", default="host_tools.safety.machine",
                    help="module with make_machine() and stats")
    ap.add_argument("--against", default=None,
                    help="another source tree to measure alternately with this one")
    ap.add_argument("--against-machine", default="tests.safety.machine",
                    help="the machine module of --against")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each tree with --against")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    root = args.root or os.path.dirname(HERE)
    if args.against:
        compare(args, root)
        return
    summary = run_tree(root, args.machine, args.examples, args.steps, args.seed, args.warmup)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        show(summary)


if __name__ == "__main__":
    main()
