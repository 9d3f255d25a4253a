"""The whole-stack safety machine, run in shards (see tests/safety/profiles.py)."""
from __future__ import annotations

from typing import Callable

import pytest
from hypothesis import HealthCheck, seed, settings
from hypothesis.stateful import get_state_machine_test

from host_tools.safety import stats
from host_tools.safety.machine import make_machine

from . import profiles

pytestmark = pytest.mark.requirement("SAF-1", "SAF-2", "SAF-3", "SAF-4", "SAF-5", "SAF-6",
                                     "SAF-7", "SAF-8", "SAF-9", "SAF-10", "SAF-11", "SAF-12", "SAF-13",
                                     "SAF-14")

PROFILE = profiles.current()
MACHINES = {"faulty-links": make_machine(faults=True, name="FaultyLinkSafetyMachine"),
            "clean-links": make_machine(faults=False, name="CleanLinkSafetyMachine")}
# the same machines on the ip20 profile with dose windows on (host_tools.safety.device_profiles)
WINDOW_MACHINES = {
    "faulty-links": make_machine(faults=True, name="FaultyLinkWindowSafetyMachine",
                                 profile=profiles.WINDOWS_PROFILE),
    "clean-links": make_machine(faults=False, name="CleanLinkWindowSafetyMachine",
                                profile=profiles.WINDOWS_PROFILE)}


def run_shard(machine: type, shard: int, profile: profiles.Profile = PROFILE,
              record: Callable[[str, object], None] | None = None) -> None:
    """Run one shard of ``profile`` against ``machine`` (raises on the first violation);
    ``record(name, value)`` gets the hypothesis seed, examples and checked steps."""
    test = get_state_machine_test(machine, settings=settings(
        max_examples=profile.examples, stateful_step_count=profile.steps, deadline=None,
        database=None if profile.name == "quick" else settings.default.database,
        suppress_health_check=list(HealthCheck), print_blob=True))
    before = stats.snapshot()
    try:
        seed(profile.base_seed + shard)(test)()
    finally:
        if record is not None:
            after = stats.snapshot()
            record("hypothesis_seed", profile.base_seed + shard)
            record("hypothesis_max_examples", profile.examples)
            record("hypothesis_max_steps", profile.steps)
            for key in ("examples", "steps"):
                record(f"hypothesis_{key}", after.get(key, 0) - before.get(key, 0))


@pytest.mark.parametrize("shard", range(PROFILE.shards))
@pytest.mark.parametrize("links", sorted(MACHINES))
def test_safety_machine(links: str, shard: int, record_property) -> None:
    """Every safety invariant (REQUIREMENTS.md, SAF-1..) holds after every step of random
    whole-stack sessions (every third shard on the profile with dose windows)."""
    machines = WINDOW_MACHINES if profiles.uses_windows(shard) else MACHINES
    run_shard(machines[links], shard * 2 + (links == "faulty-links"), record=record_property)
