"""What the safety machine draws: strategies built once per profile, and state-dependent choices.

Building a hypothesis strategy is cheap, but the first draw from a new strategy object validates
it and works out its properties (a few milliseconds for a ``one_of`` of composites); a machine
that builds its strategies inside its rules pays that at every step. So the strategies that
depend only on the device profile are built once per profile (:func:`for_profile`), and a choice
between a value that depends on the pump's state and drawn values goes through :func:`choose`
(the option first, as ``st.one_of`` draws it, then the option's value) instead of a fresh
``st.one_of(st.just(value), ...)``.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any

from hypothesis import strategies as st

from host_tools import strategies as ips

from .device_profiles import device_profile
from .oracle import DAY_MS, Limits

HOUR_MS = 3_600_000
YEAR_MS = 365 * DAY_MS
FAULT_PLANS = ips.fault_plans(max_probability=0.08)
WITHDRAWN_OFFSET = st.one_of(st.just(0), st.integers(-3_000_000, 3_000_000))
REFILL_CONC = st.one_of(st.none(), st.integers(0, 60_000))
NEAR = st.integers(-5, 5)
CLOCK_STEP = st.integers(-2 * DAY_MS, 2 * DAY_MS)
ANY_WALL = st.integers(0, 60 * YEAR_MS)
EDGE_OFFSET = st.sampled_from((-1, 0, 1))
INDEX = st.integers(0, 1 << 16)
THREE = st.integers(0, 2)


@dataclasses.dataclass(frozen=True)
class ProfileDraws:
    """Strategies that depend only on the device profile (see the module documentation)."""

    name: str
    first_drug: st.SearchStrategy[tuple[str, int]]
    any_drug: st.SearchStrategy[tuple[str, int]]
    steps: st.SearchStrategy[list[tuple[int, int]]]
    invalid_steps: st.SearchStrategy[tuple[list[tuple[int, int]], str]]
    patient_settings: st.SearchStrategy[dict[str, int]]
    first_fill: st.SearchStrategy[int]
    clinician_duration: st.SearchStrategy[int]
    threshold_in_range: st.SearchStrategy[int]
    threshold_any: st.SearchStrategy[int]
    bolus_volume: st.SearchStrategy[int]
    huge_bolus_volume: st.SearchStrategy[int]
    withdrawn: st.SearchStrategy[int]
    fill: st.SearchStrategy[int]
    fill_edge: st.SearchStrategy[int]

    def first_steps(self, max_daily_nl: int) -> st.SearchStrategy[list[tuple[int, int]]]:
        """An every-day plan of at most 4 steps within ``max_daily_nl`` nL/day."""
        return _first_steps(self.name, max_daily_nl)


@functools.lru_cache(maxsize=None)
def for_profile(name: str) -> ProfileDraws:
    """The strategies of profile ``name``, built once per process."""
    p = device_profile(name)
    lim = Limits.from_profile(p)
    cap = lim.capacity_nl
    return ProfileDraws(
        name=name,
        first_drug=st.one_of(st.tuples(st.just("morphine"), st.sampled_from((1_000, 10_000, 25_000))),
                             ips.drugs(p)),
        any_drug=st.one_of(ips.drugs(p, names=["morphine"]), ips.drugs(p),
                           st.tuples(st.sampled_from(("morphine", "unobtainium", "")),
                                     st.integers(0, 200_000))),
        steps=ips.valid_steps(p, max_steps=6),
        invalid_steps=ips.invalid_steps(p),
        patient_settings=st.one_of(
            ips.patient_settings(p),
            st.fixed_dictionaries({"patient_bolus_dose_ug": st.just(0),
                                   "patient_bolus_duration_ms": st.just(0),
                                   "patient_lockout_ms": st.just(0),
                                   "patient_max_per_day": st.just(0)}),
            st.fixed_dictionaries({"patient_bolus_dose_ug": st.integers(0, 10_000),
                                   "patient_bolus_duration_ms": st.integers(0, 2 * HOUR_MS),
                                   "patient_lockout_ms": st.integers(0, 2 * DAY_MS),
                                   "patient_max_per_day": st.integers(0, 255)})),
        first_fill=st.one_of(st.integers(1, 3 * lim.low_default_nl), st.integers(1, cap)),
        clinician_duration=st.one_of(st.integers(lim.clin_min_ms, 2 * HOUR_MS),
                                     st.integers(0, 3 * DAY_MS)),
        threshold_in_range=st.integers(lim.low_min_nl, lim.low_max_nl),
        threshold_any=st.integers(0, 2 * lim.low_max_nl),
        bolus_volume=st.integers(1, 50_000),
        huge_bolus_volume=st.integers(1, 2 * cap),
        withdrawn=st.integers(0, 2 * cap + 10),
        fill=st.integers(1, cap),
        fill_edge=st.sampled_from((0, cap, cap + 1)),
    )


@functools.lru_cache(maxsize=1024)
def _first_steps(name: str, max_daily_nl: int) -> st.SearchStrategy[list[tuple[int, int]]]:
    return ips.valid_steps(device_profile(name), max_steps=4, max_daily_nl=max_daily_nl)


def choose(data: st.DataObject, *options: Any, label: str | None = None) -> Any:
    """One of ``options``: a strategy is drawn from, anything else is the value itself. The
    option is drawn first, as ``st.one_of`` draws its branch."""
    option = options[data.draw(st.integers(0, len(options) - 1),
                               label=None if label is None else f"{label} (option)")]
    if isinstance(option, st.SearchStrategy):
        return data.draw(option, label=label)
    return option


def pick(data: st.DataObject, items: list[Any]) -> Any:
    """One of ``items``, drawn so that the draw does not depend on how many there are (their
    number can vary with what the link did; hypothesis needs draws it can replay)."""
    return items[data.draw(INDEX, label="index") % len(items)]
