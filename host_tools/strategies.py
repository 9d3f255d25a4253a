"""Hypothesis strategies for testing programmer software against intrapump.

Import them from ``host_tools.strategies`` (or from the pytest plugin module). Every strategy
draws integer units (nL/day, ug, ug/mL, ms) within a device profile's numbers (``ip20`` by
default, any :class:`firmware_sim.Profile` or profile name accepted):

* :func:`valid_steps` -- an every-day plan the pump accepts: ``[(start_minute, rate_nl_per_day)]``,
  first step at minute 0, strictly increasing minutes, rates in the hardware range, and (when
  ``drug``/``concentration`` are given) within the drug's hard daily limit;
* :func:`invalid_steps` -- ``(steps, defect)``: a plan with exactly one defect the pump must refuse
  (``defect`` names it: ``"no_steps"``, ``"first_not_zero"``, ``"order"``, ``"minute"``,
  ``"rate_low"``, ``"rate_high"``, ``"too_many"``, ``"hard_limit"``);
* :func:`drugs` -- ``(drug_name, concentration_ug_per_ml)`` from the profile's drug library;
* :func:`patient_settings` -- patient-bolus settings within the profile's ranges (and, given the
  drug, concentration and plan under test, within its hard daily limit: the pump accepts them);
* :func:`frames` / :func:`request_frames` -- valid protocol frames (untagged) of any / request
  types; :func:`mutated_frames` -- such frames bit-flipped, truncated, spliced or extended;
* :func:`fault_plans` -- seeded :class:`hal.FaultPlan` values with modest probabilities, so a
  client with retries still gets through (use ``max_probability`` to be harsher).
"""
from __future__ import annotations

import math

from typing import Any

from hypothesis import strategies as st

from firmware_sim import Profile, load_profile
from hal.faults import FaultPlan
from protocol import REGISTRY, FrameKind, MessageType, encode_frame
from protocol import messages as wire

DAY_MS = 86_400_000
MINUTE_MS = 60_000
PG_PER_UG = 1_000_000

ProfileLike = Profile | str | None


def _profile(profile: ProfileLike) -> Profile:
    if isinstance(profile, Profile):
        return profile
    return load_profile(profile or "ip20")


def daily_volume_x_day_ms(steps: list[tuple[int, int]]) -> int:
    """Integral of an every-day plan over one day, in nL/day x ms (divide by 86,400,000 for nL)."""
    total = 0
    for i, (minute, rate) in enumerate(steps):
        end = steps[i + 1][0] if i + 1 < len(steps) else 1440
        total += rate * (end - minute) * MINUTE_MS
    return total


def max_daily_volume_nl(profile: ProfileLike, drug: str, concentration_ug_per_ml: int) -> int:
    """Largest daily volume (nL) of ``drug`` at ``concentration`` within its hard daily limit."""
    entry = _profile(profile).drug(drug)
    if entry is None:
        raise ValueError(f"{drug!r} is not in the drug library")
    return entry.hard_daily_limit_ug * PG_PER_UG // concentration_ug_per_ml


@st.composite
def drugs(draw: st.DrawFn, profile: ProfileLike = None,
          names: list[str] | None = None) -> tuple[str, int]:
    """``(drug_name, concentration_ug_per_ml)`` valid for the profile's drug library."""
    p = _profile(profile)
    name = draw(st.sampled_from(sorted(names or p.drugs)))
    e = p.drugs[name]
    conc = draw(st.one_of(
        st.sampled_from([e.min_concentration_ug_per_ml, e.max_concentration_ug_per_ml]),
        st.integers(e.min_concentration_ug_per_ml, e.max_concentration_ug_per_ml)))
    return name, conc


