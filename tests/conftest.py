"""Shared test settings."""
import os

import hypothesis

# Property tests: enough examples to find shape bugs, few enough to keep the suite fast.
hypothesis.settings.register_profile("default", max_examples=40, deadline=None)
hypothesis.settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
