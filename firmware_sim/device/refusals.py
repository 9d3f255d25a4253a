"""Refusals into the pump's event log (PROTOCOL.md section 7), bounded under any input.

A refusal inside a session (authenticated: rules 6-9 of section 7 and model refusals) is one
REFUSED entry with its code, request type and the session's role. Refusals of frames that could
not be authenticated (junk, forgeries, frames without a session) are summarised: one entry per
NAK code per ``window_s`` seconds of real time, with their count and the type of the last one,
so the log grows by a bounded amount whatever arrives on the link.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from protocol import NakCode

log = logging.getLogger(__name__)

REFUSAL_WINDOW_S = 10.0


class RefusalRecords:
    """Writes refusals to the model's event log through ``log_refusal(code_name, request_type,
    role, count)`` (a callable, so the device can swap its pump)."""

    def __init__(self, log_refusal: Callable[[str, int, int, int], None],
                 window_s: float = REFUSAL_WINDOW_S) -> None:
        self._write = log_refusal
        self.window_s = window_s
        self._windows: dict[NakCode, list[Any]] = {}  # code -> [since s, last type, count]

    def refused(self, code: NakCode, request_type: int, role: int | None, now_s: float) -> None:
        """One refusal at ``now_s`` (monotonic seconds); ``role`` None when unauthenticated."""
        if role is not None:
            self._log(code, request_type, role, 1)
            return
        window = self._windows.get(code)
        if window is None:
            self._windows[code] = [now_s, request_type & 0xFF, 1]
        else:
            window[1] = request_type & 0xFF
            window[2] += 1

    def flush(self, now_s: float, force: bool = False) -> None:
        """Write the summary entry of every window that has ended (all of them with force)."""
        for code, (since, request_type, count) in list(self._windows.items()):
            if force or now_s - since >= self.window_s:
                del self._windows[code]
                self._log(code, request_type, 0, count)

    def _log(self, code: NakCode, request_type: int, role: int, count: int) -> None:
        try:
            self._write(code.name, request_type & 0xFF, role, count)
        except Exception:  # noqa: BLE001 - a refusal that cannot be logged is still refused
            log.exception("could not log the refusal %s", code.name)
