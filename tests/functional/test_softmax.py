"""softmax / softmax_backward: the whole verification ladder."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import gemini_np as gnp
import loops as ref
from helpers import assert_finite_differences

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-14)}


def softmax_pair(axis):
    """softmax as a forward/backward pair (forward returns (y, cache = y))."""

    def forward(x):
        y = gnp.softmax(x, axis=axis)
        return y, y

    return forward, lambda dy, y: gnp.softmax_backward(dy, y, axis=axis)


# ---------------------------------------------------------------- rung 1: finite differences
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("shape, axis", [((5,), -1), ((3, 4), -1), ((3, 4), 0), ((2, 3, 4), 1), ((2, 1, 3), -1)])
def test_finite_differences(seed, shape, axis):
    x = np.random.default_rng(seed).standard_normal(shape) * 2
    assert_finite_differences(*softmax_pair(axis), {"x": x}, seed=seed)


def test_finite_differences_with_masked_entries():
    """-inf entries and a fully -inf row: only the finite entries are differentiated."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 5))
    x[1, [0, 3]] = -np.inf
    x[2, :] = -np.inf  # a fully "masked" row: output 0, gradient 0
    finite = np.isfinite(x)

    def forward(x_finite):
        x_new = x.copy()
        x_new[finite] = x_finite
        y = gnp.softmax(x_new)
        return y, y

    def backward(dy, y):
        dx = gnp.softmax_backward(dy, y)
        assert np.all(dx[~finite] == 0)
        return dx[finite]

    assert_finite_differences(forward, backward, {"x_finite": x[finite]}, seed=3)


# ---------------------------------------------------------------- rung 2: slow reference
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, axis", [((4,), 0), ((3, 5), -1), ((3, 5), 0), ((2, 3, 4), 1)])
def test_matches_loop_reference(dtype, shape, axis):
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    y = gnp.softmax(x, axis=axis)
    np.testing.assert_allclose(y, ref.softmax(x, axis), **TOL[dtype])
    np.testing.assert_allclose(gnp.softmax_backward(dy, y, axis=axis), ref.softmax_backward(dy, y, axis), **TOL[dtype])


def test_known_values_computed_from_the_definition():
    """softmax([1, 0, 0]) = [e, 1, 1] / (e + 2), written with math.e, not a stored number."""
    e = math.e
    expected = np.array([e, 1.0, 1.0]) / (e + 2.0)
    np.testing.assert_allclose(gnp.softmax(np.array([1.0, 0.0, 0.0])), expected, rtol=1e-15)
    # the Jacobian of a 2-way softmax is y0 y1 [[1, -1], [-1, 1]]
    y = gnp.softmax(np.array([0.3, -0.2]))
    jac = np.stack([gnp.softmax_backward(np.eye(2)[i], y) for i in range(2)])
    np.testing.assert_allclose(jac, y[0] * y[1] * np.array([[1.0, -1.0], [-1.0, 1.0]]), rtol=1e-14)


# ---------------------------------------------------------------- rung 3: properties
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6)
dtypes = st.sampled_from(DTYPES)


@given(data=st.data(), dtype=dtypes, shape=shapes)
def test_rows_sum_to_one_and_shift_invariance(data, dtype, shape):
    x = data.draw(hnp.arrays(dtype, shape, elements=st.floats(-50, 50, width=32)))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    shift = data.draw(st.floats(-100, 100, width=32))
    y = gnp.softmax(x, axis=axis)
    assert y.dtype == dtype and y.shape == x.shape
    assert np.all(y >= 0) and np.all(y <= 1)
    tol = TOL[dtype]
    np.testing.assert_allclose(np.sum(y, axis=axis, dtype=np.float64), 1.0, rtol=0, atol=1e-6 if dtype == np.float32 else 1e-13)
    # shift invariance: softmax(x + c) == softmax(x); in float32, x + c itself rounds by ~|c| eps
    shifted = gnp.softmax(x + dtype(shift), axis=axis)
    atol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(shifted, y, rtol=tol["rtol"], atol=atol)


@given(seed=st.integers(0, 2**32 - 1), dtype=dtypes, shape=shapes)
def test_backward_rows_sum_to_zero(seed, dtype, shape):
    """Σ_j dS_j = 0: the gradient of a shift-invariant function has no component along 1."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    dx = gnp.softmax_backward(dy, gnp.softmax(x))
    assert dx.dtype == dtype
    scale = 1 + np.abs(dy).max()
    np.testing.assert_allclose(np.sum(dx, axis=-1, dtype=np.float64), 0.0, atol=(1e-5 if dtype == np.float32 else 1e-13) * scale)


@given(seed=st.integers(0, 2**32 - 1), shape=shapes)
def test_float32_backward_matches_float64(seed, shape):
    rng = np.random.default_rng(seed)
    x, dy = rng.standard_normal(shape), rng.standard_normal(shape)
    dx64 = gnp.softmax_backward(dy, gnp.softmax(x))
    dx32 = gnp.softmax_backward(dy.astype(np.float32), gnp.softmax(x.astype(np.float32)))
    assert dx32.dtype == np.float32
    # elementwise rtol 1e-4; the atol covers entries that cancel to ~0 and is tied to the gradient's size
    np.testing.assert_allclose(dx32, dx64, rtol=1e-4, atol=1e-4 * np.abs(dx64).max())


# ---------------------------------------------------------------- rung 4: stability
@pytest.mark.parametrize("dtype", DTYPES)
def test_huge_logits_are_finite(dtype):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4]], dtype=dtype)
    y = gnp.softmax(x)
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0]], atol=1e-7)
    dx = gnp.softmax_backward(np.ones_like(x), y)
    assert np.all(np.isfinite(dx))


def test_same_numbers_on_array_api_strict():
    """The kernel takes xp from its input: on array_api_strict (no in-place exp) it gives NumPy's numbers."""
    xps = pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(9)
    x, dy = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    x[1] = -np.inf
    y = gnp.softmax(xps.asarray(x))
    dx = gnp.softmax_backward(xps.asarray(dy), y)
    assert isinstance(y, type(xps.asarray(0.0)))
    np.testing.assert_allclose(gnp.to_numpy(y), gnp.softmax(x), rtol=1e-15, atol=0)
    np.testing.assert_allclose(gnp.to_numpy(dx), gnp.softmax_backward(dy, gnp.softmax(x)), rtol=1e-14, atol=1e-300)
