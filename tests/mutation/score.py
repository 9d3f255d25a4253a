"""Mutation score of the safety-critical modules from mutmut's results (``make mutate``).

Reads ``mutants/<module>/mutants/**/*.py.meta`` (written by ``mutmut run`` in each module's
working directory, see ``run.py``) and prints, per module: mutants,
killed (killed, timeout, caught by type check), survived (survived, no tests), documented
equivalents (tests/mutation/EQUIVALENT_MUTANTS.md), not yet run, and the score
killed / (checked - equivalent), then the overall score. Exit 1 when a fully run module
scores under ``--target``. ``--show`` prints each survivor's diff (``mutmut show``).
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

# mutmut exit codes counted as killed: tests failed (1, 3), timeout (24, -24, 36, 152, 255),
# caught by the type check (37), the test process crashed (-9, -11)
KILLED = {1, 3, 24, -24, 36, 37, 152, 255, -9, -11}
EQUIVALENTS = Path(__file__).with_name("EQUIVALENT_MUTANTS.md")


def equivalents() -> set[str]:
    """Mutant names listed (as ``- `name`: why``) in EQUIVALENT_MUTANTS.md."""
    return set(re.findall(r"^- `([^`]+)`", EQUIVALENTS.read_text(encoding="utf-8"), re.M))


def results(root: Path) -> list[tuple[Path, str, dict[str, int | None]]]:
    """(working directory, module path, exit code by mutant) of every module run under root."""
    out = []
    for meta in sorted(root.glob("*/mutants/**/*.py.meta")):
        work = meta.relative_to(root).parts[0]
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        module = str(meta.relative_to(root / work / "mutants"))[:-len(".meta")]
        if codes:
            out.append((root / work, module, codes))
    return out


def show(work: Path, name: str) -> str:
    """The diff of one mutant (``mutmut show`` in its module's working directory)."""
    mutmut = Path(sys.executable).with_name("mutmut")
    res = subprocess.run([str(mutmut), "show", name], cwd=work, capture_output=True, text=True)
    return res.stdout.strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mutants", default="mutants", help="root of the modules' working directories")
    ap.add_argument("--target", type=float, default=95.0)
    ap.add_argument("--show", action="store_true", help="print each survivor's diff")
    ap.add_argument("modules", nargs="*", help="dotted module names (default: every one run)")
    args = ap.parse_args()
    equiv = equivalents()
    failed = False
    totals = [0, 0]  # killed, counted
    found = [r for r in results(Path(args.mutants))
             if not args.modules or r[0].name in args.modules]
    for work, module, codes in found:
        killed = [k for k, v in codes.items() if v in KILLED]
        eq = [k for k, v in codes.items() if k in equiv and v not in KILLED]
        survived = [k for k, v in codes.items() if v is not None and v not in KILLED
                    and k not in equiv]
        pending = [k for k, v in codes.items() if v is None]
        counted = len(codes) - len(pending) - len(eq)
        score = 100.0 * len(killed) / max(1, counted)
        totals[0] += len(killed)
        totals[1] += counted
        print(f"{module}: {len(codes)} mutants, {len(killed)} killed, {len(survived)} survived, "
              f"{len(eq)} equivalent, {len(pending)} not run -> {score:.1f} %"
              + ("" if not pending else " (partial)"))
        for name in survived:
            print(f"    survived: {name}")
            if args.show:
                print("        " + show(work, name).replace("\n", "\n        "))
        failed |= not pending and score < args.target
    if not found:
        print("no mutmut results: run `make mutate` first")
        return 1
    print(f"overall: {totals[0]} killed of {totals[1]} -> {100.0 * totals[0] / max(1, totals[1]):.1f} %")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
