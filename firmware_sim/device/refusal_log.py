"""Rate-limited logging of refused and ignored frames, so junk on the link cannot flood the log.

Every refusal is still counted and logged, but within each window (``window_s``, default 10 s)
only the first ``burst`` lines (default 20) are written as they come; the rest are counted by
kind and written as one summary line when the window ends::

    1843 frames refused in the last 10 s: NO_SESSION 1790, BAD_TAG 41, ignored RESPONSE 12
    (20 shown above, 1823 summarised)

Lines are clipped to ``MAX_LINE`` characters and a summary names at most ``MAX_KINDS`` kinds,
so the log grows by at most about ``(burst + 1) * MAX_LINE`` bytes per window whatever arrives:
with the defaults under 40 KB a minute.
"""
from __future__ import annotations

import collections
import logging
import time
from typing import Callable

MAX_LINE = 300
MAX_KINDS = 12


class RefusalLog:
    """Logs refusals to ``logger`` with a per-window budget (see the module documentation).
    ``monotonic`` gives seconds (real time by default)."""

    def __init__(self, logger: logging.Logger, *, window_s: float = 10.0, burst: int = 20,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.window_s = window_s
        self.burst = burst
        self._mono = monotonic
        self._window_start = monotonic()
        self._shown = 0
        self._suppressed: collections.Counter[str] = collections.Counter()
        self.total = 0  # every refusal recorded, ever

    def record(self, kind: str, message: str, level: int = logging.WARNING) -> None:
        """One refused (or ignored) frame: ``kind`` names it in summaries (a NAK code name, or
        e.g. "ignored RESPONSE"); ``message`` is the full line, written if the budget allows."""
        self.total += 1
        self.flush()
        if self._shown < self.burst:
            self._shown += 1
            text = message if len(message) <= MAX_LINE else message[:MAX_LINE - 3] + "..."
            self.logger.log(level, "%s", text)
        else:
            self._suppressed[kind[:40]] += 1

    def flush(self) -> None:
        """End the window if it is over: write the summary of what was not shown, if anything.
        Cheap; call it whenever convenient (the device calls it on every poll)."""
        now = self._mono()
        if now - self._window_start < self.window_s:
            return
        if self._suppressed:
            hidden = sum(self._suppressed.values())
            kinds = ", ".join(f"{k} {n}" for k, n in self._suppressed.most_common(MAX_KINDS))
            more = len(self._suppressed) - MAX_KINDS
            if more > 0:
                kinds += f", {more} other kinds"
            self.logger.warning("%d frames refused in the last %g s: %s (%d shown above, "
                                "%d summarised)", self._shown + hidden, self.window_s, kinds,
                                self._shown, hidden)
        self._window_start = now
        self._shown = 0
        self._suppressed.clear()
