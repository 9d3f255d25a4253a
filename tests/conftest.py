"""Shared test configuration: hypothesis profiles.

``HYPOTHESIS_PROFILE=deep`` selects a longer search (more examples, longer stateful runs);
without it hypothesis keeps its own default profile.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("deep", max_examples=1_000, stateful_step_count=100, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
