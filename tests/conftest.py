"""Shared test settings."""
import os

import hypothesis

# Property tests: enough examples to find shape bugs, few enough to keep the suite fast.
hypothesis.settings.register_profile("default", max_examples=40, deadline=None)
hypothesis.settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# Under pytest-xdist (``-n 2`` on this 2-core machine) each worker already keeps one core
# busy, so each gets one BLAS thread, and so do the subprocesses it starts (notebook
# kernels, CLI runs): two-thread OpenBLAS waiting for a core that the other worker holds
# busy-waits and runs up to ten times slower.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    import threadpoolctl

    _BLAS_LIMIT = threadpoolctl.threadpool_limits(limits=1, user_api="blas")
