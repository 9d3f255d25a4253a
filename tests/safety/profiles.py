"""Run profiles of the safety machine: ``quick`` (inside ``make test``) and ``deep``.

Chosen by ``INTRAPUMP_SAFETY=quick|deep`` (or ``HYPOTHESIS_PROFILE=deep``). A profile is split
into shards, each run once over clean links and once over faulty links (one pytest item each),
so ``pytest -n auto`` runs them in parallel; every item has its own seed, so they explore
different examples. quick: 3 x 2 x 20 = 120 examples of 30 steps; deep: 20 x 2 x 250 = 10,000
examples of 50 steps. ``INTRAPUMP_SAFETY_SEED`` fixes the
base seed of a deep run (a quick run is always the same). Every third shard (shards 2, 5, 8...)
runs the machine on the ip20 profile with dose windows on (:data:`WINDOWS_PROFILE`, see
:mod:`host_tools.safety.device_profiles`), the others on ip20 as shipped: a third of the examples
meet dose windows and their keep-open fallback.
"""
from __future__ import annotations

import dataclasses
import os
import random


WINDOWS_PROFILE = "ip20+windows"


def uses_windows(shard: int) -> bool:
    """Whether shard ``shard`` runs on :data:`WINDOWS_PROFILE`."""
    return shard % 3 == 2


@dataclasses.dataclass(frozen=True)
class Profile:
    """How much one run explores: shards x 2 link kinds x examples x steps per example."""

    name: str
    shards: int
    examples: int  # per shard
    steps: int  # per example
    base_seed: int

    @property
    def total_examples(self) -> int:
        """Examples of a whole run (both link kinds)."""
        return self.shards * 2 * self.examples


def current() -> Profile:
    """The profile selected by the environment (quick by default)."""
    name = os.environ.get("INTRAPUMP_SAFETY") or (
        "deep" if os.environ.get("HYPOTHESIS_PROFILE") == "deep" else "quick")
    if name == "deep":
        seed = os.environ.get("INTRAPUMP_SAFETY_SEED")
        return Profile("deep", 20, 250, 50, int(seed) if seed else random.randrange(2**32))
    return Profile("quick", 3, 20, 30, 20261125)
