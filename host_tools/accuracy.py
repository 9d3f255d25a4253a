"""IEC 60601-2-24 style accuracy test of the emulated delivery mechanism (no pump needed).

The standard's method for infusion pumps, run on the pump model: a balance weighs what leaves
the catheter every 0.5 min for 120 min at one programmed rate. From the samples:

* the **start-up graph**: the flow in each 0.5 min interval over the whole 120 min;
* the **trumpet curve**, from the second hour (the analysis period): for each observation
  window of P = 2, 5, 11, 19 and 31 min, every window of P min that fits in the analysis period
  (sliding by one sample interval) gives the percentage error of the volume delivered in it
  against the programmed volume; the maximum and minimum over those windows are plotted;
* the **mean error** over the analysis period: 100 x (delivered - programmed) / programmed.

The "balance" reads the truth ledger: what really reached the patient (nL; 1 nL of an aqueous
solution weighs 1 ug). The mechanism runs with the profile's declared error model (strokes,
systematic error, stroke-to-stroke variation) unless ``ideal``; any model fault can be active.
Errors are reported as floats (a report, not dose accounting); samples stay integer nL.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from firmware_sim import DAY_MS, Pump, Schedule, Storage
from firmware_sim.profile import Profile

MINUTE_MS = 60_000
SAMPLE_MS = 30_000
DURATION_MS = 120 * MINUTE_MS
ANALYSIS_START_MS = 60 * MINUTE_MS
WINDOWS_MIN = (2, 5, 11, 19, 31)


@dataclasses.dataclass(frozen=True)
class TrumpetPoint:
    """Largest and smallest percentage error over the observation windows of one length."""

    window_min: int
    windows: int
    max_error_percent: float
    min_error_percent: float


@dataclasses.dataclass(frozen=True)
class AccuracyReport:
    """One accuracy test: its settings, the samples (ms, nL reached the patient), the start-up
    flows (nL/day per sample interval), the trumpet points and the mean error (%)."""

    settings: dict[str, Any]
    samples: tuple[tuple[int, int], ...]
    startup_flow_nl_per_day: tuple[int, ...]
    trumpet: tuple[TrumpetPoint, ...]
    mean_error_percent: float

    def to_dict(self) -> dict[str, Any]:
        """The JSON document: settings, windows with their max/min error, the mean error,
        the start-up graph and the raw samples."""
        return {"settings": self.settings,
                "mean_error_percent": round(self.mean_error_percent, 4),
                "trumpet": [{"window_min": p.window_min, "windows": p.windows,
                             "max_error_percent": round(p.max_error_percent, 4),
                             "min_error_percent": round(p.min_error_percent, 4)}
                            for p in self.trumpet],
                "startup": [{"t_ms": (i + 1) * self.settings["sample_interval_ms"],
                             "flow_nl_per_day": q}
                            for i, q in enumerate(self.startup_flow_nl_per_day)],
                "samples": [{"t_ms": t, "delivered_nl": v} for t, v in self.samples]}


def analyse(samples: Sequence[int], rate_nl_per_day: int, sample_ms: int = SAMPLE_MS,
            analysis_start_ms: int = ANALYSIS_START_MS,
            windows_min: Sequence[int] = WINDOWS_MIN) -> tuple[tuple[int, ...],
                                                              tuple[TrumpetPoint, ...], float]:
    """(start-up flows nL/day, trumpet points, mean error %) of cumulative delivered volumes
    ``samples[i]`` (nL) taken every ``sample_ms`` from the start, at a programmed rate.
    ValueError when the samples do not cover the analysis period or a window."""
    if rate_nl_per_day <= 0 or sample_ms <= 0 or analysis_start_ms % sample_ms:
        raise ValueError("rate and sample interval must be positive; analysis start a multiple")
    first = analysis_start_ms // sample_ms
    n = len(samples) - 1 - first  # sample intervals in the analysis period
    if n < 1:
        raise ValueError("no sample interval in the analysis period")
    flows = tuple((b - a) * DAY_MS // sample_ms for a, b in zip(samples, samples[1:]))
    per_interval = rate_nl_per_day * sample_ms / DAY_MS  # programmed volume per interval
    points = []
    for p in windows_min:
        m = p * MINUTE_MS // sample_ms
        if m < 1 or m > n or p * MINUTE_MS % sample_ms:
            raise ValueError(f"a {p} min window does not fit the analysis period")
        errors = [100.0 * ((samples[j + m] - samples[j]) - m * per_interval) / (m * per_interval)
                  for j in range(first, first + n - m + 1)]
        points.append(TrumpetPoint(p, len(errors), max(errors), min(errors)))
    total = samples[-1] - samples[first]
    mean = 100.0 * (total - n * per_interval) / (n * per_interval)
    return flows, tuple(points), mean


def _drug_for(profile: Profile, rate_nl_per_day: int) -> tuple[str, int]:
    """A library drug at its lowest concentration whose daily dose at the rate stays within its
    hard limit (the test needs any fluid; ValueError when none fits)."""
    for entry in profile.drugs.values():
        conc = entry.min_concentration_ug_per_ml
        if rate_nl_per_day * conc <= entry.hard_daily_limit_ug * 1_000_000:
            return entry.name, conc
    raise ValueError(f"no drug of {profile.name} allows {rate_nl_per_day} nL/day")


def run_accuracy(profile: Profile, rate_nl_per_day: int,
                 faults: Mapping[str, Mapping[str, int]] | None = None, *, ideal: bool = False,
                 duration_ms: int = DURATION_MS, sample_ms: int = SAMPLE_MS) -> AccuracyReport:
    """Run the test on a fresh model pump: full reservoir, one constant rate, ``faults`` (name
    -> parameters) raised at the start, the mechanism's error model on unless ``ideal``.
    Raises ValueError for a rate outside the profile or a fault the model refuses."""
    if not profile.min_rate_nl_per_day <= rate_nl_per_day <= profile.max_rate_nl_per_day:
        raise ValueError(f"rate {rate_nl_per_day} nL/day outside {profile.min_rate_nl_per_day}"
                         f"..{profile.max_rate_nl_per_day} for {profile.name}")
    mech = dataclasses.replace(profile.mechanism, error_model=not ideal)
    pump = Pump(dataclasses.replace(profile, mechanism=mech), Storage(":memory:"))
    drug, conc = _drug_for(profile, rate_nl_per_day)
    pump.program_therapy(drug, conc, Schedule.daily([(0, rate_nl_per_day)]))
    pump.refill_begin()
    pump.refill_withdrawn(0)
    pump.refill_complete(profile.reservoir_capacity_nl, conc)
    pump.start()
    t0 = pump.time_ms
    for name, params in (faults or {}).items():
        pump.raise_fault(name, **params)
    base = pump.truth().patient_nl
    samples = [0]
    for t in range(t0 + sample_ms, t0 + duration_ms + 1, sample_ms):
        pump.advance_to(t, commit=False)
        samples.append(pump.truth().patient_nl - base)
    flows, trumpet, mean = analyse(samples, rate_nl_per_day, sample_ms)
    settings = {"profile": profile.name, "mechanism": mech.kind,
                "stroke_volume_nl": mech.stroke_volume_nl, "error_model": not ideal,
                "declared_error_percent": mech.systematic_error_ppm / 10_000 if not ideal else 0.0,
                "stroke_variation_percent": mech.stroke_variation_ppm / 10_000,
                "seed": mech.seed, "rate_nl_per_day": rate_nl_per_day,
                "faults": {k: dict(v) for k, v in (faults or {}).items()},
                "drug": drug, "concentration_ug_per_ml": conc,
                "sample_interval_ms": sample_ms, "duration_ms": duration_ms,
                "analysis_start_ms": ANALYSIS_START_MS, "windows_min": list(WINDOWS_MIN)}
    return AccuracyReport(settings, tuple((i * sample_ms, v) for i, v in enumerate(samples)),
                          flows, trumpet, mean)


def write_json(report: AccuracyReport, path: str | Path) -> Path:
    """Write the report's JSON document; returns the path."""
    out = Path(path)
    out.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    return out


