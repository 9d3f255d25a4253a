"""Each row of the threshold table on its own: the distance to its crossing for a pump in a given
state (None when the row is not armed, <= 0 when its condition holds), checked by exact values
on a stand-in pump that has only what the rows read."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from firmware_sim.enums import Alarm, BolusKind
from firmware_sim.pump import thresholds as th

pytestmark = pytest.mark.requirement("ALM-1", "ALM-3")

T = 1_000  # run ms at which the distances are asked
RES, DELIV, PATH, COUNTED = 5_000, 300, 40, 7_000


class Faults:
    def __init__(self, end: int | None) -> None:
        self.end = end

    def next_end_ms(self) -> int | None:
        return self.end


def pump(state: str = "INFUSING", alarms: set | None = None, **kw) -> SimpleNamespace:
    p = SimpleNamespace(machine=SimpleNamespace(state=state), alarms=alarms or set(),
                        low_threshold_nl=2_000, bolus=None, refill_due_ms=None,
                        faults=Faults(None), dose_window=None, keep_open=False,
                        concentration_ug_per_ml=10_000)
    p._window_limit_pg = lambda: None
    p._limit_conc = lambda: 10_000
    p._window_ms = lambda: 3_600_000
    p._charge_used = lambda t, deliv: 2 * t + 3 * deliv
    for k, v in kw.items():
        setattr(p, k, v)
    return p


def distance(row: str, p: SimpleNamespace) -> int | None:
    (r,) = [r for r in th.THRESHOLDS if r.name == row]
    return r.distance(p, T, RES, DELIV, PATH, COUNTED)


def test_delivering_means_infusing_or_a_bolus() -> None:
    assert th._delivering(pump("INFUSING")) and th._delivering(pump("BOLUS"))
    for state in ("STOPPED", "FAULT", "REFILL", "EMPTY"):
        assert not th._delivering(pump(state))


def test_reservoir_rows() -> None:
    assert th._empty(pump(), T, RES, DELIV, PATH, COUNTED) == RES
    assert th._empty(pump("STOPPED"), T, RES, DELIV, PATH, COUNTED) is None
    assert th._low(pump("BOLUS"), T, RES, DELIV, PATH, COUNTED) == RES - 2_000
    assert th._low(pump("STOPPED"), T, RES, DELIV, PATH, COUNTED) is None
    assert th._low(pump(alarms={Alarm.LOW_RESERVOIR}), T, RES, DELIV, PATH, COUNTED) is None
    assert th._low(pump(alarms={Alarm.REFILL_DUE}), T, RES, DELIV, PATH, COUNTED) == 3_000


def test_bolus_rows() -> None:
    bridge = {"kind": BolusKind.BRIDGE, "start_ms": 0, "duration_ms": 0}
    timed = {"kind": BolusKind.CLINICIAN, "start_ms": 200, "duration_ms": 1_500}
    assert th._bridge_end(pump("BOLUS", bolus=bridge), T, RES, DELIV, PATH, COUNTED) == PATH
    assert th._bridge_end(pump("INFUSING", bolus=bridge), T, RES, DELIV, PATH, COUNTED) is None
    assert th._bridge_end(pump("BOLUS", bolus=timed), T, RES, DELIV, PATH, COUNTED) is None
    assert th._bridge_end(pump("BOLUS"), T, RES, DELIV, PATH, COUNTED) is None
    assert th._bolus_end(pump("BOLUS", bolus=timed), T, RES, DELIV, PATH, COUNTED) == 700
    assert th._bolus_end(pump("BOLUS", bolus=bridge), T, RES, DELIV, PATH, COUNTED) is None
    assert th._bolus_end(pump("INFUSING", bolus=timed), T, RES, DELIV, PATH, COUNTED) is None
    assert th._bolus_end(pump("BOLUS"), T, RES, DELIV, PATH, COUNTED) is None


def test_time_rows() -> None:
    assert th._refill_due(pump(), T, RES, DELIV, PATH, COUNTED) is None
    assert th._refill_due(pump(refill_due_ms=4_000), T, RES, DELIV, PATH, COUNTED) == 3_000
    assert th._refill_due(pump(refill_due_ms=4_000, alarms={Alarm.REFILL_DUE}),
                          T, RES, DELIV, PATH, COUNTED) is None
    assert th._fault_end(pump(), T, RES, DELIV, PATH, COUNTED) is None
    assert th._fault_end(pump(faults=Faults(2_500)), T, RES, DELIV, PATH, COUNTED) == 1_500
    assert th._window_end(pump(), T, RES, DELIV, PATH, COUNTED) is None
    assert th._window_end(pump(dose_window=[600, 99]), T, RES, DELIV, PATH, COUNTED) == (
        600 + 3_600_000 - T)


def test_window_limit_row() -> None:
    armed = {"_window_limit_pg": lambda: 100_000_000}
    # (100,000,000 - 7,000) pg left at 10,000 pg/nL: 9,999.3 -> 10,000 nL still allowed
    assert th._window_limit(pump(**armed), T, RES, DELIV, PATH, COUNTED) == 10_000
    assert th._window_limit(pump(**armed), T, RES, DELIV, PATH, 100_000_000) == 0
    assert th._window_limit(pump(), T, RES, DELIV, PATH, COUNTED) is None
    assert th._window_limit(pump("STOPPED", **armed), T, RES, DELIV, PATH, COUNTED) is None
    assert th._window_limit(pump(keep_open=True, **armed), T, RES, DELIV, PATH, COUNTED) is None
    assert th._window_limit(pump(concentration_ug_per_ml=0, **armed),
                            T, RES, DELIV, PATH, COUNTED) is None


def test_battery_rows() -> None:
    row = th._battery(Alarm.BATTERY_ERI, lambda p: 50_000)
    assert row(pump(), T, RES, DELIV, PATH, COUNTED) == 50_000 - (2 * T + 3 * DELIV)
    assert row(pump(alarms={Alarm.BATTERY_ERI}), T, RES, DELIV, PATH, COUNTED) is None
    assert row(pump(alarms={Alarm.END_OF_SERVICE}), T, RES, DELIV, PATH, COUNTED) is None
    assert row(pump(alarms={Alarm.LOW_RESERVOIR}), T, RES, DELIV, PATH, COUNTED) == 47_100
    assert th._battery(Alarm.REDUCED_BATTERY, lambda p: None)(pump(), T, RES, DELIV, PATH,
                                                              COUNTED) is None
    seen = []
    th._battery(Alarm.BATTERY_ERI, lambda p: seen.append(p) or 1)(pump(), T, RES, DELIV, PATH,
                                                                  COUNTED)
    assert len(seen) == 1 and seen[0] is not None


def test_the_table_lists_every_row_once_with_its_measure() -> None:
    assert [(r.name, r.measure) for r in th.THRESHOLDS] == [
        ("reservoir_empty", th.Measure.VOLUME), ("low_reservoir", th.Measure.VOLUME),
        ("bridge_end", th.Measure.VOLUME), ("bolus_end", th.Measure.TIME),
        ("dose_window_end", th.Measure.TIME), ("dose_window_limit", th.Measure.COUNTED),
        ("old_drug_out", th.Measure.VOLUME), ("refill_due", th.Measure.TIME), ("battery_eri", th.Measure.CHARGE),
        ("reduced_battery", th.Measure.CHARGE), ("end_of_service", th.Measure.CHARGE),
        ("fault_end", th.Measure.TIME)]
    assert distance("reservoir_empty", pump()) == RES
