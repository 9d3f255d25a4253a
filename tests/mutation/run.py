"""Run mutmut on one safety-critical module at a time, each against its own small set of tests.

mutmut maps every mutated function to the tests that call it and runs only those per mutant, but
it picks the tests from one global selection. Run over the whole suite, a mutant of a function the
pump calls every step would run hundreds of slow tests. So each module gets its own working
directory ``mutants/<module>/`` (links to the project's packages and tests, its own mutmut state)
and its own test selection: the quick unit tests that pin the module down (``MODULES`` below).

    python tests/mutation/run.py                      # every module, from scratch
    python tests/mutation/run.py protocol.frame       # one module
    python tests/mutation/run.py --resume --survivors protocol.frame   # re-check survivors only

Each module runs in its own process (mutmut keeps global state), one mutant at a time
(``--max-children 1``: the machine is shared). Scores: ``tests/mutation/score.py``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "mutants"

# what each module's mutants are run against: the tests that check its results directly
MODULES: dict[str, list[str]] = {
    "firmware_sim.schedule": [
        "tests/firmware_sim/test_schedule_mutants.py",
        "tests/firmware_sim/test_schedule_validation.py",
        "tests/firmware_sim/test_schedule_windows.py",
    ],
    "firmware_sim.pump.limits": [
        "tests/firmware_sim/test_limit_windows_mutants.py",
        "tests/firmware_sim/test_schedule_windows.py",
        "tests/firmware_sim/test_drug_limits.py",
        "tests/firmware_sim/test_windows_oracle_findings.py",
    ],
    "firmware_sim.pump.windows": [
        "tests/firmware_sim/test_dose_window_mutants.py",
        "tests/firmware_sim/test_dose_windows.py",
        "tests/firmware_sim/test_windows_oracle_findings.py",
    ],
    "firmware_sim.pump.rate_changes": [
        "tests/firmware_sim/test_programming_limits.py",
    ],
    "firmware_sim.alarms": [
        "tests/firmware_sim/test_alarm_set.py",
    ],
    "firmware_sim.pump.thresholds": [
        "tests/firmware_sim/test_threshold_rows.py",
        "tests/firmware_sim/test_reservoir_refill.py",
        "tests/firmware_sim/test_battery_faults_alarms.py",
        "tests/firmware_sim/test_windows_oracle_findings.py",
    ],
    "protocol.frame": [
        "tests/protocol/test_frame.py",
        "tests/protocol/test_frame_edges.py",
        "tests/protocol/test_false_headers.py",
        "tests/protocol/test_crc_and_tag.py",
        "tests/protocol/test_vectors.py",
    ],
    "protocol.session": [
        "tests/protocol/test_session.py",
        "tests/protocol/test_session_mutants.py",
    ],
    "protocol.pump_layer": [
        "tests/protocol/test_pump_layer_paths.py",
        "tests/protocol/test_pump_layer.py",
    ],
    "protocol.host_layer": [
        "tests/protocol/test_host_layer.py",
    ],
    "protocol.backoff": [  # test_backoff.py's quick tests (its simulations take seconds)
        "tests/protocol/test_backoff_mutants.py",
        "tests/protocol/test_backoff.py::test_a_guesser_on_another_sender_never_delays_the_holder",
        "tests/protocol/test_backoff.py::test_a_right_proof_takes_no_token_and_a_wrong_one_takes_one",
        "tests/protocol/test_backoff.py::test_accounts_are_bounded_and_new_senders_get_no_fresh_budget_when_full",
        "tests/protocol/test_backoff.py::test_bad_configuration_is_refused",
    ],
}

# what a module's working directory links to (mutmut copies them into its own mutants/)
LINKED = ["firmware_sim", "protocol", "hal", "host_tools", "vocabulary", "tests",
          "pyproject.toml", "PROTOCOL.md", "REQUIREMENTS.md", "README.md"]


def module_path(module: str) -> str:
    """``protocol.frame`` -> ``protocol/frame.py``."""
    return module.replace(".", "/") + ".py"


def prepare(module: str, fresh: bool) -> Path:
    """The module's working directory, emptied first when ``fresh``."""
    work = WORK / module
    if fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        link = work / name
        if not link.exists() and (ROOT / name).exists():
            link.symlink_to(ROOT / name)
    return work


def forget_survivors(work: Path, module: str) -> int:
    """Mark the mutants of ``module`` that a previous run in ``work`` did not kill as not run,
    so the next run tries them again (with the tests as they are now); returns how many."""
    sys.path.insert(0, str(Path(__file__).parent))
    from score import KILLED  # noqa: PLC0415 (the score script is not a package)

    meta = work / "mutants" / (module_path(module) + ".meta")
    if not meta.exists():
        return 0
    data = json.loads(meta.read_text())
    codes = data["exit_code_by_key"]
    again = [k for k, v in codes.items() if v not in KILLED]
    for k in again:
        codes[k] = None
    meta.write_text(json.dumps(data, indent=4))
    return len(again)


def tests_of(module: str) -> list[str]:
    """The module's test files that exist (a missing one is reported, not fatal)."""
    tests = [t for t in MODULES[module] if (ROOT / t.split("::")[0]).exists()]
    for t in sorted(set(MODULES[module]) - set(tests)):
        print(f"warning: {t} (listed for {module}) does not exist", flush=True)
    return tests


def run_one(module: str) -> int:
    """Run mutmut for ``module`` in this process (cwd: its working directory): every mutant
    without a result yet."""
    import mutmut.configuration as mc  # noqa: PLC0415 (only in the mutation extra)
    from mutmut.__main__ import _run  # noqa: PLC0415

    cfg = mc._load_config()
    cfg.only_mutate = [module_path(module)]
    cfg.pytest_add_cli_args_test_selection = tests_of(module)
    mc._config = cfg
    _run((), max_children=1)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("modules", nargs="*", help=f"default: all of {', '.join(MODULES)}")
    ap.add_argument("--resume", action="store_true",
                    help="keep the previous results of each module (default: start afresh)")
    ap.add_argument("--survivors", action="store_true",
                    help="with --resume: run again only the mutants not yet killed")
    ap.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        ap.error(f"unknown module(s) {unknown}; known: {', '.join(MODULES)}")
    if args.in_process:
        (module,) = args.modules
        if args.survivors:
            print(f"{module}: {forget_survivors(Path.cwd(), module)} mutants to run again",
                  flush=True)
        return run_one(module)
    for module in args.modules or list(MODULES):
        work = prepare(module, fresh=not args.resume)
        print(f"== {module} ({module_path(module)}) against {' '.join(tests_of(module))}",
              flush=True)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--in-process", module]
        if args.survivors:
            cmd.append("--survivors")
        rc = subprocess.call(cmd, cwd=work, env={**os.environ, "PYTHONHASHSEED": "0",
                                                      "HYPOTHESIS_PROFILE": "mutation"})
        if rc != 0:
            print(f"mutmut failed on {module} (exit {rc})")
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
