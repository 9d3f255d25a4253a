"""Requirement trace for pytest (registered through the ``pytest11`` entry point as
``intrapump_trace``).

Tests name the requirements of REQUIREMENTS.md they verify::

    pytestmark = pytest.mark.requirement("SAF-3", "ALM-2")      # a whole module
    @pytest.mark.requirement("LIM-4")                              # one test

With ``--trace-dir DIR`` (``make trace``) the run writes ``DIR/trace.json`` (for each requirement:
its statement, the tests that verify it, their passed/failed/skipped counts and, for safety
invariants, how many checks the safety machine made) and ``DIR/trace.html`` (a readable matrix).
A requirement without a passing test, or a marker naming an unknown ID, is listed in the
terminal summary and makes the run exit non-zero. Requirement IDs are also written as the
``requirements`` property of each test case in JUnit XML (``--junitxml``).

Safety-machine counters (``host_tools.safety.stats``) are summed over pytest-xdist workers here.
"""
from __future__ import annotations

import collections
import dataclasses
import html
import json
import re
from pathlib import Path
from typing import Any

import pytest

MARKER = "requirement"
_ROW = re.compile(r"^\|\s*([A-Z]{3}-\d+)\s*\|\s*(.+?)\s*\|")
_WORKER_KEY = "intrapump_safety"


@dataclasses.dataclass
class Requirement:
    """One row of REQUIREMENTS.md and what the run found about it."""

    rid: str
    statement: str
    tests: dict[str, str] = dataclasses.field(default_factory=dict)  # nodeid -> outcome
    checks: int = 0  # safety-machine checks of this invariant

    def counts(self) -> dict[str, int]:
        """Tests per outcome (passed, failed, skipped)."""
        c = collections.Counter(self.tests.values())
        return {k: c.get(k, 0) for k in ("passed", "failed", "skipped")}


def read_requirements(path: Path) -> dict[str, Requirement]:
    """The requirements of a REQUIREMENTS.md-style file: table rows ``| ID | statement |``."""
    out: dict[str, Requirement] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _ROW.match(line)
        if m and m.group(1)[0] != "F":  # device facts (F-n) are sources, not requirements
            out[m.group(1)] = Requirement(m.group(1), m.group(2))
    return out


def requirement_ids(item: pytest.Item) -> list[str]:
    """Every requirement ID named by the markers of ``item`` (module, class and function)."""
    ids: list[str] = []
    for mark in item.iter_markers(MARKER):
        ids += [i for i in mark.args if i not in ids]
    return ids


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("intrapump-trace", "intrapump requirement trace")
    group.addoption("--trace-dir", default=None, metavar="DIR",
                    help="write trace.json and trace.html (requirements -> tests) into DIR; "
                         "fail when a requirement has no passing test")
    group.addoption("--requirements", default=None, metavar="FILE",
                    help="requirements file (default: REQUIREMENTS.md in the rootdir)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(*ids): requirement IDs of REQUIREMENTS.md this test verifies "
                   "(SAF-1, THR-2, ...)")
    if config.getoption("--trace-dir") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(TraceRecorder(config), "intrapump-trace-recorder")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        ids = requirement_ids(item)
        if ids:
            item.user_properties.append(("requirements", " ".join(ids)))


def pytest_sessionfinish(session: pytest.Session) -> None:
    from host_tools.safety import stats
    worker_output = getattr(session.config, "workeroutput", None)
    if worker_output is not None:  # an xdist worker: the controller sums the counters
        worker_output[_WORKER_KEY] = stats.snapshot()
    else:
        stats.TOTAL.update(stats.snapshot())


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:  # pragma: no cover - xdist controller
    from host_tools.safety import stats
    stats.TOTAL.update(getattr(node, "workeroutput", {}).get(_WORKER_KEY, {}))


