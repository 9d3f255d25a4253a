"""The one table of thresholds that ends a delivery segment and raises alarms.

Every condition the run clock can reach by itself (the reservoir emptying or falling to its
low-reservoir threshold, a bolus or a bridge ending, the refill-due date, the battery reaching its
elective replacement indicator, reduced-battery level or end of service, ...) is one row of
:data:`THRESHOLDS`. A row says what it measures and how far away its crossing is; the delivery
engine (:mod:`firmware_sim.pump.delivery`) uses the same rows to end a segment at the first
millisecond a condition holds (``advance_to``), to predict that millisecond (``next_event_ms``)
and to act on it (``_after_segment``). A new threshold alarm is one row here and its action.

Measures (all integers, counted from the start of a segment):

- ``TIME``: run ms;
- ``VOLUME``: nL delivered (basal + bolus, the exact floor functions of the delivery model);
- ``CHARGE``: battery charge used, in the exact units of :mod:`firmware_sim.pump.power`
  (``idle x ms + motor x nL``);
- ``COUNTED``: nL counted by the dose window (basal and patient boluses, not clinician,
  priming or bridge boluses; see :mod:`firmware_sim.pump.windows`).

The ``old_drug_out`` row logs nothing: it ends a segment where the old drug of a concentration
change leaves the catheter while a dose window counts, because the window counts each segment at
the concentration in force at its start (so the count does not depend on how the clock moved).

A row's ``distance(pump, t, reservoir_nl, delivered_nl, path_old_nl, window_pg)`` gives how much of its
measure remains before the crossing at run time ``t`` with those moving quantities (the rest of
the state as it is now): None when the row is not armed, <= 0 when the condition holds already.
``fire(pump)`` performs the row's action (raise the alarm, change the state, log).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from ..enums import Alarm, BolusKind

if TYPE_CHECKING:  # pragma: no cover
    from .pump import Pump


class Measure(enum.Enum):
    """What a threshold row counts from the start of a segment."""

    TIME = "time"
    VOLUME = "volume"
    CHARGE = "charge"
    COUNTED = "counted"


Distance = Callable[["Pump", int, int, int, int, int], "int | None"]


@dataclass(frozen=True)
class Threshold:
    """One row: ``name`` (for documents and tests), its :class:`Measure`, the distance to its
    crossing (None: not armed; <= 0: holds now) and the action when it holds."""

    name: str
    measure: Measure
    distance: Distance
    fire: Callable[["Pump"], None]


def _delivering(p: "Pump") -> bool:
    st = p.machine.state
    return st == "INFUSING" or st == "BOLUS"


def _empty(p: "Pump", t: int, res: int, deliv: int, path: int,
              counted: int) -> int | None:
    return res if _delivering(p) else None


def _low(p: "Pump", t: int, res: int, deliv: int, path: int,
              counted: int) -> int | None:
    if _delivering(p) and Alarm.LOW_RESERVOIR not in p.alarms:
        return res - p.low_threshold_nl
    return None


def _bridge_end(p: "Pump", t: int, res: int, deliv: int, path: int,
              counted: int) -> int | None:
    bol = p.bolus
    if bol is not None and bol["kind"] == BolusKind.BRIDGE and p.machine.state == "BOLUS":
        return path
    return None


def _bolus_end(p: "Pump", t: int, res: int, deliv: int, path: int,
              counted: int) -> int | None:
    bol = p.bolus
    if bol is not None and bol["kind"] != BolusKind.BRIDGE and p.machine.state == "BOLUS":
        return bol["start_ms"] + bol["duration_ms"] - t
    return None


def _refill_due(p: "Pump", t: int, res: int, deliv: int, path: int,
              counted: int) -> int | None:
    due = p.refill_due_ms
    if due is None or Alarm.REFILL_DUE in p.alarms:
        return None
    return due - t


def _fault_end(p: "Pump", t: int, res: int, deliv: int, path: int,
               counted: int) -> int | None:
    end = p.faults.next_end_ms()
    return None if end is None else end - t


def _window_limit(p: "Pump", t: int, res: int, deliv: int, path: int,
                  counted: int) -> int | None:
    limit = p._window_limit_pg()
    if limit is None or not _delivering(p) or p.keep_open or not p.concentration_ug_per_ml:
        return None
    return -(-(limit - counted) // p._limit_conc())  # nL still allowed in this window


def _window_end(p: "Pump", t: int, res: int, deliv: int, path: int,
                counted: int) -> int | None:
    win = p.dose_window
    if win is None or not (p.keep_open or _delivering(p)):
        return None  # nothing flows: the window is rolled by arithmetic (DoseWindowMixin)
    return win[0] + p._window_ms() - t


def _old_drug_out(p: "Pump", t: int, res: int, deliv: int, path: int,
                  counted: int) -> int | None:
    """nL until the old drug of a concentration change has left the catheter, while a dose
    window counts it at its higher concentration: the count's concentration changes there, so a
    segment ends there (nothing is logged)."""
    if path > 0 and p.dose_window is not None and _delivering(p) \
            and p.path_old_conc > (p.concentration_ug_per_ml or 0):
        return path
    return None


def _battery(alarm: Alarm, level: Callable[["Pump"], int | None]) -> Distance:
    def distance(p: "Pump", t: int, res: int, deliv: int, path: int,
                    counted: int) -> int | None:
        if alarm in p.alarms or Alarm.END_OF_SERVICE in p.alarms:
            return None
        at = level(p)
        return None if at is None else at - p._charge_used(t, deliv)
    return distance


THRESHOLDS: tuple[Threshold, ...] = (
    Threshold("reservoir_empty", Measure.VOLUME, _empty, lambda p: p._on_empty()),
    Threshold("low_reservoir", Measure.VOLUME, _low, lambda p: p._raise_alarm(
        Alarm.LOW_RESERVOIR, reservoir_nl=p.reservoir_nl)),
    Threshold("bridge_end", Measure.VOLUME, _bridge_end,
              lambda p: p._finish_bolus("COMPLETE")),
    Threshold("bolus_end", Measure.TIME, _bolus_end, lambda p: p._finish_bolus("COMPLETE")),
    Threshold("dose_window_end", Measure.TIME, _window_end, lambda p: p._on_window_end()),
    Threshold("dose_window_limit", Measure.COUNTED, _window_limit,
              lambda p: p._on_window_limit()),
    Threshold("old_drug_out", Measure.VOLUME, _old_drug_out, lambda p: None),
    Threshold("refill_due", Measure.TIME, _refill_due,
              lambda p: p._raise_alarm(Alarm.REFILL_DUE)),
    Threshold("battery_eri", Measure.CHARGE, _battery(Alarm.BATTERY_ERI, lambda p: p._eri_level()),
              lambda p: p._on_battery_eri()),
    Threshold("reduced_battery", Measure.CHARGE,
              _battery(Alarm.REDUCED_BATTERY, lambda p: p._battery_consts()[3]
                       if p.profile.battery_reduced_uah else None),
              lambda p: p._on_reduced_battery()),
    Threshold("end_of_service", Measure.CHARGE,
              _battery(Alarm.END_OF_SERVICE, lambda p: p._battery_consts()[2]),
              lambda p: p._on_end_of_service()),
    Threshold("fault_end", Measure.TIME, _fault_end, lambda p: p._faults_due()),
)
