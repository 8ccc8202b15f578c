"""masked_mean_forward / masked_mean_backward (mean pooling over the valid positions)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gemini_np.functional as F
import loops as ref
from helpers import assert_conditioned_finite_differences

TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-11, atol=1e-13)}
SEEDS = [0, 1, 2]
seeds = st.integers(0, 2**32 - 1)
dtypes = st.sampled_from([np.float32, np.float64])


MASK = np.array([[True, True, False, True], [False, False, False, False], [True, False, False, False]])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("mask", [MASK, None])
def test_masked_mean_finite_differences(seed, mask):
    draw = lambda rng: ({"x": rng.standard_normal((3, 4, 2))}, {"mask": mask})  # noqa: E731
    assert_conditioned_finite_differences(F.masked_mean_forward, F.masked_mean_backward, draw, seed)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mask", [MASK, None])
def test_masked_mean_matches_loop_reference(dtype, mask):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 4, 5)).astype(dtype)
    out, cache = F.masked_mean_forward(x, mask)
    assert out.dtype == dtype and out.shape == (3, 5)
    np.testing.assert_allclose(out, ref.masked_mean(x, mask), **TOL[dtype])
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx = F.masked_mean_backward(dout, cache)
    assert dx.dtype == dtype
    full = np.ones((3, 4), dtype=bool) if mask is None else mask
    np.testing.assert_allclose(dx, ref.masked_mean_backward(dout, full, 4), **TOL[dtype])
    if mask is not None:  # the sequence with no valid position pools to 0 and gets no gradient
        assert not np.any(out[1]) and not np.any(dx[1])


@given(seed=seeds, n=st.integers(1, 5), d=st.integers(1, 3), dtype=dtypes)
def test_masked_mean_ignores_padding_content_and_order(seed, n, d, dtype):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, n, d)).astype(dtype)
    mask = rng.random((2, n)) > 0.4
    out, _ = F.masked_mean_forward(x, mask)
    garbage = np.where(mask[..., None], x, dtype(1e3))
    perm = rng.permutation(n)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(F.masked_mean_forward(garbage, mask)[0], out, **tol)
    np.testing.assert_allclose(F.masked_mean_forward(x[:, perm], mask[:, perm])[0], out, **tol)
