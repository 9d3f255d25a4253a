"""The IEC 60601-2-24 accuracy report: the analysis on known samples, then on the model."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from host_tools.accuracy import WINDOWS_MIN, analyse

DAY_MS = 86_400_000


def _line(rate_nl_per_day: int, gain: float = 1.0) -> list[int]:
    """Cumulative nL every 30 s for 120 min of a perfect line at ``gain`` x the rate."""
    return [int(gain * rate_nl_per_day * i * 30_000 // DAY_MS) for i in range(241)]


def test_a_perfect_line_has_no_error() -> None:
    flows, trumpet, mean = analyse(_line(2_880_000), 2_880_000)
    assert len(flows) == 240 and set(flows) == {2_880_000}
    assert mean == 0.0
    assert [p.window_min for p in trumpet] == list(WINDOWS_MIN)
    # sliding windows in the second hour: 120 intervals - P / 0.5 min + 1
    assert [p.windows for p in trumpet] == [117, 111, 99, 83, 59]
    assert all(p.max_error_percent == p.min_error_percent == 0.0 for p in trumpet)


def test_a_steady_excess_is_the_error_of_every_window() -> None:
    _, trumpet, mean = analyse(_line(2_880_000, 1.145), 2_880_000)
    assert mean == pytest.approx(14.5)
    for p in trumpet:
        assert p.max_error_percent == pytest.approx(14.5) == p.min_error_percent


def test_pulses_widen_the_short_windows() -> None:
    # one 2,000 nL pulse every 10 min at 288,000 nL/day (2,000 nL per 10 min)
    samples = [2_000 * (i // 20) for i in range(241)]
    _, trumpet, mean = analyse(samples, 288_000)
    assert mean == pytest.approx(0.0)
    spreads = [p.max_error_percent - p.min_error_percent for p in trumpet]
    assert spreads == sorted(spreads, reverse=True) and spreads[0] > 100 > spreads[-1]


def test_samples_that_do_not_cover_the_analysis_are_refused() -> None:
    with pytest.raises(ValueError):
        analyse(list(range(100)), 1_000_000)
    with pytest.raises(ValueError):
        analyse(_line(1_000_000), 0)
