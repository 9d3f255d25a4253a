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


@dataclass(frozen=True)
class Profile:
    """All device constants of one pump model (integer units as named)."""

    name: str
    reservoir_capacity_nl: int
    min_rate_nl_per_day: int
    max_rate_nl_per_day: int
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
    battery_eri_reserve_uah: int
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
    idle = _int(bat, "idle_uah_per_day", "battery", 0)
    motor = _int(bat, "motor_uah_per_ml", "battery", 0)
    life_days = _int(bat, "life_days_at_1ml_per_day", "battery", 1)
    eri_days = _int(bat, "eri_days_before_end_of_service", "battery", 0, life_days)
    if idle + motor == 0:
        raise ProfileError("battery: idle_uah_per_day + motor_uah_per_ml must be > 0")
    drugs: dict[str, DrugEntry] = {}
    for dname, dt in drugs_t.items():
        if not isinstance(dt, dict):
            raise ProfileError(f"drugs.{dname}: expected a table")
        w = f"drugs.{dname}"
        cmin = _int(dt, "min_concentration_ug_per_ml", w, 1)
        cmax = _int(dt, "max_concentration_ug_per_ml", w, cmin)
        soft = _int(dt, "soft_daily_limit_ug", w, 1)
        hard = _int(dt, "hard_daily_limit_ug", w, soft)
        drugs[dname.lower()] = DrugEntry(dname.lower(), cmin, cmax, soft, hard)
    if not drugs:
        raise ProfileError("drugs: the drug library is empty")
    pmin_d = _int(pb, "min_duration_ms", "patient_bolus", 1)
    pmin_l = _int(pb, "min_lockout_ms", "patient_bolus", 1)
    pmin_dose = _int(pb, "min_dose_ug", "patient_bolus", 1)
    cmin_d = _int(bol, "clinician_min_duration_ms", "bolus", 1)
    return Profile(
        name=name,
        reservoir_capacity_nl=cap,
        min_rate_nl_per_day=rmin,
        max_rate_nl_per_day=rmax,
        max_steps_per_day=_int(rate, "max_steps_per_day", "rate", 1, 1440),
        low_threshold_default_nl=lt_def,
        low_threshold_min_nl=lt_min,
        low_threshold_max_nl=lt_max,
        dead_volume_nl=_int(res, "dead_volume_nl", "reservoir", 0, cap),
        discrepancy_min_nl=_int(refill, "discrepancy_min_nl", "refill", 0),
        discrepancy_percent=_int(refill, "discrepancy_percent", "refill", 0, 100),
        battery_capacity_uah=life_days * (idle + motor),
        battery_idle_uah_per_day=idle,
        battery_motor_uah_per_ml=motor,
        battery_eri_reserve_uah=eri_days * (idle + motor),
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
