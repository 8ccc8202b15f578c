"""linear_forward / linear_backward, and the grouped linear layer y[..., r, :] = x[..., r, :] W_r + b
(the image encoder's per-pixel embedding): the whole verification ladder."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gemini_np.functional as F
import loops as ref
from gemini_np.functional import grouped_linear_backward, grouped_linear_forward, linear_forward
from helpers import assert_conditioned_finite_differences, assert_f32_matches_f64, assert_finite_differences

TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-11, atol=1e-13)}
SEEDS = [0, 1, 2]
seeds = st.integers(0, 2**32 - 1)
dtypes = st.sampled_from([np.float32, np.float64])


# =============================================================== linear
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("x_shape", [(4,), (3, 4), (2, 3, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_finite_differences(seed, x_shape, bias):
    def draw(rng):
        inputs = {"x": rng.standard_normal(x_shape), "w": rng.standard_normal((4, 3))}
        if bias:
            inputs["b"] = rng.standard_normal(3)
        return inputs, {}

    backward = F.linear_backward if bias else (lambda dy, c: F.linear_backward(dy, c)[:2])
    assert_conditioned_finite_differences(F.linear_forward, backward, draw, seed)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_loop_reference(dtype, bias):
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    x, w, b = x.astype(dtype), w.astype(dtype), b.astype(dtype)
    y, cache = F.linear_forward(x, w, b if bias else None)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, ref.linear(x, w, b if bias else None), **TOL[dtype])
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx, dw, db = F.linear_backward(dy, cache)
    rdx, rdw, rdb = ref.linear_backward(dy, x, w)
    np.testing.assert_allclose(dx, rdx, **TOL[dtype])
    np.testing.assert_allclose(dw, rdw, **TOL[dtype])
    if bias:
        np.testing.assert_allclose(db, rdb, **TOL[dtype])
    else:
        assert db is None


@given(seed=seeds, n=st.integers(1, 4), d_in=st.integers(1, 4), d_out=st.integers(1, 4), dtype=dtypes)
def test_linear_is_affine(seed, n, d_in, d_out, dtype):
    """y(a x1 + (1 − a) x2) = a y(x1) + (1 − a) y(x2), and float32 stays float32."""
    rng = np.random.default_rng(seed)
    x1, x2 = (rng.standard_normal((n, d_in)).astype(dtype) for _ in range(2))
    w, b = rng.standard_normal((d_in, d_out)).astype(dtype), rng.standard_normal(d_out).astype(dtype)
    a = 0.3
    mix = F.linear_forward(a * x1 + (1 - a) * x2, w, b)[0]
    assert mix.dtype == dtype
    np.testing.assert_allclose(mix, a * F.linear_forward(x1, w, b)[0] + (1 - a) * F.linear_forward(x2, w, b)[0],
                               rtol=1e-4 if dtype == np.float32 else 1e-12, atol=1e-5 if dtype == np.float32 else 1e-13)
    y64, c64 = F.linear_forward(x1.astype(np.float64), w.astype(np.float64), b.astype(np.float64))
    dy = rng.standard_normal(y64.shape)
    grads64 = F.linear_backward(dy, c64)
    grads32 = F.linear_backward(dy.astype(np.float32), F.linear_forward(*(t.astype(np.float32) for t in (x1, w, b)))[1])
    assert_f32_matches_f64(grads32, grads64)


# =============================================================== grouped linear
def reference(x, w, b):
    """Explicit loop over the groups (each group an ordinary matrix product)."""
    out = np.empty(x.shape[:-1] + (w.shape[-1],))
    for r in range(w.shape[0]):
        out[..., r, :] = x[..., r, :] @ w[r] + b
    return out


@pytest.mark.parametrize("lead", [(), (3,), (2, 3)])
def test_grouped_finite_differences(lead):
    rng = np.random.default_rng(0)
    inputs = {"x": rng.standard_normal(lead + (4, 5)), "w": rng.standard_normal((4, 5, 3)), "b": rng.standard_normal(3)}
    assert_finite_differences(grouped_linear_forward, grouped_linear_backward, inputs, seed=1)


def test_grouped_without_bias():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 4, 5)), rng.standard_normal((4, 5, 3))
    assert_finite_differences(grouped_linear_forward, lambda dy, c: grouped_linear_backward(dy, c)[:2],
                              {"x": x, "w": w}, seed=2)
    _, cache = grouped_linear_forward(x, w)
    assert grouped_linear_backward(np.ones((2, 4, 3)), cache)[2] is None


@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.sampled_from([np.float32, np.float64]))
def test_grouped_matches_the_loop_and_keeps_the_dtype(batch, groups, d_in, d_out, dtype):
    rng = np.random.default_rng(batch * 100 + groups * 10 + d_in)
    x = rng.standard_normal((batch, groups, d_in)).astype(dtype)
    w = rng.standard_normal((groups, d_in, d_out)).astype(dtype)
    b = rng.standard_normal(d_out).astype(dtype)
    y, _ = grouped_linear_forward(x, w, b)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, reference(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64)),
                               rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5 if dtype == np.float32 else 1e-12)


def test_one_shared_matrix_is_the_ordinary_linear_layer():
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((3, 4, 5)), rng.standard_normal((5, 2)), rng.standard_normal(2)
    y, _ = grouped_linear_forward(x, np.stack([w] * 4), b)
    np.testing.assert_allclose(y, linear_forward(x, w, b)[0], rtol=1e-12, atol=1e-14)


def test_grouped_float32_backward_agrees_with_float64():
    rng = np.random.default_rng(3)
    x, w, b, dy = rng.standard_normal((6, 4, 5)), rng.standard_normal((4, 5, 3)), rng.standard_normal(3), rng.standard_normal((6, 4, 3))
    grads64 = grouped_linear_backward(dy, grouped_linear_forward(x, w, b)[1])
    f32 = [a.astype(np.float32) for a in (x, w, b, dy)]
    grads32 = grouped_linear_backward(f32[3], grouped_linear_forward(*f32[:3])[1])
    for g32, g64 in zip(grads32, grads64):
        assert g32.dtype == np.float32
        np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-4)


def test_grouped_shape_errors_name_the_shapes():
    x, w = np.zeros((2, 4, 5)), np.zeros((3, 5, 2))
    with pytest.raises(ValueError, match=r"\(2, 4, 5\).*\(3, 5, 2\)"):
        grouped_linear_forward(x, w)
    with pytest.raises(ValueError, match="b must have shape"):
        grouped_linear_forward(np.zeros((2, 3, 5)), w, np.zeros(3))
    with pytest.raises(TypeError, match="dtype"):
        grouped_linear_forward(np.zeros((2, 3, 5), np.float32), w)
