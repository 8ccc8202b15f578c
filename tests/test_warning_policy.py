"""The suite's warning policy (setup.cfg, filterwarnings) does what its comment says."""
import warnings

import numpy as np
import pytest


def test_runtime_warnings_fail_tests():
    with pytest.raises(RuntimeWarning, match="divide by zero encountered in log"):
        np.log(np.zeros(1))


@pytest.mark.parametrize("op", ["matmul", "vecdot"])
@pytest.mark.parametrize("what", ["invalid value", "divide by zero", "overflow"])
def test_blas_flag_warnings_are_ignored(what, op):
    # what a BLAS kernel's spurious floating-point flag looks like to NumPy
    warnings.warn(f"{what} encountered in {op}", RuntimeWarning)

