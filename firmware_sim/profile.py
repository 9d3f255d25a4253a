"""Device profiles: the numbers of one pump model, loaded from a TOML file.

``load_profile("ip20")`` loads the shipped ``profiles/ip20.toml``; any other argument containing
a path separator or ending in ``.toml`` is read as a file. Every key is checked; a bad file raises
:class:`ProfileError` naming the key.
"""
from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .enums import Alarm
from .errors import ProfileError
from .mechanism import MechanismSpec, MechanismSpecError, parse_mechanism

log = logging.getLogger(__name__)

PROFILE_DIR = Path(__file__).with_name("profiles")
DAY_MS = 86_400_000


@dataclass(frozen=True)
class DrugEntry:
    """One drug library entry: concentration range (ug/mL) and daily dose limits (ug/day)."""

    name: str
    min_concentration_ug_per_ml: int
    max_concentration_ug_per_ml: int
    soft_daily_limit_ug: int
    hard_daily_limit_ug: int
    stability_days: int = 0  # days the drug stays stable in the reservoir (0: no limit)
    window_hours: int = 0  # dose window length, 1-12 h (0: no window)
    window_limit_ug: int = 0  # dose allowed per window (basal + patient boluses)


@dataclass(frozen=True)
class Profile:
    """All device constants of one pump model (integer units as named)."""

    name: str
    reservoir_capacity_nl: int
    min_rate_nl_per_day: int
    max_rate_nl_per_day: int
    keep_open_nl_per_day: int
    max_steps_per_day: int
    low_threshold_default_nl: int
    low_threshold_min_nl: int
    low_threshold_max_nl: int
    dead_volume_nl: int
    discrepancy_min_nl: int
    discrepancy_percent: int
    battery_capacity_uah: int
    battery_idle_uah_per_day: int
    battery_motor_uah_per_ml: int
    battery_eri_days: int
    battery_reduced_uah: int
    battery_life_days_low_volume: int
    battery_life_days_high_volume: int
    battery_high_volume_nl_per_day: int
    clinician_bolus_min_duration_ms: int
    clinician_bolus_max_duration_ms: int
    priming_duration_ms: int
    patient_min_dose_ug: int
    patient_max_dose_ug: int
    patient_min_duration_ms: int
    patient_max_duration_ms: int
    patient_min_lockout_ms: int
    patient_max_lockout_ms: int
    patient_max_per_24h: int
    drugs: Mapping[str, DrugEntry]
    mechanism: MechanismSpec = MechanismSpec()
    two_tone_alarms: tuple[str, ...] = ()
    two_tone_repeat_ms: int = 600_000
    single_tone_repeat_ms: int = 3_600_000
    clock_drift_ppm: int = 0
    # the authentication back-off (PROTOCOL.md section 4): wrong-proof verdicts a role and
    # sender get at once and then one per period, in a short and a long budget
    auth_burst: int = 3
    auth_burst_period_ms: int = 2_000
    auth_budget: int = 6
    auth_period_ms: int = 33_000
    # limits some pumps put on programming (0 / False / 1: no limit, today's behaviour)
    max_rate_changes_per_period: int = 0  # accepted schedule changes per rolling period (0: any)
    rate_changes_period_ms: int = DAY_MS  # the rolling period of that count, run-clock ms
    clinician_bolus_starts_lockout: bool = False  # a clinician bolus start starts the lockout
    patient_duration_step_ms: int = 1  # a patient bolus duration is a multiple of this, ms
    patient_lockout_step_ms: int = 1  # a patient lockout is a multiple of this, ms

    def drug(self, name: str) -> DrugEntry | None:
        """The library entry for ``name`` (case-insensitive), or None."""
        return self.drugs.get(name.lower())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy (used to persist the profile with the pump state)."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__
             if k not in ("drugs", "mechanism")}
        d["drugs"] = {n: vars(e).copy() for n, e in self.drugs.items()}
        d["mechanism"] = self.mechanism.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Profile":
        """Inverse of :meth:`to_dict`."""
        kw = dict(d)
        kw["drugs"] = {n: DrugEntry(**e) for n, e in d["drugs"].items()}
        kw["two_tone_alarms"] = tuple(d.get("two_tone_alarms", ()))
        kw["mechanism"] = parse_mechanism(d.get("mechanism"))  # absent in older saved states
        return cls(**kw)


