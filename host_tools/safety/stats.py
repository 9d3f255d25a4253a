"""Counters of what the safety machine ran (read by the session summary of tests/safety/conftest.py)."""
from __future__ import annotations

import collections

COUNTS: collections.Counter[str] = collections.Counter()
# the whole run's counters: this process's COUNTS plus every pytest-xdist worker's, summed by
# the requirement-trace plugin (host_tools.trace) at the end of the session
TOTAL: collections.Counter[str] = collections.Counter()


def count(key: str, n: int = 1) -> None:
    """Add ``n`` to counter ``key`` (examples, steps, rule names, outcomes)."""
    COUNTS[key] += n


def snapshot() -> dict[str, int]:
    """A copy of the counters."""
    return dict(COUNTS)
