"""The device profiles the safety machine runs: the shipped ones, and variants built from them.

A name is a shipped profile (``"ip20"``, ``"ip40"``, ``"ipv20"``) or a shipped profile with a
variant suffix. The one variant is ``+windows``: the shipped profile with multi-hour dose
windows on for three drugs, with limits small enough that ordinary schedules and patient boluses
reach them within an example (the shipped profiles leave windows off, so without it the machine
would never see a window's limit, its keep-open fallback or a patient bolus stopped there):

========== ======= ============== ==========================================================
drug       window  limit (ug)     reached by a basal dose above
========== ======= ============== ==========================================================
morphine   4 h     1,000          6,000 ug/day (a fifth of its hard daily limit of 30,000)
hydromorph 1 h     150            3,600 ug/day (a quarter of its hard limit of 15,000)
baclofen   12 h    300            600 ug/day (under a third of its hard limit of 2,000)
========== ======= ============== ==========================================================

and a keep-open rate of 96,000 nL/day (twice the minimum rate, so that a pump that falls back
to the minimum rate instead of the keep-open rate is told apart).
"""
from __future__ import annotations

import dataclasses
import functools

from firmware_sim import Profile, load_profile

WINDOWS_SUFFIX = "+windows"
# drug -> (window hours, limit per window in ug)
WINDOWS: dict[str, tuple[int, int]] = {"morphine": (4, 1_000), "hydromorphone": (1, 150),
                                       "baclofen": (12, 300)}
KEEP_OPEN_NL_PER_DAY = 96_000


@functools.lru_cache(maxsize=None)
def device_profile(name: str) -> Profile:
    """The profile called ``name`` (see the module documentation), built once per process
    (profiles are immutable)."""
    if name.endswith(WINDOWS_SUFFIX):
        return with_windows(load_profile(name[:-len(WINDOWS_SUFFIX)]))
    return load_profile(name)


def with_windows(base: Profile) -> Profile:
    """``base`` with the dose windows of :data:`WINDOWS` on and the keep-open rate of
    :data:`KEEP_OPEN_NL_PER_DAY` (nL/day); the other drugs and numbers unchanged."""
    drugs = dict(base.drugs)
    for drug, (hours, limit_ug) in WINDOWS.items():
        if drug in drugs:
            drugs[drug] = dataclasses.replace(drugs[drug], window_hours=hours,
                                              window_limit_ug=limit_ug)
    keep_open = min(max(KEEP_OPEN_NL_PER_DAY, base.min_rate_nl_per_day), base.max_rate_nl_per_day)
    return dataclasses.replace(base, name=base.name + WINDOWS_SUFFIX, drugs=drugs,
                               keep_open_nl_per_day=keep_open)
