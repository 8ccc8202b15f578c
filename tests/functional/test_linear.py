"""functional/grouped_linear.py: y[..., r, :] = x[..., r, :] W_r + b."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gemini_np.functional import linear_forward
from gemini_np.functional.grouped_linear import grouped_linear_backward, grouped_linear_forward
from gemini_np.gradcheck import check_gradients, rel_error


def reference(x, w, b):
    """Explicit loop over the groups."""
    out = np.empty(x.shape[:-1] + (w.shape[-1],))
    for r in range(w.shape[0]):
        out[..., r, :] = x[..., r, :] @ w[r] + b
    return out


@pytest.mark.parametrize("lead", [(), (3,), (2, 3)])
def test_finite_differences(lead):
    rng = np.random.default_rng(0)
    inputs = {"x": rng.standard_normal(lead + (4, 5)), "w": rng.standard_normal((4, 5, 3)), "b": rng.standard_normal(3)}
    errors = check_gradients(grouped_linear_forward, grouped_linear_backward, inputs, seed=1)
    assert max(errors.values()) < 1e-7, errors


def test_without_bias():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 4, 5)), rng.standard_normal((4, 5, 3))
    errors = check_gradients(grouped_linear_forward, lambda dy, c: grouped_linear_backward(dy, c)[:2],
                             {"x": x, "w": w}, seed=2)
    assert max(errors.values()) < 1e-7
    _, cache = grouped_linear_forward(x, w)
    assert grouped_linear_backward(np.ones((2, 4, 3)), cache)[2] is None


@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.sampled_from([np.float32, np.float64]))
def test_matches_the_loop_and_keeps_the_dtype(batch, groups, d_in, d_out, dtype):
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
    assert rel_error(y, linear_forward(x, w, b)[0]) < 1e-12


def test_float32_backward_agrees_with_float64():
    rng = np.random.default_rng(3)
    x, w, b, dy = rng.standard_normal((6, 4, 5)), rng.standard_normal((4, 5, 3)), rng.standard_normal(3), rng.standard_normal((6, 4, 3))
    grads64 = grouped_linear_backward(dy, grouped_linear_forward(x, w, b)[1])
    f32 = [a.astype(np.float32) for a in (x, w, b, dy)]
    grads32 = grouped_linear_backward(f32[3], grouped_linear_forward(*f32[:3])[1])
    for g32, g64 in zip(grads32, grads64):
        assert g32.dtype == np.float32
        np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-4)


def test_shape_errors_name_the_shapes():
    x, w = np.zeros((2, 4, 5)), np.zeros((3, 5, 2))
    with pytest.raises(ValueError, match=r"\(2, 4, 5\).*\(3, 5, 2\)"):
        grouped_linear_forward(x, w)
    with pytest.raises(ValueError, match="b must have shape"):
        grouped_linear_forward(np.zeros((2, 3, 5)), w, np.zeros(3))
    with pytest.raises(TypeError, match="dtype"):
        grouped_linear_forward(np.zeros((2, 3, 5), np.float32), w)
