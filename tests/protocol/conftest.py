import os

from hypothesis import HealthCheck, settings

settings.register_profile("protocol", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
# HYPOTHESIS_PROFILE (deep, mutation: see tests/conftest.py) overrides the protocol profile
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "protocol"))