@st.composite
def valid_steps(draw: st.DrawFn, profile: ProfileLike = None, *, max_steps: int | None = None,
                drug: str | None = None, concentration_ug_per_ml: int | None = None,
                max_daily_nl: int | None = None) -> list[tuple[int, int]]:
    """An every-day plan the pump accepts (see the module documentation).

    With ``drug`` and ``concentration_ug_per_ml`` (or ``max_daily_nl``) the plan's daily volume
    stays within the drug's hard daily limit, so the pump accepts it for that program.
    """
    p = _profile(profile)
    n = draw(st.integers(1, min(max_steps or p.max_steps_per_day, p.max_steps_per_day)))
    minutes = [0] + sorted(draw(st.sets(st.integers(1, 1439), min_size=n - 1, max_size=n - 1)))
    cap = p.max_rate_nl_per_day
    if drug is not None and concentration_ug_per_ml is not None:
        cap = min(cap, max_daily_volume_nl(p, drug, concentration_ug_per_ml))
    if max_daily_nl is not None:
        cap = min(cap, max_daily_nl)
    if cap < p.min_rate_nl_per_day:
        raise ValueError("no rate of this profile fits that daily limit")
    rate = st.one_of(st.sampled_from([p.min_rate_nl_per_day, cap]),
                     st.integers(p.min_rate_nl_per_day, cap))
    # every rate <= cap nL/day keeps any 24 h window <= cap nL
    return [(m, draw(rate)) for m in minutes]


INVALID_DEFECTS = ("no_steps", "first_not_zero", "order", "minute", "rate_low", "rate_high",
                   "too_many", "hard_limit")


