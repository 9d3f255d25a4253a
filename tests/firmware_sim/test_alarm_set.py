"""The alarm set on its own, checked by its results: raising, clearing, the u16 bitmask the
status reports and the stored form a restart reads back."""
from __future__ import annotations

import pytest

from firmware_sim.alarms import AlarmEntry, AlarmSet
from firmware_sim.enums import Alarm

pytestmark = pytest.mark.requirement("ALM-6")


def test_raise_once_keeps_the_first_time() -> None:
    s = AlarmSet()
    assert s.active == {}
    assert s.raise_(Alarm.LOW_RESERVOIR, 1_000) is True
    assert s.raise_(Alarm.LOW_RESERVOIR, 2_000) is False
    assert s.active == {Alarm.LOW_RESERVOIR: AlarmEntry(1_000, False)}
    assert Alarm.LOW_RESERVOIR in s and Alarm.MOTOR_STALL not in s


def test_clear_reports_whether_it_was_active() -> None:
    s = AlarmSet()
    s.raise_(Alarm.MOTOR_STALL, 5)
    assert s.clear(Alarm.BATTERY_ERI) is False
    assert s.clear(Alarm.MOTOR_STALL) is True
    assert s.clear(Alarm.MOTOR_STALL) is False
    assert s.active == {} and Alarm.MOTOR_STALL not in s


def test_bitmask_has_one_bit_per_active_alarm() -> None:
    s = AlarmSet()
    assert s.bitmask() == 0
    s.raise_(Alarm.LOW_RESERVOIR, 0)
    assert s.bitmask() == 0b1
    s.raise_(Alarm.REFILL_DISCREPANCY, 0)
    s.raise_(Alarm.REDUCED_BATTERY, 0)
    s.raise_(Alarm.EMPTY_RESERVOIR, 0)
    assert s.bitmask() == 0b1_1000_0011
    s.clear(Alarm.LOW_RESERVOIR)
    assert s.bitmask() == 0b1_1000_0010


def test_stored_form_is_sorted_and_read_back_exactly() -> None:
    s = AlarmSet()
    s.raise_(Alarm.REDUCED_BATTERY, 30)
    s.raise_(Alarm.LOW_RESERVOIR, 10)
    s.raise_(Alarm.MOTOR_STALL, 20)
    s.active[Alarm.MOTOR_STALL].acked = True
    data = s.to_list()
    assert data == [[0, 10, 0], [5, 20, 1], [8, 30, 0]]
    back = AlarmSet.from_list(data)
    assert back.active == s.active
    assert back.active[Alarm.MOTOR_STALL] == AlarmEntry(20, True)
    assert isinstance(back.active[Alarm.MOTOR_STALL].acked, bool)
    assert all(isinstance(a, Alarm) for a in back.active)
    assert back.to_list() == data and back.bitmask() == s.bitmask()
    assert AlarmSet.from_list([]).active == {}


def test_a_new_entry_is_not_acknowledged() -> None:
    assert AlarmEntry(7) == AlarmEntry(7, False)
    s = AlarmSet()
    s.raise_(Alarm.BATTERY_ERI, 7)
    assert s.active[Alarm.BATTERY_ERI].acked is False