class TraceRecorder:
    """Collects outcomes per requirement on the controller and writes the reports."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.out = Path(config.getoption("--trace-dir"))
        path = config.getoption("--requirements") or Path(str(config.rootpath)) / "REQUIREMENTS.md"
        self.path = Path(path)
        self.reqs = read_requirements(self.path)
        self.unknown: dict[str, list[str]] = {}
        self.outcomes: dict[str, str] = {}
        self.ids: dict[str, list[str]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        ids = dict(report.user_properties).get("requirements")
        if not ids:
            return
        self.ids[report.nodeid] = ids.split()
        prev = self.outcomes.get(report.nodeid)
        if report.failed:
            self.outcomes[report.nodeid] = "failed"
        elif prev == "failed":
            return
        elif report.skipped:
            self.outcomes[report.nodeid] = "skipped"
        elif report.when == "call":
            self.outcomes[report.nodeid] = "passed"

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        from host_tools.safety import stats
        for nodeid, ids in self.ids.items():
            for rid in ids:
                if rid in self.reqs:
                    self.reqs[rid].tests[nodeid] = self.outcomes.get(nodeid, "skipped")
                else:
                    self.unknown.setdefault(rid, []).append(nodeid)
        for key, n in stats.TOTAL.items():
            if key.startswith("check.") and key[6:] in self.reqs:
                self.reqs[key[6:]].checks += n
        self.out.mkdir(parents=True, exist_ok=True)
        doc = self.document()
        (self.out / "trace.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        (self.out / "trace.html").write_text(render_html(doc), encoding="utf-8")
        if doc["untraced"] or doc["unknown_ids"]:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def document(self) -> dict[str, Any]:
        """The trace as a JSON-ready dict."""
        reqs = {rid: {"statement": r.statement, "tests": dict(sorted(r.tests.items())),
                      **r.counts(), **({"checks": r.checks} if rid.startswith("SAF") else {})}
                for rid, r in self.reqs.items()}
        return {"requirements_file": str(self.path), "requirements": reqs,
                "untraced": [rid for rid, r in reqs.items() if not r["passed"]],
                "unknown_ids": self.unknown}

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        doc = self.document()
        tr = terminalreporter
        tr.section("intrapump requirement trace")
        total = len(doc["requirements"])
        tr.write_line(f"{total - len(doc['untraced'])} of {total} requirements verified by a "
                      f"passing test; reports in {self.out}/")
        for rid in doc["untraced"]:
            r = doc["requirements"][rid]
            tr.write_line(f"NOT VERIFIED {rid}: {r['statement']} "
                          f"(failed {r['failed']}, skipped {r['skipped']})", red=True)
        for rid, nodes in doc["unknown_ids"].items():
            tr.write_line(f"UNKNOWN ID {rid} in {', '.join(nodes[:3])}", red=True)


def render_html(doc: dict[str, Any]) -> str:
    """A readable requirement x test matrix."""
    rows = []
    for rid, r in doc["requirements"].items():
        ok = r["passed"] > 0
        tests = "<br>".join(f"<span class={o}>{html.escape(n)}</span>"
                            for n, o in r["tests"].items()) or "<em>none</em>"
        checks = f"{r['checks']:,}" if "checks" in r else ""
        rows.append(f"<tr class={'ok' if ok else 'missing'}><td>{rid}</td>"
                    f"<td>{html.escape(r['statement'])}</td><td>{r['passed']}</td>"
                    f"<td>{r['failed']}</td><td>{r['skipped']}</td><td>{checks}</td>"
                    f"<td class=tests>{tests}</td></tr>")
    return ("<!doctype html><meta charset=utf-8><title>intrapump requirement trace</title>"
            "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
            "td,th{border:1px solid #999;padding:3px;vertical-align:top}"
            "tr.missing{background:#fdd}.failed{color:#b00}.skipped{color:#888}"
            ".tests{font-family:monospace;font-size:80%}</style>"
            f"<h1>Requirement trace</h1><p>{len(doc['untraced'])} requirement(s) without a "
            f"passing test.</p><table><tr><th>ID</th><th>Requirement</th><th>passed</th>"
            "<th>failed</th><th>skipped</th><th>safety checks</th><th>tests</th></tr>"
            + "".join(rows) + "</table>\n")
