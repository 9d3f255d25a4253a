"""The oracle's dose windows: what the pump must do when a drug has a multi-hour dose limit.

Written from REQUIREMENTS.md (SAF-14) and the documented behaviour (README, PROTOCOL.md log
kinds DOSE_WINDOW_LIMIT and DOSE_WINDOW_END), not from the model's code:

* a drug of the library may have a window of 1-12 h and a limit per window; while therapy runs
  with such a drug (started, programmed, not at end of service) the pump counts, in consecutive
  windows of that length on the run clock from the moment therapy started, the dose of the basal
  schedule and of patient boluses, never of clinician, priming or bridge boluses; the dose is
  counted at the highest concentration the catheter may hold (pg = nL x ug/mL);
* at the first ms a window's count reaches its limit while the pump delivers, the pump falls back
  to the profile's keep-open rate (the basal remainder restarts), a patient bolus in progress is
  stopped there (BOLUS_END outcome DOSE_WINDOW_LIMIT) and patient requests are denied
  (HARD_DAILY_LIMIT); logged DOSE_WINDOW_LIMIT;
* at the window's end the next window starts with a count of 0 and, after a fallback, the
  schedule runs again (the remainder restarts; logged DOSE_WINDOW_END); when therapy stops (or
  the drug no longer has a window) the window closes, and a fallback in force ends (logged
  DOSE_WINDOW_END);
* after a command that changed the drug, a window that is already over ends, and a count that
  already reaches the new drug's limit falls back, at once; a fallback in force lasts until the
  window ends, whatever the new drug's limit.

The oracle predicts the log entries of these moments (:attr:`OracleWindows.window_log`, kind and
run ms) for the machine to compare with the pump's log.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .oracle_parts import Bolus, Limits, WeekPlan

LIMIT_LOG = "DOSE_WINDOW_LIMIT"
END_LOG = "DOSE_WINDOW_END"
BOLUS_STOPPED_LOG = "BOLUS_END DOSE_WINDOW_LIMIT"  # a patient bolus stopped at the limit


class OracleWindows:
    """Dose windows of :class:`host_tools.safety.oracle.Oracle` (which holds the state these
    methods read and write). ``window`` is [start run ms, counted pg] or None; ``keep_open``
    whether the fallback is in force, since ``keep_open_at`` (run ms), reached at the limit
    ``keep_open_limit`` (pg: a later program keeps the fallback until the window ends), and
    counted since at ``keep_open_conc`` ug/mL at most, from a count of ``keep_open_count`` pg
    when a command brought it (0: the count crossed the limit)."""

    lim: "Limits"
    t: int
    state: str
    resume: bool
    drug: str | None
    conc: int | None
    plan: "WeekPlan | None"
    bolus: "Bolus | None"
    acc: int
    window: list[int] | None
    keep_open: bool
    keep_open_at: int
    keep_open_limit: int
    keep_open_conc: int
    keep_open_count: int
    window_log: list[tuple[str, int]]

    def _delivering(self) -> bool:  # pragma: no cover - defined by OracleTime
        raise NotImplementedError

    def _finish_bolus(self) -> None:  # pragma: no cover - defined by OracleTime
        raise NotImplementedError

    def _limit_conc(self) -> int:  # pragma: no cover - defined by OracleTime
        raise NotImplementedError

    def _counted(self, t: int) -> int:  # pragma: no cover - defined by OracleTime
        raise NotImplementedError

    def _first(self, need: int, hi: int, given: Callable[[int], int] | None = None
               ) -> int:  # pragma: no cover - defined by OracleTime
        raise NotImplementedError

    def window_config(self) -> tuple[int, int] | None:
        """(window ms, limit pg) of the drug in force, or None when it has no dose window."""
        return self.lim.windows.get((self.drug or "").lower()) if self.lim.windows else None

    def window_end(self) -> int | None:
        """Run ms at which the open window ends, or None."""
        cfg = self.window_config()
        return None if self.window is None or cfg is None else self.window[0] + cfg[0]

    def window_room_nl(self) -> int | None:
        """nL the window still counts before its limit (<= 0: reached), or None when the limit
        cannot be reached now (no window, a fallback in force, not delivering)."""
        cfg = self.window_config()
        conc = self._limit_conc()
        if self.window is None or cfg is None or self.keep_open or not conc \
                or not self._delivering():
            return None
        return -(-(cfg[1] - self.window[1]) // conc)

    def window_limit_due(self) -> int | None:
        """Run ms at which the open window would reach its limit if the therapy in force ran on
        undisturbed until the window ends, or None."""
        room, end = self.window_room_nl(), self.window_end()
        if room is None or end is None or room <= 0 or self._counted(end) < room:
            return None
        return self._first(room, end, self._counted)

    def sync_window(self) -> None:
        """After a command: open a window when therapy runs with a windowed drug, close it when
        it no longer does; act at once on an end or a limit the command made due."""
        running = self.resume and self.plan is not None and self.state != "END_OF_SERVICE" \
            and self.window_config() is not None
        if running and self.window is None:
            self.window = [self.t, 0]
        elif not running and self.window is not None:
            self.window = None
            if self.keep_open:
                self.keep_open = False
                self.window_log.append((END_LOG, self.t))
        self.window_moments(at_command=True)

    def count_window(self, counted_nl: int) -> None:
        """``counted_nl`` nL of counted delivery (basal and patient bolus) happened."""
        if self.window is not None and counted_nl:
            conc = self._limit_conc()
            self.window[1] += counted_nl * conc
            if self.keep_open:
                self.keep_open_conc = max(self.keep_open_conc, conc)

    def window_moments(self, at_command: bool = False) -> None:
        """The window's end, then its limit, if due at ``t`` (in the documented order);
        ``at_command``: after a command (which may have lowered the limit below the count)."""
        end = self.window_end()
        if end is not None and self.t >= end:
            # consecutive windows on the run clock (several may have passed while nothing
            # flowed); a window a command made over (a shorter one) ends at the command
            start, length = self.window[0], self.window_config()[0]  # type: ignore[index]
            self.window = [self.t if at_command else start + (self.t - start) // length * length, 0]
            if self.keep_open:
                self.keep_open = False
                self.acc = 0
                self.window_log.append((END_LOG, self.t))
        room = self.window_room_nl()
        if room is not None and room <= 0:
            self.keep_open = True
            self.keep_open_at = self.t
            self.keep_open_limit = self.window_config()[1]  # type: ignore[index]
            self.keep_open_conc = self._limit_conc()
            # a new program's lower limit may find the count far above it
            self.keep_open_count = self.window[1] if at_command else 0  # type: ignore[index]
            self.acc = 0
            self.window_log.append((LIMIT_LOG, self.t))
            if self.bolus is not None and self.bolus.kind == "PATIENT":
                self._finish_bolus()
                self.window_log.append((BOLUS_STOPPED_LOG, self.t))

    def resync_window(self, window: list[int] | None, keep_open: bool) -> None:
        """After an inexact stretch: the pump's window and fallback are the new anchor."""
        self.window = None if window is None else list(window)
        if keep_open and not self.keep_open:  # since some time in the window: its start bounds it
            self.keep_open_at = self.window[0] if self.window is not None else self.t
            self.keep_open_limit = 0  # unknown: the drug may have changed since
            self.keep_open_conc = max(d[1] for d in self.lim.drugs.values())
            self.keep_open_count = self.window[1] if self.window is not None else 0
        self.keep_open = keep_open
        self.window_log = []
