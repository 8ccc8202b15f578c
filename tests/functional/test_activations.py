"""ReLU and GELU (the tanh form): the whole verification ladder."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gemini_np.functional as F
import loops as ref
from helpers import assert_conditioned_finite_differences, assert_f32_matches_f64

TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-11, atol=1e-13)}
SEEDS = [0, 1, 2]
seeds = st.integers(0, 2**32 - 1)


def away_from_zero(rng, shape):
    """ReLU has a kink at 0, where finite differences are meaningless; keep |x| >= 0.1."""
    x = rng.standard_normal(shape)
    return x + np.sign(x) * 0.1


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 2, 3)])
def test_relu_and_gelu_finite_differences(seed, shape):
    assert_conditioned_finite_differences(F.relu_forward, F.relu_backward, lambda rng: ({"x": away_from_zero(rng, shape)}, {}), seed)
    assert_conditioned_finite_differences(F.gelu_forward, F.gelu_backward, lambda rng: ({"x": 2 * rng.standard_normal(shape)}, {}), seed)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_and_gelu_match_loop_reference(dtype):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((3, 7)) * 3).astype(dtype)
    x[0, 0] = 0.0  # ReLU's subgradient at 0 is taken as 0
    dy = rng.standard_normal(x.shape).astype(dtype)
    y, cache = F.relu_forward(x)
    np.testing.assert_array_equal(y, ref.relu(x))
    np.testing.assert_array_equal(F.relu_backward(dy, cache), dy * ref.relu_grad(x).astype(dtype))
    assert F.relu_backward(dy, cache)[0, 0] == 0
    y, cache = F.gelu_forward(x)
    np.testing.assert_allclose(y, ref.gelu(x), **TOL[dtype])
    np.testing.assert_allclose(F.gelu_backward(dy, cache), dy * ref.gelu_grad(x), **TOL[dtype])
    assert y.dtype == dtype and F.gelu_backward(dy, cache).dtype == dtype


def test_gelu_is_the_tanh_form_not_erf():
    """Close to x Φ(x) with the exact normal CDF (|diff| < 1e-3), but not equal to it."""
    x = np.linspace(-4, 4, 81)
    exact = np.array([t * 0.5 * (1 + math.erf(t / math.sqrt(2))) for t in x])
    y, _ = F.gelu_forward(x)
    assert np.max(np.abs(y - exact)) < 1e-3
    assert np.max(np.abs(y - exact)) > 1e-6
    np.testing.assert_allclose(y, ref.gelu(x), **TOL[np.float64])  # 1 + tanh cancels near -1: ~1e-12 relative


@given(seed=seeds, n=st.integers(1, 5), d=st.integers(1, 5))
def test_activations_float32_backward_matches_float64(seed, n, d):
    """Well-conditioned inputs: |x| <= 3. Below x ≈ -3.5 the tanh form's 1 + tanh(u) cancels
    (it is ~1e-5 at x = -4), so float32 GELU and its derivative keep only 2-3 digits there,
    on values that are themselves below 1e-4."""
    rng = np.random.default_rng(seed)
    x, dy = np.clip(away_from_zero(rng, (n, d)), -3, 3), rng.standard_normal((n, d))
    for fwd, bwd in ((F.relu_forward, F.relu_backward), (F.gelu_forward, F.gelu_backward)):
        y32, c32 = fwd(x.astype(np.float32))
        assert y32.dtype == np.float32
        assert_f32_matches_f64([bwd(dy.astype(np.float32), c32)], [bwd(dy, fwd(x)[1])])


def test_gelu_of_huge_inputs_is_finite():
    for dtype in (np.float32, np.float64):
        x = np.array([-1e4, -50.0, 50.0, 1e4], dtype=dtype)  # x³ = 1e12 still fits in float32
        y, cache = F.gelu_forward(x)
        np.testing.assert_allclose(y, [0, 0, 50, 1e4], atol=1e-30)
        np.testing.assert_allclose(F.gelu_backward(np.ones_like(x), cache), [0, 0, 1, 1], atol=1e-30)
