"""Mutation score of the safety-critical modules from mutmut's results (``make mutate``).

Reads ``mutants/**/*.py.meta`` (written by ``mutmut run``) and prints, per module: mutants,
killed (killed, timeout, caught by type check), survived (survived, no tests), documented
equivalents (tests/mutation/EQUIVALENT_MUTANTS.md), not yet run, and the score
killed / (checked - equivalent). Exit 1 when a fully run module scores under ``--target``.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

KILLED = {1, 3, 24, -24, 36, 37, 152, 255}
EQUIVALENTS = Path(__file__).with_name("EQUIVALENT_MUTANTS.md")


def equivalents() -> set[str]:
    """Mutant names listed (as ``- `name`: why``) in EQUIVALENT_MUTANTS.md."""
    return set(re.findall(r"^- `([^`]+)`", EQUIVALENTS.read_text(encoding="utf-8"), re.M))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mutants", default="mutants")
    ap.add_argument("--target", type=float, default=95.0)
    args = ap.parse_args()
    equiv = equivalents()
    failed = False
    metas = sorted(Path(args.mutants).rglob("*.py.meta"))
    for meta in metas:
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if not codes or all(v is None for v in codes.values()):
            continue
        module = str(meta.relative_to(args.mutants))[:-len(".meta")]
        killed = [k for k, v in codes.items() if v in KILLED]
        eq = [k for k, v in codes.items() if k in equiv and v not in KILLED]
        survived = [k for k, v in codes.items() if v is not None and v not in KILLED
                    and k not in equiv]
        pending = [k for k, v in codes.items() if v is None]
        checked = len(codes) - len(pending)
        score = 100.0 * len(killed) / max(1, checked - len(eq))
        print(f"{module}: {len(codes)} mutants, {len(killed)} killed, {len(survived)} survived, "
              f"{len(eq)} equivalent, {len(pending)} not run -> {score:.1f} %"
              + ("" if not pending else " (partial)"))
        for name in survived:
            print(f"    survived: {name}")
        failed |= not pending and score < args.target
    if not metas:
        print("no mutmut results: run `make mutate` first")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
