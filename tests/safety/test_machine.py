"""The whole-stack safety machine, run in shards (see tests/safety/profiles.py)."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, seed, settings
from hypothesis.stateful import get_state_machine_test

from . import profiles
from host_tools.safety.machine import make_machine

PROFILE = profiles.current()
MACHINES = {"faulty-links": make_machine(faults=True, name="FaultyLinkSafetyMachine"),
            "clean-links": make_machine(faults=False, name="CleanLinkSafetyMachine")}


def run_shard(machine: type, shard: int, profile: profiles.Profile = PROFILE) -> None:
    """Run one shard of ``profile`` against ``machine`` (raises on the first violation)."""
    test = get_state_machine_test(machine, settings=settings(
        max_examples=profile.examples, stateful_step_count=profile.steps, deadline=None,
        database=None if profile.name == "quick" else settings.default.database,
        suppress_health_check=list(HealthCheck), print_blob=True))
    seed(profile.base_seed + shard)(test)()


@pytest.mark.parametrize("shard", range(PROFILE.shards))
@pytest.mark.parametrize("links", sorted(MACHINES))
def test_safety_machine(links: str, shard: int) -> None:
    """Every safety invariant (REQUIREMENTS.md, SAF-1..) holds after every step of random
    whole-stack sessions."""
    run_shard(MACHINES[links], shard * 2 + (links == "faulty-links"))