def _int(tbl: Mapping[str, Any], key: str, where: str, lo: int = 0, hi: int | None = None) -> int:
    if key not in tbl:
        raise ProfileError(f"{where}: missing key '{key}'")
    v = tbl[key]
    if not isinstance(v, int) or isinstance(v, bool):
        raise ProfileError(f"{where}.{key}: expected an integer, got {v!r}")
    if v < lo or (hi is not None and v > hi):
        raise ProfileError(f"{where}.{key}: {v} outside [{lo}, {hi if hi is not None else 'inf'}]")
    return v


def _table(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    t = doc.get(key)
    if not isinstance(t, dict):
        raise ProfileError(f"missing table [{key}]")
    return t


def _battery(bat: Mapping[str, Any]) -> dict[str, int]:
    """The battery constants from the life the device promises at two daily volumes.

    Charge used = ``idle_uah_per_day`` x days + motor x mL pumped. The capacity is what the idling
    pump uses in ``life_days_low_volume`` days; the motor cost per mL (rounded to the nearest
    uAh) makes the life ``life_days_high_volume`` days at ``high_volume_nl_per_day``. So the life
    at a daily volume v mL is ``capacity / (idle + motor x v)`` days (the curve in the README).
    """
    idle = _int(bat, "idle_uah_per_day", "battery", 1)
    low = _int(bat, "life_days_low_volume", "battery", 1)
    high = _int(bat, "life_days_high_volume", "battery", 1, low)
    volume = _int(bat, "high_volume_nl_per_day", "battery", 1)
    eri_days = _int(bat, "eri_days_before_end_of_service", "battery", 0, high)
    reduced = _int(bat, "reduced_battery_percent", "battery", 0, 100)
    capacity = idle * low
    # motor uAh/mL = (capacity / high - idle) / (volume / 1e6), to the nearest integer
    num = (capacity - idle * high) * 1_000_000
    den = high * volume
    motor = (2 * num + den) // (2 * den)
    return {"battery_capacity_uah": capacity, "battery_idle_uah_per_day": idle,
            "battery_motor_uah_per_ml": motor, "battery_eri_days": eri_days,
            "battery_reduced_uah": capacity * reduced // 100,
            "battery_life_days_low_volume": low, "battery_life_days_high_volume": high,
            "battery_high_volume_nl_per_day": volume}


ALARM_NAMES = tuple(a.name for a in Alarm)


def _alarms_and_clock(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The optional [alarms] (which alarms sound the two-tone alarm, repeat intervals) and
    [clock] (drift in ppm) tables."""
    al = doc.get("alarms", {})
    ck = doc.get("clock", {})
    if not isinstance(al, dict) or not isinstance(ck, dict):
        raise ProfileError("[alarms] and [clock] must be tables")
    two = al.get("two_tone", [])
    if not isinstance(two, list) or any(a not in ALARM_NAMES for a in two):
        raise ProfileError(f"alarms.two_tone: a list of alarm names ({', '.join(ALARM_NAMES)})")
    out: dict[str, Any] = {"two_tone_alarms": tuple(two)}
    for key, field in (("two_tone_repeat_ms", "two_tone_repeat_ms"),
                       ("single_tone_repeat_ms", "single_tone_repeat_ms")):
        if key in al:
            out[field] = _int(al, key, "alarms", 1_000)
    if "drift_ppm" in ck:
        v = ck["drift_ppm"]
        if not isinstance(v, int) or isinstance(v, bool) or not -1000 <= v <= 1000:
            raise ProfileError(f"clock.drift_ppm: {v!r} outside [-1000, 1000]")
        out["clock_drift_ppm"] = v
    return out


def _security(doc: Mapping[str, Any]) -> dict[str, int]:
    """The optional [security] table: the authentication back-off's two budgets of wrong-proof
    verdicts (``auth_burst`` at once then one per ``auth_burst_period_ms``; ``auth_budget`` at
    once then one per ``auth_period_ms``)."""
    sec = doc.get("security", {})
    if not isinstance(sec, dict):
        raise ProfileError("[security] must be a table")
    unknown = set(sec) - {"auth_burst", "auth_burst_period_ms", "auth_budget", "auth_period_ms"}
    if unknown:
        raise ProfileError(f"security: unknown key '{sorted(unknown)[0]}'")
    out: dict[str, int] = {}
    for key, lo, hi in (("auth_burst", 1, 100), ("auth_burst_period_ms", 0, 3_600_000),
                        ("auth_budget", 1, 1_000), ("auth_period_ms", 0, 86_400_000)):
        if key in sec:
            out[key] = _int(sec, key, "security", lo, hi)
    return out


MAX_RATE_CHANGES = 0xFFFF  # what DEVICE_LIMITS can report (u16)
MAX_PERIOD_MS = 0xFFFF_FFFF  # the longest period DEVICE_LIMITS can report (u32 ms, ~49.7 days)


def _programming_limits(rate: Mapping[str, Any], pb: Mapping[str, Any]) -> dict[str, Any]:
    """The optional programming limits: ``[rate] max_changes_per_period`` (0 = no limit) and
    ``changes_period_ms``; ``[patient_bolus] clinician_bolus_starts_lockout`` (bool),
    ``duration_step_ms`` and ``lockout_step_ms`` (1 = any whole ms). A step must leave at least
    one programmable value in its range."""
    out: dict[str, Any] = {}
    if "max_changes_per_period" in rate:
        out["max_rate_changes_per_period"] = _int(rate, "max_changes_per_period", "rate", 0,
                                                  MAX_RATE_CHANGES)
    if "changes_period_ms" in rate:
        out["rate_changes_period_ms"] = _int(rate, "changes_period_ms", "rate", 60_000,
                                             MAX_PERIOD_MS)
    if "clinician_bolus_starts_lockout" in pb:
        v = pb["clinician_bolus_starts_lockout"]
        if not isinstance(v, bool):
            raise ProfileError(f"patient_bolus.clinician_bolus_starts_lockout: expected true or "
                               f"false, got {v!r}")
        out["clinician_bolus_starts_lockout"] = v
    for key, field, lo, hi in (("duration_step_ms", "patient_duration_step_ms",
                                "min_duration_ms", "max_duration_ms"),
                               ("lockout_step_ms", "patient_lockout_step_ms",
                                "min_lockout_ms", "max_lockout_ms")):
        if key in pb:
            step = _int(pb, key, "patient_bolus", 1, MAX_PERIOD_MS)
            if -(-pb[lo] // step) * step > pb[hi]:
                raise ProfileError(f"patient_bolus.{key}: no multiple of {step} ms lies in "
                                   f"[{pb[lo]}, {pb[hi]}]")
            out[field] = step
    return out


def _drug_library(drugs_t: Mapping[str, Any]) -> dict[str, DrugEntry]:
    """The [drugs.NAME] tables: concentration range, soft and hard daily limits, stability in
    the reservoir and the optional dose window of each drug, keyed by lower-case name."""
    drugs: dict[str, DrugEntry] = {}
    for dname, dt in drugs_t.items():
        if not isinstance(dt, dict):
            raise ProfileError(f"drugs.{dname}: expected a table")
        w = f"drugs.{dname}"
        cmin = _int(dt, "min_concentration_ug_per_ml", w, 1)
        cmax = _int(dt, "max_concentration_ug_per_ml", w, cmin)
        soft = _int(dt, "soft_daily_limit_ug", w, 1)
        hard = _int(dt, "hard_daily_limit_ug", w, soft)
        stability = _int(dt, "stability_days", w, 1) if "stability_days" in dt else 0
        hours = _int(dt, "window_hours", w, 0, 12) if "window_hours" in dt else 0
        per_window = _int(dt, "window_limit_ug", w, 0) if "window_limit_ug" in dt else 0
        drugs[dname.lower()] = DrugEntry(dname.lower(), cmin, cmax, soft, hard, stability,
                                         hours, per_window)
    if not drugs:
        raise ProfileError("drugs: the drug library is empty")
    return drugs


def parse_profile(doc: Mapping[str, Any], source: str = "<profile>") -> Profile:
    """Validate a parsed TOML document and build a :class:`Profile`."""
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise ProfileError(f"{source}: missing string key 'name'")
    res = _table(doc, "reservoir")
    rate = _table(doc, "rate")
    refill = _table(doc, "refill")
    bat = _table(doc, "battery")
    bol = _table(doc, "bolus")
    pb = _table(doc, "patient_bolus")
    drugs_t = _table(doc, "drugs")
    cap = _int(res, "capacity_nl", "reservoir", 1)
    lt_min = _int(res, "low_threshold_min_nl", "reservoir", 0, cap)
    lt_max = _int(res, "low_threshold_max_nl", "reservoir", lt_min, cap)
    lt_def = _int(res, "low_threshold_default_nl", "reservoir", lt_min, lt_max)
    rmin = _int(rate, "min_nl_per_day", "rate", 1)
    rmax = _int(rate, "max_nl_per_day", "rate", rmin)
    battery = _battery(bat)
    drugs = _drug_library(drugs_t)
    pmin_d = _int(pb, "min_duration_ms", "patient_bolus", 1)
    pmin_l = _int(pb, "min_lockout_ms", "patient_bolus", 1)
    pmin_dose = _int(pb, "min_dose_ug", "patient_bolus", 1)
    cmin_d = _int(bol, "clinician_min_duration_ms", "bolus", 1)
    return Profile(
        name=name,
        reservoir_capacity_nl=cap,
        min_rate_nl_per_day=rmin,
        max_rate_nl_per_day=rmax,
        keep_open_nl_per_day=_int(rate, "keep_open_nl_per_day", "rate", rmin, rmax)
        if "keep_open_nl_per_day" in rate else rmin,
        max_steps_per_day=_int(rate, "max_steps_per_day", "rate", 1, 1440),
        low_threshold_default_nl=lt_def,
        low_threshold_min_nl=lt_min,
        low_threshold_max_nl=lt_max,
        dead_volume_nl=_int(res, "dead_volume_nl", "reservoir", 0, cap),
        discrepancy_min_nl=_int(refill, "discrepancy_min_nl", "refill", 0),
        discrepancy_percent=_int(refill, "discrepancy_percent", "refill", 0, 100),
        **battery,
        clinician_bolus_min_duration_ms=cmin_d,
        clinician_bolus_max_duration_ms=_int(bol, "clinician_max_duration_ms", "bolus", cmin_d),
        priming_duration_ms=_int(bol, "priming_duration_ms", "bolus", 1),
        patient_min_dose_ug=pmin_dose,
        patient_max_dose_ug=_int(pb, "max_dose_ug", "patient_bolus", pmin_dose),
        patient_min_duration_ms=pmin_d,
        patient_max_duration_ms=_int(pb, "max_duration_ms", "patient_bolus", pmin_d),
        patient_min_lockout_ms=pmin_l,
        patient_max_lockout_ms=_int(pb, "max_lockout_ms", "patient_bolus", pmin_l),
        patient_max_per_24h=_int(pb, "max_per_24h", "patient_bolus", 1),
        drugs=drugs,
        mechanism=_mechanism(doc),
        **_alarms_and_clock(doc), **_security(doc), **_programming_limits(rate, pb),
    )


def _mechanism(doc: Mapping[str, Any]) -> MechanismSpec:
    """The optional ``[mechanism]`` table (defaults: an ideal motor-driven mechanism)."""
    try:
        return parse_mechanism(doc.get("mechanism"))
    except MechanismSpecError as e:
        raise ProfileError(str(e)) from None


def load_profile(name_or_path: str | Path) -> Profile:
    """Load a shipped profile by name (``"ip20"``, ``"ip40"``) or any TOML file by path."""
    s = str(name_or_path)
    if s.endswith(".toml") or "/" in s or "\\" in s:
        path = Path(s)
    else:
        path = PROFILE_DIR / f"{s}.toml"
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        known = sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))
        raise ProfileError(f"profile {s!r} not found (shipped profiles: {', '.join(known)})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as e:
        raise ProfileError(f"{path}: not a readable TOML file: {e}") from None
    try:
        return parse_profile(doc, str(path))
    except ProfileError as e:
        log.error("invalid profile %s: %s", path, e)
        raise ProfileError(f"{path}: {e}") from None
