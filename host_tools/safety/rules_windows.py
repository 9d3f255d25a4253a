"""The safety machine's rules aimed at dose windows: a patient bolus asked for just before a
window's limit is due (so that the limit may fall while it runs, and the pump must stop it
there), or at the window's end (when the fallback must end)."""
from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from . import draws
from .base import MachineBase
from .oracle import MINUTE_MS

LEADS = st.sampled_from((1, MINUTE_MS, 4 * MINUTE_MS, 15 * MINUTE_MS))


class WindowRules(MachineBase):
    """Moves to the moments of a dose window (SAF-14)."""

    @precondition(lambda self: self.oracle.window is not None)
    @rule(at_end=st.booleans(), lead=LEADS, data=st.data())
    def patient_bolus_near_window(self, at_end: bool, lead: int, data: st.DataObject) -> None:
        """Advance to ``lead`` ms before the window's limit is due (or to its end, give or
        take a ms), then ask for a patient bolus."""
        o = self.oracle
        due = o.window_end() if at_end else o.window_limit_due()
        if due is not None:
            target = due + data.draw(draws.EDGE_OFFSET) if at_end else due - lead
            if target > o.t:
                self._advance(target - o.t)  # type: ignore[attr-defined]
                # a step of its own: the checks run before the request is judged
                self.check()  # type: ignore[attr-defined]
        self.patient_bolus()  # type: ignore[attr-defined]
