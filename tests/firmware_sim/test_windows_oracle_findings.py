"""What the safety machine's dose-window oracle found wrong in the model, kept as model tests.

Finding 1: after a concentration change whose bridge bolus was interrupted, the catheter still
holds the old (stronger) drug and the window counts it at the old concentration, and the new drug
at the new one once the old is out. The model counted a whole delivery segment at the
concentration in force at the segment's start, so where the old drug ran out inside a segment the
window over-counted, and the moment its limit was reached depended on how the run was split into
clock steps (one 4 h step: the fallback 15 minutes early; 1-minute steps: on time). A dose
window's limit must be reached at the same millisecond however the clock moves.

Finding 2: a program change to another drug with a shorter window or a lower limit left a window
that was already over, or a count already at the new limit, to the end of the next delivery
segment: until the clock next moved (which may be hours later, in one step) the pump ran the
full schedule past the new limit. Both are acted on when the program changes.
"""
from __future__ import annotations

import dataclasses

import pytest

from firmware_sim import Pump, Schedule, load_profile
from firmware_sim.pump import thresholds

from .helpers import HOUR_MS, MINUTE_MS, events_of, ready_pump

pytestmark = pytest.mark.requirement("SAF-14", "THR-4")

RATE = 2_400_000  # nL/day: 100 uL an hour


def windowed(limit_ug: int, hours: int):
    prof = load_profile("ip20")
    morphine = dataclasses.replace(prof.drugs["morphine"], window_hours=hours,
                                   window_limit_ug=limit_ug)
    return dataclasses.replace(prof, drugs={**prof.drugs, "morphine": morphine})


def _after_cancelled_bridge(new_conc: int = 5_000, hours: int = 4) -> Pump:
    """Morphine 10 mg/mL for 4 h, then a refill at ``new_conc`` whose bridge is cancelled at
    once (the catheter keeps 250 uL of 10 mg/mL); a window of ``hours`` (0: none)."""
    prof = windowed(2_750, hours) if hours else load_profile("ip20")
    pump = ready_pump(prof, schedule=Schedule.constant(RATE), conc=10_000)
    pump.advance_to(4 * HOUR_MS)
    pump.refill_begin()
    pump.refill_withdrawn(0)
    pump.refill_complete(10_000_000, new_conc)
    pump.stop_bolus()
    return pump


def _limit_moments(step_ms: int) -> tuple[list[int], int]:
    """:func:`_after_cancelled_bridge`, then the clock moved to 8 h in steps of ``step_ms``:
    the DOSE_WINDOW_LIMIT moments and the volume delivered."""
    pump = _after_cancelled_bridge()
    assert pump.path_old_nl == 250_000 and pump.dose_window == [4 * HOUR_MS, 0]
    t = 4 * HOUR_MS
    while t < 8 * HOUR_MS:
        t = min(8 * HOUR_MS, t + step_ms)
        pump.advance_to(t)
    return [e.time_ms for e in events_of(pump, "DOSE_WINDOW_LIMIT")], pump.delivered_nl


def test_the_old_drug_leaving_the_catheter_changes_the_count_at_that_nanolitre() -> None:
    # 250,000 nL at 10 mg/mL (2.5 h) + 25,000 nL at 5 mg/mL (15 min) = 2,750 ug: 3 h in
    moments, delivered = _limit_moments(4 * HOUR_MS)
    assert moments[-1] == 7 * HOUR_MS


@pytest.mark.parametrize("step_ms", [MINUTE_MS, 7 * MINUTE_MS + 13, HOUR_MS])
def test_the_limit_moment_does_not_depend_on_the_clock_steps(step_ms: int) -> None:
    assert _limit_moments(step_ms) == _limit_moments(4 * HOUR_MS)


