"""The 24-hour preview of a day plan: what each step delivers, and the day's totals against limits.

A clinician confirms a schedule only after seeing, step by step, how long it runs, the volume and
the dose it gives, and whether the day's dose stays within the drug's soft and hard daily limits.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from rich.table import Table

from host_tools.schedule_file import SchedulePlan, weekday_name

MINUTES_PER_DAY = 1440


@dataclass(frozen=True)
class PreviewRow:
    """One step over a day: minutes it runs, its rate (nL/day), and the volume (nL) and dose (ug) it gives."""

    start_minute: int
    end_minute: int
    rate_nl_per_day: int
    volume_nl: Fraction
    dose_ug: Fraction


@dataclass(frozen=True)
class DayPreview:
    """A day plan's rows, totals (nL, ug) and the verdict against the drug's daily limits (ug)."""

    weekday: int
    rows: tuple[PreviewRow, ...]
    total_volume_nl: Fraction
    total_dose_ug: Fraction
    soft_limit_ug: int | None
    hard_limit_ug: int | None

    @property
    def over_soft_limit(self) -> bool:
        """True when the day's dose exceeds the drug's soft daily limit (a warning)."""
        return self.soft_limit_ug is not None and self.total_dose_ug > self.soft_limit_ug

    @property
    def over_hard_limit(self) -> bool:
        """True when the day's dose exceeds the drug's hard daily limit (the pump will refuse it)."""
        return self.hard_limit_ug is not None and self.total_dose_ug > self.hard_limit_ug


def preview_plan(plan: SchedulePlan, concentration_ug_per_ml: int,
                 soft_limit_ug: int | None = None, hard_limit_ug: int | None = None) -> DayPreview:
    """Compute the exact volume and dose of each step of ``plan`` over one day (no rounding)."""
    rows = []
    starts = [s.start_minute for s in plan.steps] + [MINUTES_PER_DAY]
    for step, end in zip(plan.steps, starts[1:]):
        volume = Fraction(step.rate_nl_per_day * (end - step.start_minute), MINUTES_PER_DAY)
        rows.append(PreviewRow(step.start_minute, end, step.rate_nl_per_day, volume,
                               volume * concentration_ug_per_ml / 1_000_000))
    return DayPreview(plan.weekday, tuple(rows), sum((r.volume_nl for r in rows), Fraction(0)),
                      sum((r.dose_ug for r in rows), Fraction(0)), soft_limit_ug, hard_limit_ug)


def clock_text(minute: int) -> str:
    """HH:MM for a minute of the day (1440 reads 24:00)."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def preview_table(preview: DayPreview, drug_name: str = "") -> Table:
    """A rich table of the preview, with the totals and the limit verdict in its caption."""
    title = f"24 h preview, {weekday_name(preview.weekday)}" + (f" ({drug_name})" if drug_name else "")
    table = Table(title=title)
    for heading in ("from", "to", "rate mL/day", "volume mL", "dose mg"):
        table.add_column(heading, justify="right")
    for row in preview.rows:
        table.add_row(clock_text(row.start_minute), clock_text(row.end_minute),
                      f"{row.rate_nl_per_day / 1e6:.3f}", f"{float(row.volume_nl) / 1e6:.4f}",
                      f"{float(row.dose_ug) / 1e3:.4f}")
    table.add_row("", "total", "", f"{float(preview.total_volume_nl) / 1e6:.4f}",
                  f"{float(preview.total_dose_ug) / 1e3:.4f}", style="bold")
    verdict = []
    if preview.soft_limit_ug is not None:
        verdict.append(f"soft limit {preview.soft_limit_ug / 1e3:g} mg/day"
                       + (" EXCEEDED" if preview.over_soft_limit else " ok"))
    if preview.hard_limit_ug is not None:
        verdict.append(f"hard limit {preview.hard_limit_ug / 1e3:g} mg/day"
                       + (" EXCEEDED (the pump will refuse)" if preview.over_hard_limit else " ok"))
    table.caption = "; ".join(verdict)
    return table
