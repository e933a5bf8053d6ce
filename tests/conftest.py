"""Hypothesis profiles: a fast "dev" default and a thorough "ci" one.

Pick with HYPOTHESIS_PROFILE=dev|ci; CI=true selects "ci". Runs stay random (not
derandomized) so CI keeps exploring; a failure prints its seed and a reproduction blob.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev",
    max_examples=30,
    stateful_step_count=40,
    deadline=None,
)
settings.register_profile(
    "ci",
    max_examples=1000,
    stateful_step_count=50,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def _profile() -> str:
    chosen = os.environ.get("HYPOTHESIS_PROFILE")
    if chosen:
        return chosen
    return "ci" if os.environ.get("CI", "").lower() == "true" else "dev"


settings.load_profile(_profile())