def write_png(report: AccuracyReport, path: str | Path) -> Path:
    """Write a PNG with the start-up graph (flow per 0.5 min interval over the test, and the
    programmed rate) above the trumpet curve (max/min error per window, and the mean error)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = report.settings
    rate_ml_h = s["rate_nl_per_day"] / 24e6
    fig, (up, trumpet) = plt.subplots(2, 1, figsize=(9, 8), constrained_layout=True)
    xs = [(i + 1) * s["sample_interval_ms"] / MINUTE_MS
          for i in range(len(report.startup_flow_nl_per_day))]
    up.step(xs, [q / 24e6 for q in report.startup_flow_nl_per_day], where="pre",
            color="tab:orange", label="flow in each interval")
    up.axhline(rate_ml_h, color="tab:blue", linestyle="--", label="programmed rate")
    up.axvline(s["analysis_start_ms"] / MINUTE_MS, color="grey", linestyle=":",
               label="analysis period starts")
    up.set_xlabel("time (min)")
    up.set_ylabel("flow (mL/h)")
    up.set_title(f"Start-up graph: {s['profile']} at {s['rate_nl_per_day'] / 1e6:g} mL/day"
                 + (f", faults {', '.join(s['faults'])}" if s["faults"] else ""))
    up.grid(True, alpha=0.3)
    up.legend(loc="best", fontsize="small")
    ws = [p.window_min for p in report.trumpet]
    trumpet.plot(ws, [p.max_error_percent for p in report.trumpet], "o-", color="tab:red",
                 label="Ep(max)")
    trumpet.plot(ws, [p.min_error_percent for p in report.trumpet], "o-", color="tab:green",
                 label="Ep(min)")
    trumpet.axhline(report.mean_error_percent, color="tab:blue", linestyle="--",
                    label=f"mean error {report.mean_error_percent:+.2f} %")
    trumpet.axhline(0, color="black", linewidth=0.5)
    trumpet.set_xticks(ws)
    trumpet.set_xlabel("observation window (min)")
    trumpet.set_ylabel("error (%)")
    trumpet.set_title("Trumpet curve (second hour)")
    trumpet.grid(True, alpha=0.3)
    trumpet.legend(loc="best", fontsize="small")
    out = Path(path)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def rich_table(report: AccuracyReport) -> Any:
    """A rich Table of the trumpet points and the mean error."""
    from rich.table import Table

    s = report.settings
    table = Table(title=f"IEC 60601-2-24 accuracy: {s['profile']} ({s['mechanism']}), "
                        f"{s['rate_nl_per_day']} nL/day, faults: "
                        f"{', '.join(s['faults']) or 'none'}")
    table.add_column("window (min)", justify="right")
    table.add_column("windows", justify="right")
    table.add_column("max error (%)", justify="right")
    table.add_column("min error (%)", justify="right")
    for p in report.trumpet:
        table.add_row(str(p.window_min), str(p.windows), f"{p.max_error_percent:+.2f}",
                      f"{p.min_error_percent:+.2f}")
    table.caption = (f"mean error {report.mean_error_percent:+.2f} % over the second hour "
                     f"(declared {s['declared_error_percent']:+.2f} %)")
    return table


__all__ = ["AccuracyReport", "TrumpetPoint", "analyse", "run_accuracy", "write_json", "write_png",
           "rich_table", "WINDOWS_MIN"]