@st.composite
def invalid_steps(draw: st.DrawFn, profile: ProfileLike = None, *,
                  drug: str | None = None, concentration_ug_per_ml: int | None = None,
                  defects: tuple[str, ...] = INVALID_DEFECTS) -> tuple[list[tuple[int, int]], str]:
    """``(steps, defect)``: a plan with one defect the pump must refuse.

    ``"hard_limit"`` is only drawn when ``drug`` and ``concentration_ug_per_ml`` are given (the
    plan is valid on its own but over the drug's hard daily limit at that concentration).
    """
    p = _profile(profile)
    choices = [d for d in defects if d != "hard_limit" or (drug and concentration_ug_per_ml)]
    defect = draw(st.sampled_from(choices))
    if defect == "hard_limit":
        assert drug is not None and concentration_ug_per_ml is not None
        limit = max_daily_volume_nl(p, drug, concentration_ug_per_ml)
        if limit + 1 > p.max_rate_nl_per_day:  # this drug cannot exceed its limit by rate
            defect = "rate_high"
        else:
            rate = draw(st.integers(limit + 1, p.max_rate_nl_per_day))
            return [(0, rate)], defect
    if defect == "no_steps":
        return [], defect
    if defect == "too_many":
        n = p.max_steps_per_day + 1
        return [(i * (1440 // n), p.min_rate_nl_per_day) for i in range(n)], defect
    steps = draw(valid_steps(p, max_steps=min(8, p.max_steps_per_day)))
    if defect == "first_not_zero":
        first = draw(st.integers(1, 1439))
        later = [s for s in steps[1:] if s[0] > first]
        return [(first, steps[0][1])] + later, defect
    if defect == "order":
        if len(steps) < 2:
            steps = steps + [(draw(st.integers(1, 1439)), steps[0][1])]
        i = draw(st.integers(1, len(steps) - 1))
        minute = draw(st.integers(0, steps[i - 1][0]))
        steps[i] = (minute, steps[i][1])
        return steps, defect
    if defect == "minute":
        return steps + [(draw(st.integers(1440, 0xFFFF)), p.min_rate_nl_per_day)], defect
    i = draw(st.integers(0, len(steps) - 1))
    if defect == "rate_low":
        steps[i] = (steps[i][0], draw(st.integers(0, p.min_rate_nl_per_day - 1)))
    else:
        steps[i] = (steps[i][0], draw(st.integers(p.max_rate_nl_per_day + 1, 2**32 - 1)))
    return steps, defect


def patient_budget_ug(profile: ProfileLike, drug: str, concentration_ug_per_ml: int,
                      steps: list[tuple[int, int]] | None = None) -> int:
    """The dose (ug) left for allotted patient boluses in 24 h: the drug's hard daily limit minus
    the largest 24 h basal dose of the every-day plan ``steps`` (rounded up as the pump does)."""
    entry = _profile(profile).drug(drug)
    if entry is None:
        raise ValueError(f"{drug!r} is not in the drug library")
    basal_pg = -(-daily_volume_x_day_ms(steps or []) // DAY_MS) * concentration_ug_per_ml
    return (entry.hard_daily_limit_ug * PG_PER_UG - basal_pg) // PG_PER_UG


def _multiples(lo: int, hi: int, step: int) -> st.SearchStrategy[int]:
    """Durations (ms) in ``[lo, hi]`` that are multiples of ``step``: whole minutes where the
    profile's step allows some in the range (readable examples), else any multiple of it."""
    for unit in (math.lcm(step, MINUTE_MS), step):
        first, last = -(-lo // unit), hi // unit
        if first <= last:
            return st.integers(first, last).map(lambda k, unit=unit: k * unit)
    raise ValueError(f"no multiple of {step} ms lies in [{lo}, {hi}] ms")


@st.composite
def patient_settings(draw: st.DrawFn, profile: ProfileLike = None, *, drug: str | None = None,
                     concentration_ug_per_ml: int | None = None,
                     steps: list[tuple[int, int]] | None = None) -> dict[str, int]:
    """Patient-bolus settings within the profile's ranges (``Limits`` field names, without the
    threshold): dose (ug), duration (ms), lockout (ms), maximum per day.

    With ``drug`` and ``concentration_ug_per_ml`` (and the every-day plan ``steps`` in force)
    only settings the pump accepts for that program are drawn: every dose is at least 1 nL, and
    the allotment (maximum per day x dose) fits in the drug's hard daily limit next to the plan's
    24 h dose. Raises ValueError when no setting fits (the plan alone uses the whole limit)."""
    p = _profile(profile)
    lo_dose, hi_dose = p.patient_min_dose_ug, min(p.patient_max_dose_ug, 500)
    hi_n = p.patient_max_per_24h
    if drug is not None and concentration_ug_per_ml is not None:
        lo_dose = max(lo_dose, -(-concentration_ug_per_ml // PG_PER_UG))  # >= 1 nL
        budget = patient_budget_ug(p, drug, concentration_ug_per_ml, steps)
        if budget < lo_dose:
            raise ValueError(f"no patient bolus fits: the plan leaves {budget} ug of the hard "
                             f"daily limit of {drug}")
        hi_dose = min(hi_dose, budget)
        # the rate ceiling: one bolus within its duration on top of the plan's highest step
        room = p.max_rate_nl_per_day - max((r for _, r in steps or []), default=0)
        longest = p.patient_max_duration_ms // p.patient_duration_step_ms \
            * p.patient_duration_step_ms  # the longest duration on the profile's step
        hi_dose = min(hi_dose, room * longest // DAY_MS
                      * concentration_ug_per_ml // PG_PER_UG)
        if hi_dose < lo_dose:
            raise ValueError("no patient bolus fits under the maximum rate")
    dose = draw(st.integers(lo_dose, hi_dose))
    lo_duration = p.patient_min_duration_ms
    if drug is not None and concentration_ug_per_ml is not None:
        hi_n = min(hi_n, budget // dose)
        volume = dose * PG_PER_UG // concentration_ug_per_ml
        lo_duration = max(lo_duration, -(-volume * DAY_MS // room))
    return {
        "patient_bolus_dose_ug": dose,
        "patient_bolus_duration_ms": draw(_multiples(lo_duration, p.patient_max_duration_ms,
                                                     p.patient_duration_step_ms)),
        "patient_lockout_ms": draw(_multiples(p.patient_min_lockout_ms, p.patient_max_lockout_ms,
                                              p.patient_lockout_step_ms)),
        "patient_max_per_day": draw(st.integers(1, hi_n)),
    }


# --- frames ----------------------------------------------------------------------------------

_ARRAYS = {"steps": (wire.ScheduleStep, wire.MAX_STEPS), "alarms": (wire.AlarmEntry, wire.MAX_ALARMS),
           "entries": (wire.LogEntry, wire.MAX_LOG_ENTRIES),
           "drugs": (wire.DrugLibraryEntry, wire.MAX_DRUGS)}


def _fields_strategy(con: Any, name: str = "") -> st.SearchStrategy[Any]:
    from construct import Bytes, ExprValidator, FormatField, Renamed, Struct

    while isinstance(con, Renamed):
        con = con.subcon
    if isinstance(con, Struct):
        return st.fixed_dictionaries({sc.name: _fields_strategy(sc, sc.name) for sc in con.subcons})
    if isinstance(con, FormatField) and con.fmtstr[-1].islower():  # signed (clock drift)
        return st.integers(-2 ** (8 * con.length - 1), 2 ** (8 * con.length - 1) - 1)
    if isinstance(con, FormatField):
        return st.integers(0, 2 ** (8 * con.length) - 1)
    if isinstance(con, Bytes):
        return st.binary(min_size=con.length, max_size=con.length)
    if isinstance(con, ExprValidator):
        if name in _ARRAYS:
            item, n = _ARRAYS[name]
            return st.lists(_fields_strategy(item), max_size=n)
        limit = wire.MAX_TEXT[name]
        return st.text(max_size=limit).filter(lambda s: len(s.encode("utf8")) <= limit)
    raise TypeError(f"no strategy for {con!r}")


def message_fields(msg_type: MessageType) -> st.SearchStrategy[dict[str, Any]]:
    """Fields of ``msg_type`` that encode (any wire value, valid for the pump or not)."""
    return _fields_strategy(REGISTRY[msg_type].construct)


REQUEST_TYPES = sorted(t for t, s in REGISTRY.items() if s.kind == "request")


@st.composite
def frames(draw: st.DrawFn, types: list[MessageType] | None = None,
           kinds: list[FrameKind] | None = None) -> bytes:
    """A valid untagged frame (correct sync, length and CRC) of one of ``types``."""
    msg_type = draw(st.sampled_from(types or sorted(REGISTRY)))
    fields = draw(message_fields(msg_type))
    seq = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(kinds or list(FrameKind)))
    return encode_frame(msg_type, fields, seq, kind)


def request_frames() -> st.SearchStrategy[bytes]:
    """A valid untagged request frame of any request type."""
    return frames(REQUEST_TYPES, [FrameKind.REQUEST])


@st.composite
def mutated_frames(draw: st.DrawFn, base: st.SearchStrategy[bytes] | None = None) -> bytes:
    """A frame from ``base`` (default :func:`request_frames`) damaged one way: bit flips,
    truncation, a splice of two frames, random bytes around it, or a forged length field."""
    frame = bytearray(draw(base if base is not None else request_frames()))
    how = draw(st.sampled_from(["flip", "truncate", "splice", "garbage", "length"]))
    if how == "flip":
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(frame) * 8 - 1))
            frame[i // 8] ^= 1 << (i % 8)
    elif how == "truncate":
        del frame[draw(st.integers(0, len(frame) - 1)):]
    elif how == "splice":
        other = draw(base if base is not None else request_frames())
        cut = draw(st.integers(0, len(frame)))
        frame = frame[:cut] + other[draw(st.integers(0, len(other))):]
    elif how == "garbage":
        frame = bytearray(draw(st.binary(max_size=64))) + frame + draw(st.binary(max_size=64))
    else:
        frame[13:15] = draw(st.integers(0, 0xFFFF)).to_bytes(2, "big")
    return bytes(frame)


@st.composite
def fault_plans(draw: st.DrawFn, max_probability: float = 0.05,
                direction: str | None = None) -> FaultPlan:
    """A seeded FaultPlan: drop, corrupt (per byte, 10x smaller), duplicate, fragment and delay
    (at most 2 ms) each with probability 0..``max_probability``."""
    prob = st.one_of(st.just(0.0), st.floats(0.0, max_probability, allow_nan=False))
    return FaultPlan(drop=draw(prob), corrupt=draw(prob) / 10, duplicate=draw(prob),
                     fragment=draw(prob), delay=draw(prob), delay_ms=draw(st.integers(0, 2)),
                     max_fragments=draw(st.integers(2, 6)), seed=draw(st.integers(0, 2**32 - 1)),
                     direction=direction or draw(st.sampled_from(["tx", "rx", "both"])))


__all__ = ["INVALID_DEFECTS", "REQUEST_TYPES", "daily_volume_x_day_ms", "drugs", "fault_plans",
           "frames", "invalid_steps", "max_daily_volume_nl", "message_fields", "mutated_frames",
           "patient_settings", "request_frames", "valid_steps"]
