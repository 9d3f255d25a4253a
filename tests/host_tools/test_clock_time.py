"""The local wall time `pumpctl clock set` sends (no pump needed)."""
from __future__ import annotations

import datetime as dt

import pytest

from host_tools.pumpctl.clock_time import local_wall_ms
from host_tools.units import QuantityError

DAY = 86_400_000
MAR_2 = 1_772_409_600_000  # 2026-03-02 00:00 as pump wall ms


def test_an_offset_is_kept_as_written() -> None:
    assert local_wall_ms("2026-03-02T08:00+01:00") == MAR_2 + 8 * 3_600_000
    assert local_wall_ms("2026-03-02T08:00") == MAR_2 + 8 * 3_600_000


def test_time_of_day_is_on_the_pump_date() -> None:
    assert local_wall_ms("08:00+01:00", pump_wall_ms=MAR_2 + 5) == MAR_2 + 8 * 3_600_000
    assert local_wall_ms("-2h", pump_wall_ms=MAR_2 + 3 * 3_600_000) == MAR_2 + 3_600_000


def test_tz_converts_instants_with_daylight_saving_time() -> None:
    # 2026-03-29 01:30 UTC is 03:30 in Paris (summer time since 01:00 UTC)
    assert local_wall_ms("2026-03-29T01:30Z", tz="Europe/Paris") == \
        (MAR_2 + 27 * DAY) + 3 * 3_600_000 + 30 * 60_000
    now = dt.datetime(2026, 3, 2, 7, 0, tzinfo=dt.timezone.utc)
    assert local_wall_ms("now", tz="Europe/Paris", now=now) == MAR_2 + 8 * 3_600_000


def test_bad_input_is_refused() -> None:
    for text, tz in (("tomorrow", None), ("08:00", "Nowhere/City")):
        with pytest.raises(QuantityError):
            local_wall_ms(text, tz)
