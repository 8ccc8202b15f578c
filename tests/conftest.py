"""Shared test settings.

The tests are laid out like the package (tests/functional/, tests/nn/, tests/test_<module>.py)
without __init__.py files; their shared modules (helpers.py, loops.py, fake_cupy.py) live here
in tests/, which is put on sys.path so that ``import helpers`` works from every folder.
Every test file's basename is unique.
"""
import os
import sys
from pathlib import Path

import hypothesis

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

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
