"""A failing test that logged hundreds of lines gets one readable digest, not the whole log."""
from __future__ import annotations

import pytest

from host_tools.log_digest import digest

pytest_plugins = ["pytester"]

NOISY = """
import logging
from hypothesis import given, settings, strategies as st

@settings(max_examples=200, database=None)
@given(st.integers(0, 1000))
def test_noisy(n):
    for seq in range(30):
        logging.getLogger("pump").warning("refused CANCEL_BOLUS seq=%d: NO_BOLUS", n + seq)
    assert n < 0
"""


def test_failing_hypothesis_run_gets_a_digest(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_noisy=NOISY)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "distinct messages" in out
    assert out.count("refused CANCEL_BOLUS") < 40, "the log was not digested"
    result.stdout.fnmatch_lines(["*x WARNING*refused CANCEL_BOLUS seq=*"])


def test_short_logs_are_kept_and_zero_keeps_everything() -> None:
    short = "a 1\nb 2\n"
    assert digest(short, 40) == short
    long = "".join(f"retry {i}\n" for i in range(100)) + "boom\n"
    d = digest(long, 40)
    assert "100 x retry 0" in d and d.rstrip().endswith("boom")
    assert digest(long, 0) == long
