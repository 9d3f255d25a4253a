"""The IEC 60601-2-24 accuracy report: the analysis on known samples, then on the model."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from host_tools.accuracy import WINDOWS_MIN, analyse

pytestmark = pytest.mark.requirement("MEC-4")

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


# --- on the model -------------------------------------------------------------------------------

def test_no_fault_gives_the_declared_accuracy_and_over_infusion_its_own() -> None:
    from firmware_sim import load_profile
    from host_tools.accuracy import run_accuracy
    prof = load_profile("ip20")
    declared = prof.mechanism.systematic_error_ppm / 10_000  # +1.0 %
    plain = run_accuracy(prof, 24_000_000)
    assert plain.mean_error_percent == pytest.approx(declared, abs=0.05)
    over = run_accuracy(prof, 24_000_000, {"over_infusion": {"permille": 145}})
    assert over.mean_error_percent == pytest.approx(14.5, abs=0.05)
    for p in over.trumpet:  # the variation widens short windows around the mean
        assert p.min_error_percent <= over.mean_error_percent + 0.05
        assert p.max_error_percent >= over.mean_error_percent - 0.05
    ideal = run_accuracy(prof, 24_000_000, ideal=True)
    assert ideal.mean_error_percent == pytest.approx(0.0, abs=0.01)
    stalled = run_accuracy(prof, 24_000_000, {"motor_stall": {"recover_after_ms": 0}})
    assert stalled.mean_error_percent == -100.0


def test_pumpsim_accuracy_writes_both_graphs_and_the_json(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    from host_tools.pumpsim import main
    out = tmp_path / "acc"
    with pytest.raises(SystemExit) as e:
        main(["accuracy", "--profile", "ip20", "--rate", "1000000", "--fault",
              "over_infusion:permille=145", "--out", str(out)])
    assert e.value.code == 0
    assert (tmp_path / "acc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    doc = json.loads((tmp_path / "acc.json").read_text())
    assert doc["settings"]["faults"] == {"over_infusion": {"permille": 145}}
    assert [w["window_min"] for w in doc["trumpet"]] == list(WINDOWS_MIN)
    assert len(doc["samples"]) == 241 and "mean_error_percent" in doc
    printed = capsys.readouterr().out
    assert "max error" in printed and "mean error" in printed
    with pytest.raises(SystemExit) as e:
        main(["accuracy", "--fault", "over_infusion:permille=5000", "--out", str(out)])
    assert e.value.code == 2