def test_the_segment_ends_where_the_old_drug_is_out_only_when_the_count_needs_it() -> None:
    (row,) = [r for r in thresholds.THRESHOLDS if r.name == "old_drug_out"]

    def distance(pump: Pump, path: int) -> int | None:
        return row.distance(pump, pump.t_ms, pump.reservoir_nl, pump.delivered_nl, path, 0)

    pump = _after_cancelled_bridge()
    assert distance(pump, 250_000) == 250_000
    assert distance(pump, 1) == 1
    assert distance(pump, 0) is None  # out: the new concentration from here on
    assert distance(_after_cancelled_bridge(hours=0), 250_000) is None  # no window counts
    assert distance(_after_cancelled_bridge(new_conc=12_000), 250_000) is None  # a weaker old
    assert distance(_after_cancelled_bridge(new_conc=10_001), 250_000) is None
    same = _after_cancelled_bridge()
    same.concentration_ug_per_ml = 10_000  # the old drug again: the count does not change
    assert distance(same, 250_000) is None
    pump.stop()
    assert distance(pump, 250_000) is None  # nothing flows
    row.fire(pump)  # logs and changes nothing
    assert pump.path_old_nl == 250_000


RATE_200_UG_H = 480_000  # nL/day: 200 ug an hour at 10 mg/mL


def two_windows():
    """ip20 with morphine 4 h / 1,000 ug and hydromorphone 1 h / 150 ug."""
    prof = load_profile("ip20")
    drugs = dict(prof.drugs)
    drugs["morphine"] = dataclasses.replace(drugs["morphine"], window_hours=4,
                                            window_limit_ug=1_000)
    drugs["hydromorphone"] = dataclasses.replace(drugs["hydromorphone"], window_hours=1,
                                                 window_limit_ug=150)
    return dataclasses.replace(prof, drugs=drugs)


def _switched_at(t_ms: int) -> Pump:
    pump = ready_pump(two_windows(), schedule=Schedule.constant(RATE_200_UG_H), conc=10_000)
    pump.advance_to(t_ms)
    pump.program_therapy("hydromorphone", 10_000, Schedule.constant(RATE_200_UG_H))
    return pump


def test_a_window_already_over_for_the_new_drug_ends_when_the_program_changes() -> None:
    pump = _switched_at(2 * HOUR_MS)  # the morphine window is 2 h old: over for 1 h windows
    assert pump.dose_window == [2 * HOUR_MS, 0]
    pump.advance_to(10 * HOUR_MS)  # one step: 150 ug at 200 ug/h take 45 min
    assert [e.time_ms for e in events_of(pump, "DOSE_WINDOW_LIMIT")] == [
        2 * HOUR_MS + 45 * MINUTE_MS + k * HOUR_MS for k in range(8)]


def test_a_count_already_at_the_new_limit_falls_back_when_the_program_changes() -> None:
    pump = _switched_at(50 * MINUTE_MS)  # about 166 ug counted: over hydromorphone's 150 ug
    assert pump.keep_open
    assert [e.time_ms for e in events_of(pump, "DOSE_WINDOW_LIMIT")] == [50 * MINUTE_MS]
    pump.advance_to(5 * HOUR_MS)
    assert events_of(pump, "DOSE_WINDOW_END")[0].time_ms == HOUR_MS
    assert [e.time_ms for e in events_of(pump, "DOSE_WINDOW_LIMIT")][:2] == [
        50 * MINUTE_MS, HOUR_MS + 45 * MINUTE_MS]


def test_at_the_edges_the_window_ends_and_the_limit_holds_at_the_change() -> None:
    # exactly 1 h into the window: a 1 h window is over (and its 200 ug no longer count)
    pump = _switched_at(HOUR_MS)
    assert pump.dose_window == [HOUR_MS, 0] and not pump.keep_open
    # exactly 150 ug counted (45 min at 200 ug an hour): the limit is reached
    pump = _switched_at(45 * MINUTE_MS)
    assert pump.dose_window == [0, 150_000_000] and pump.keep_open
    assert [e.time_ms for e in events_of(pump, "DOSE_WINDOW_LIMIT")] == [45 * MINUTE_MS]
