"""Dose windows of 1-12 hours and the keep-open fallback.

A drug of the library may carry an hourly (or multi-hour) limit: ``window_hours`` (1-12) and
``window_limit_ug``. The pump counts, in consecutive windows of that length on the run clock from
the moment therapy starts, the dose of the basal schedule and of patient boluses (clinician,
priming and bridge boluses are not counted). When a window's count reaches its limit the pump
falls back to the profile's keep-open rate until the window ends, a patient bolus in progress is
stopped there (BOLUS_END outcome DOSE_WINDOW_LIMIT) and patient requests are denied
(HARD_DAILY_LIMIT); both moments are logged (DOSE_WINDOW_LIMIT, DOSE_WINDOW_END). The dose is
counted at the highest concentration the catheter may hold (pg = nL x ug/mL), like the daily
limit. Shipped profiles leave windows off (0); a clinic enables them per drug in its profile.
"""
from __future__ import annotations

from ..enums import BolusKind
from .core import PG_PER_UG, PumpCore, S

HOUR_MS = 3_600_000


class DoseWindowMixin(PumpCore):
    """The multi-hour dose window, its limit and the keep-open rate."""

    def _window_ms(self) -> int:
        entry = self.profile.drug(self.drug_name or "")
        return entry.window_hours * HOUR_MS if entry is not None else 0

    def _window_limit_pg(self) -> int | None:
        """The window's limit in pg, or None when the drug has no window."""
        entry = self.profile.drug(self.drug_name or "")
        if entry is None or not entry.window_hours or not entry.window_limit_ug:
            return None
        return entry.window_limit_ug * PG_PER_UG

    def _window_counted_pg(self) -> int:
        win = self.dose_window
        return win[1] if win is not None else 0

    def _sync_window(self) -> None:
        """Open a window when therapy starts with a windowed drug; close it when it stops. A
        window that a new drug's shorter window makes over ends now, and a count that already
        reaches a new drug's limit falls back now (not at the end of the next segment)."""
        running = self.resume_infusing and self.compiled is not None \
            and self.state is not S.END_OF_SERVICE and self._window_limit_pg() is not None
        if running and self.dose_window is None:
            self.dose_window = [self.t_ms, 0]
        elif not running and self.dose_window is not None:
            self.dose_window = None
            if self.keep_open:
                self.keep_open = False
                self._event("DOSE_WINDOW_END", reason="therapy stopped")
        win, limit = self.dose_window, self._window_limit_pg()
        if win is None or limit is None:
            return
        if self.t_ms >= win[0] + self._window_ms():
            self._on_window_end()
        if not self.keep_open and self.dose_window[1] >= limit \
                and self.state in (S.INFUSING, S.BOLUS) and self.concentration_ug_per_ml:
            self._on_window_limit()

    def _roll_window(self) -> None:
        """Bring a window left behind up to the one the run clock is in, on the same grid.

        While nothing flows (and no keep-open fallback runs) a window end counts nothing and
        logs nothing, so the planner does not stop there (a stalled or empty pump would
        otherwise take a segment per window end: 8,760 a year for a 1 h window); the window is
        rolled by arithmetic instead at the end of every segment, before any row acts (so a
        window is never behind when a command or an alarm looks at it), with the same result
        as stopping at every end."""
        win = self.dose_window
        if win is None or self.keep_open:
            return
        length = self._window_ms()
        if length and self.t_ms >= win[0] + length:
            self.dose_window = [win[0] + (self.t_ms - win[0]) // length * length, 0]

    def _count_window(self, counted_nl: int) -> None:
        if self.dose_window is not None and counted_nl:
            self.dose_window[1] += counted_nl * self._limit_conc()

    def _on_window_limit(self) -> None:
        """The window's limit is reached: keep-open rate until the window ends."""
        self.keep_open = True
        self.basal_rem = 0
        entry = self.profile.drug(self.drug_name or "")
        assert entry is not None
        self._event("DOSE_WINDOW_LIMIT", window_hours=entry.window_hours,
                    window_limit_ug=entry.window_limit_ug,
                    keep_open_nl_per_day=self.profile.keep_open_nl_per_day)
        bol = self.bolus
        if bol is not None and bol["kind"] == BolusKind.PATIENT:
            self._finish_bolus("DOSE_WINDOW_LIMIT")

    def _on_window_end(self) -> None:
        """A window ends: the next one starts now, with the full schedule again."""
        self.dose_window = [self.t_ms, 0]
        if self.keep_open:
            self.keep_open = False
            self.basal_rem = 0
            self._event("DOSE_WINDOW_END", reason="window over")
