"""Shared test configuration: hypothesis profiles.

``HYPOTHESIS_PROFILE=deep`` selects a longer search (more examples, longer stateful runs);
``HYPOTHESIS_PROFILE=mutation`` (set by ``make mutate``) a short, repeatable one: every mutant
meets the same few examples, so a verdict never depends on luck. Without it hypothesis keeps its
own default profile.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("deep", max_examples=1_000, stateful_step_count=100, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("mutation", max_examples=20, derandomize=True, database=None,
                          deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
