"""The dose-window invariant (REQUIREMENTS.md, SAF-14), checked after every step.

Two kinds of check, on profiles whose drug library has dose windows:

* the promise itself, on the pump's own window (start, counted dose) and fallback: while the
  schedule runs, the counted dose of the window stays below its limit; the keep-open fallback is
  in force only in a window whose count reached the limit, never with a patient bolus running,
  and its dose after the limit grows no faster than the keep-open rate; no window outlives its
  length;
* agreement with the oracle (when it is exact): the same window, the same fallback, the rate in
  force, and the window's log entries (DOSE_WINDOW_LIMIT, DOSE_WINDOW_END, a patient bolus
  stopped at the limit) at the same milliseconds. After an inexact stretch (a bridge bolus) the
  oracle takes the pump's window as its new anchor.
"""
from __future__ import annotations

from typing import Any

from firmware_sim.enums import BolusKind

from . import stats
from .base import MachineBase
from .oracle import DAY_MS, DELIVERING, Violation


class WindowChecks(MachineBase):
    """:meth:`_check_dose_window`, run by :meth:`host_tools.safety.checks.Checks.check`."""

    def _pump_window(self) -> tuple[list[int] | None, bool, int | None, int]:
        """The pump's window ([start ms, counted pg] or None), fallback flag, running bolus
        kind and the concentration (ug/mL) its window counts at."""
        with self.vp.device.lock:
            p = self.vp.pump
            win = None if p.dose_window is None else list(p.dose_window)
            kind = None if p.bolus is None else p.bolus["kind"]
            return win, bool(p.keep_open), kind, p._limit_conc()

    def _check_dose_window(self, st_: Any) -> None:
        """SAF-14 (see the module documentation)."""
        o = self.oracle
        seen, self.window_events = self.window_events, []
        predicted, o.window_log = o.window_log, []
        if not self.lim.windows:
            return
        for entry, _ in seen:
            stats.count(f"window.{entry}")
        win, keep, kind, conc = self._pump_window()
        if win is None and o.window is None and not keep:  # no window (any more)
            if o.exact and sorted(seen) != sorted(predicted):
                raise Violation(f"SAF-14 at t={o.t} ms: window log {sorted(seen)}, the "
                                f"oracle's {sorted(predicted)}")
            return
        stats.count("check.SAF-14")
        self._window_promise(st_, win, keep, kind, conc)
        if not o.exact:
            o.resync_window(win, keep)
            return
        problems = []
        if keep != o.keep_open:
            problems.append(f"keep-open {keep}, the oracle's {o.keep_open}")
        if win != o.window:
            problems.append(f"window [start ms, counted pg] {win}, the oracle's {o.window}")
        want = self._rate_in_force()
        if st_.rate_nl_per_day != want:
            problems.append(f"rate {st_.rate_nl_per_day} nL/day, the oracle's {want}")
        if sorted(seen) != sorted(predicted):
            problems.append(f"window log {sorted(seen)}, the oracle's {sorted(predicted)}")
        if problems:
            raise Violation(f"SAF-14 at t={o.t} ms: " + "; ".join(problems))

    def _window_promise(self, st_: Any, win: list[int] | None, keep: bool, kind: int | None,
                        conc: int) -> None:
        o = self.oracle
        cfg = self.lim.windows.get((st_.drug_name or "").lower())
        if cfg is None:
            if win is not None or keep:
                raise Violation(f"SAF-14: a dose window {win} (keep-open {keep}) for "
                                f"{st_.drug_name}, which has none")
            return
        length, limit = cfg
        t = st_.time_ms
        if win is None:
            if keep:
                raise Violation("SAF-14: keep-open rate in force without a dose window")
            return
        if win[0] + length <= t:
            raise Violation(f"SAF-14: the dose window from {win[0]} ms ({length} ms long) still "
                            f"open at {t} ms")
        if not keep and win[1] >= limit and st_.state.name in DELIVERING:
            raise Violation(f"SAF-14: {win[1]} pg counted in the window from {win[0]} ms, "
                            f"limit {limit} pg reached, and the pump did not fall back to the "
                            f"keep-open rate")
        if not keep:
            return
        # the limit reached when the fallback began (a later program keeps the fallback)
        reached = o.keep_open_limit if o.keep_open and o.keep_open_limit else limit
        if win[1] < reached:
            raise Violation(f"SAF-14: keep-open rate in a window with {win[1]} pg counted, "
                            f"below its limit {reached} pg (the window from {win[0]} ms)")
        limit = max(limit, reached)
        if kind == BolusKind.PATIENT:
            raise Violation(f"SAF-14: a patient bolus still runs after the window's limit "
                            f"({win[1]} pg counted, limit {limit} pg)")
        # at the crossing at most 2 nL over (basal and bolus floors), then the keep-open rate,
        # counted at the highest concentration since (a program may change it meanwhile)
        since = max(o.keep_open_at, win[0])
        conc = max(conc, o.keep_open_conc if o.keep_open else 0)
        start = max(limit + 2 * conc, o.keep_open_count if o.keep_open else 0)
        bound = start + (self.lim.keep_open_rate * (t - since) // DAY_MS + 1) * conc
        if win[1] > bound:
            raise Violation(f"SAF-14: {win[1]} pg counted in the window from {win[0]} ms, over "
                            f"its limit {limit} pg plus the keep-open rate since {since} ms "
                            f"({bound} pg)")

    def _rate_in_force(self) -> int:
        """The basal rate (nL/day) the pump must report now, by the oracle."""
        o = self.oracle
        if o.state not in DELIVERING or not o.resume or o.plan is None:
            return 0
        if o.safe is not None:
            return self.lim.min_rate
        if o.keep_open:
            return self.lim.keep_open_rate
        return o.plan.rate_at(o.wall)
