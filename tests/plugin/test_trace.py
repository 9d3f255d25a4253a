"""The requirement trace: markers -> trace.json / trace.html / JUnit properties, and a run that
fails while a requirement has no passing test."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from host_tools.trace import read_requirements

pytest_plugins = ["pytester"]

REQS = """# reqs
| ID | Requirement | Numbers from |
|---|---|---|
| F-1 | a fact, not a requirement | - |
| SAF-1 | volume is conserved | - |
| THR-2 | steps are ordered | F-1 |
"""

TESTS = """
import pytest
pytestmark = pytest.mark.requirement("SAF-1")

def test_conserved():
    assert True

@pytest.mark.requirement("THR-2")
def test_ordered():
    assert {outcome}
"""


def _run(pytester: pytest.Pytester, outcome: str) -> tuple[pytest.RunResult, dict]:
    pytester.makefile(".md", REQUIREMENTS=REQS)
    pytester.makepyfile(test_reqs=TESTS.format(outcome=outcome))
    result = pytester.runpytest("-p", "no:cacheprovider", "--trace-dir", "out",
                                "--junitxml", "out/junit.xml", "-o", "junit_family=xunit1")
    return result, json.loads((pytester.path / "out" / "trace.json").read_text())


def test_every_requirement_traced_passes(pytester: pytest.Pytester) -> None:
    result, doc = _run(pytester, "True")
    assert result.ret == 0
    assert doc["untraced"] == []
    assert set(doc["requirements"]) == {"SAF-1", "THR-2"}
    thr = doc["requirements"]["THR-2"]
    assert thr["passed"] == 1 and list(thr["tests"]) == ["test_reqs.py::test_ordered"]
    assert doc["requirements"]["SAF-1"]["passed"] == 2  # module marker covers both tests
    assert "checks" in doc["requirements"]["SAF-1"]
    junit = (pytester.path / "out" / "junit.xml").read_text()
    assert 'name="requirements" value="THR-2 SAF-1"' in junit
    assert "THR-2" in (pytester.path / "out" / "trace.html").read_text()


def test_requirement_without_a_passing_test_fails_the_run(pytester: pytest.Pytester) -> None:
    result, doc = _run(pytester, "False")
    assert result.ret != 0
    assert doc["untraced"] == ["THR-2"]
    assert doc["requirements"]["THR-2"]["failed"] == 1
    result.stdout.fnmatch_lines(["*NOT VERIFIED THR-2*"])


def test_unknown_requirement_id_fails_the_run(pytester: pytest.Pytester) -> None:
    pytester.makefile(".md", REQUIREMENTS=REQS)
    pytester.makepyfile(test_x="""
import pytest
@pytest.mark.requirement("SAF-1", "THR-2", "NOPE-9")
def test_x():
    pass
""")
    result = pytester.runpytest("-p", "no:cacheprovider", "--trace-dir", "out")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*UNKNOWN ID NOPE-9*"])


def test_project_requirements_have_unique_ids_and_all_invariants() -> None:
    path = Path(__file__).resolve().parents[2] / "REQUIREMENTS.md"
    text = path.read_text(encoding="utf-8")
    reqs = read_requirements(path)
    assert {f"SAF-{n}" for n in range(1, 14)} <= set(reqs)
    for rid in reqs:
        assert text.count(f"| {rid} |") == 1, rid
