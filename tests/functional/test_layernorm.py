"""layer_norm_forward / layer_norm_backward: the whole verification ladder."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gemini_np.functional as F
import loops as ref
from helpers import assert_conditioned_finite_differences, assert_f32_matches_f64, assert_finite_differences

TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-11, atol=1e-13)}
SEEDS = [0, 1, 2]
seeds = st.integers(0, 2**32 - 1)
dtypes = st.sampled_from([np.float32, np.float64])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("x_shape", [(5,), (3, 4), (2, 3, 6)])
def test_layer_norm_finite_differences(seed, x_shape):
    d = x_shape[-1]

    def draw(rng):
        return {"x": rng.standard_normal(x_shape), "gamma": rng.standard_normal(d), "beta": rng.standard_normal(d)}, {}

    assert_conditioned_finite_differences(F.layer_norm_forward, F.layer_norm_backward, draw, seed)


def test_layer_norm_finite_differences_with_large_eps():
    """A large eps makes the eps term matter."""
    rng = np.random.default_rng(4)
    x, gamma, beta = rng.standard_normal((3, 5)) * 0.5, rng.standard_normal(5), rng.standard_normal(5)
    dy = rng.standard_normal((3, 5))
    inputs = {"x": x, "gamma": gamma, "beta": beta}
    assert_finite_differences(F.layer_norm_forward, F.layer_norm_backward, inputs, {"eps": 0.3}, dout=dy)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("eps", [1e-5, 0.5])
def test_layer_norm_matches_loop_reference(dtype, eps):
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((2, 3, 5)) * 3 + 1).astype(dtype)
    gamma, beta = rng.standard_normal(5).astype(dtype), rng.standard_normal(5).astype(dtype)
    y, cache = F.layer_norm_forward(x, gamma, beta, eps=eps)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, ref.layer_norm(x, gamma, beta, eps), **TOL[dtype])
    dy = rng.standard_normal(y.shape).astype(dtype)
    for got, want in zip(F.layer_norm_backward(dy, cache), ref.layer_norm_backward(dy, x, gamma, eps)):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=TOL[dtype]["rtol"], atol=10 * TOL[dtype]["atol"])


@given(seed=seeds, n=st.integers(1, 4), d=st.integers(2, 6), dtype=dtypes)
def test_layer_norm_properties(seed, n, d, dtype):
    """Rows come out with mean 0 and variance var/(var + eps) when gamma = 1, beta = 0;
    the output ignores a shift of the row; dx rows sum to 0 (the mean is subtracted).

    Any row, even a nearly constant one: the tolerances are the rounding error of the
    normalisation, u·κ with u the dtype's epsilon and κ = max|x| / σ (which is large
    for a nearly constant row, where float32 legitimately loses digits)."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, d)) * 2).astype(dtype)
    ones, zeros = np.ones(d, dtype), np.zeros(d, dtype)
    y, cache = F.layer_norm_forward(x, ones, zeros)
    x64 = x.astype(np.float64)
    var = np.var(x64, axis=-1)
    inv_std = np.max(1 / np.sqrt(var + 1e-5))
    u = float(np.finfo(dtype).eps)
    kappa = 1 + np.abs(x64).max() * inv_std
    np.testing.assert_allclose(np.mean(y, axis=-1, dtype=np.float64), 0, atol=8 * u * kappa)
    np.testing.assert_allclose(np.mean(y.astype(np.float64) ** 2, axis=-1), var / (var + 1e-5), rtol=0, atol=16 * u * kappa)
    y_shift, _ = F.layer_norm_forward(x + dtype(3.0), ones, zeros)  # x + 3 itself rounds by u·(|x| + 3)
    np.testing.assert_allclose(y_shift, y, rtol=0, atol=16 * u * (kappa + 3 * inv_std))
    dy = rng.standard_normal((n, d))
    dx, _, _ = F.layer_norm_backward(dy.astype(dtype), cache)
    # the sum cancels terms of size inv_std·|dy|, each carrying the forward's relative error u·κ
    np.testing.assert_allclose(np.sum(dx, axis=-1, dtype=np.float64), 0, atol=16 * u * kappa * inv_std * np.abs(dy).max() * d)


@given(seed=seeds, n=st.integers(1, 4), d=st.integers(2, 6))
def test_layer_norm_float32_backward_matches_float64(seed, n, d):
    """Well-conditioned rows (standardised, then shifted and scaled: σ = 2 exactly), rtol 1e-4."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, d))
    z = (z - z.mean(axis=-1, keepdims=True)) / z.std(axis=-1, keepdims=True)
    x64 = 0.5 + 2 * z
    g, dy = rng.standard_normal(d), rng.standard_normal((n, d))
    grads64 = F.layer_norm_backward(dy, F.layer_norm_forward(x64, g, g)[1])
    f32 = [a.astype(np.float32) for a in (x64, g, dy)]
    grads32 = F.layer_norm_backward(f32[2], F.layer_norm_forward(f32[0], f32[1], f32[1])[1])
    assert_f32_matches_f64(grads32, grads64)


def test_layer_norm_constant_row_is_finite():
    x = np.full((2, 4), 7.0)
    y, cache = F.layer_norm_forward(x, np.ones(4), np.full(4, 0.5))
    np.testing.assert_array_equal(y, 0.5)  # xhat = 0 / sqrt(eps)
    assert np.all(np.isfinite(F.layer_norm_backward(np.ones((2, 4)), cache)[0]))
