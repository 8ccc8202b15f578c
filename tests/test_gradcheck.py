"""gemini_np.gradcheck: the tools the other tests (and students) trust must themselves be right."""
import numpy as np
import pytest

import gemini_np as gnp
from gemini_np import gradcheck


# ---------------------------------------------------------------- numerical_gradient
def test_numerical_gradient_is_exact_on_a_quadratic():
    """f(x) = ½ xᵀ A x + bᵀ x has gradient A_sym x + b; central differences are exact on
    quadratics up to roundoff, so the agreement is ~1e-9 or better."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 5)), rng.standard_normal(5)
    x = rng.standard_normal(5)
    grad = gnp.numerical_gradient(lambda t: 0.5 * t @ a @ t + b @ t, x)
    np.testing.assert_allclose(grad, 0.5 * (a + a.T) @ x + b, rtol=0, atol=1e-8)
    assert grad.dtype == np.float64 and grad.shape == x.shape


def test_numerical_gradient_handles_any_shape_and_step():
    x = np.arange(6.0).reshape(2, 3) / 10
    np.testing.assert_allclose(gnp.numerical_gradient(lambda t: np.sum(t**3), x, h=1e-4), 3 * x**2, atol=1e-7)


def test_numerical_gradient_never_mutates_x_and_works_from_float32():
    x32 = np.array([0.1, -0.2, 0.3], dtype=np.float32)
    before = x32.copy()
    seen = []

    def f(t):
        seen.append(t.dtype)
        return float(np.sum(np.sin(t)))

    grad = gnp.numerical_gradient(f, x32)
    np.testing.assert_array_equal(x32, before)
    assert set(seen) == {np.dtype(np.float64)}  # evaluated in float64, whatever the input dtype
    assert grad.dtype == np.float64
    np.testing.assert_allclose(grad, np.cos(x32.astype(np.float64)), atol=1e-9)
    x64 = np.array([0.5, 1.5])
    before64 = x64.copy()
    gnp.numerical_gradient(lambda t: np.sum(t**2), x64)
    np.testing.assert_array_equal(x64, before64)


# ---------------------------------------------------------------- rel_error
def test_rel_error_definition():
    # |a - b| / max(1e-8, |a| + |b|), largest element
    assert gnp.rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert gnp.rel_error(np.array([1.0, 3.0]), np.array([1.0, 1.0])) == pytest.approx(2 / 4)
    assert gnp.rel_error(np.array([1.0]), np.array([-1.0])) == 1.0
    # zeros: both 0 -> 0 (no division by zero); tiny values use the 1e-8 floor
    assert gnp.rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert gnp.rel_error(np.array([0.0]), np.array([1e-12])) == pytest.approx(1e-12 / 1e-8)
    assert gnp.rel_error(np.zeros((0, 2)), np.zeros((0, 2))) == 0.0
    assert isinstance(gnp.rel_error(np.ones(2), np.ones(2, np.float32)), float)
    with pytest.raises(ValueError, match=r"same shape, got \(2,\) and \(2, 1\)"):
        gnp.rel_error(np.ones(2), np.ones((2, 1)))


# ---------------------------------------------------------------- check_gradients
def softmax_pair(backward):
    def forward(x):
        y = gnp.softmax(x)
        return y, y

    return forward, backward


def test_check_gradients_passes_a_correct_backward():
    x = np.random.default_rng(1).standard_normal((3, 4))
    errors = gnp.check_gradients(*softmax_pair(gnp.softmax_backward), {"x": x})
    assert set(errors) == {"x"} and errors["x"] < 1e-7


def test_check_gradients_catches_softmax_backward_without_the_row_sum_term():
    """dx = y ∘ dy forgets the − y ∘ Σ(dy ∘ y) term; the random upstream gradient exposes it."""
    x = np.random.default_rng(2).standard_normal((3, 4))
    wrong = lambda dy, y: y * dy  # noqa: E731
    errors = gnp.check_gradients(*softmax_pair(wrong), {"x": x}, seed=0)
    assert errors["x"] > 1e-2


def test_check_gradients_catches_a_wrong_attention_scale():
    rng = np.random.default_rng(3)
    q, k, v = rng.standard_normal((3, 2)), rng.standard_normal((4, 2)), rng.standard_normal((4, 2))

    def wrong_backward(dout, cache):
        dq, dk, dv = gnp.attention_backward(dout, cache)
        return dq, dk / cache.scale, dv  # forgot the scale on dk

    errors = gnp.check_gradients(gnp.attention_forward, wrong_backward, {"q": q, "k": k, "v": v})
    assert errors["q"] < 1e-7 and errors["v"] < 1e-7 and errors["k"] > 1e-2


def test_check_gradients_uses_a_random_upstream_gradient():
    """A backward that is only right for dout = 1 (it ignores dout) must fail."""
    x = np.random.default_rng(4).standard_normal((2, 3))

    def forward(x):
        return x * 2.0, None

    errors = gnp.check_gradients(forward, lambda dout, cache: np.full((2, 3), 2.0), {"x": x})
    assert errors["x"] > 1e-2


def test_check_gradients_static_arguments_and_arity():
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((2, 3)), rng.standard_normal((3, 2))
    from gemini_np.functional import linear_backward, linear_forward

    errors = gnp.check_gradients(linear_forward, lambda dy, c: linear_backward(dy, c)[:2], {"x": x, "w": w}, {"b": None})
    assert set(errors) == {"x", "w"} and max(errors.values()) < 1e-7
    with pytest.raises(ValueError, match=r"backward returned 3 gradients for 2 inputs \(x, w\)"):
        gnp.check_gradients(linear_forward, lambda dy, c: (*linear_backward(dy, c)[:2], None), {"x": x, "w": w}, {"b": None})


def test_check_gradients_converts_float32_inputs_to_float64():
    x = np.random.default_rng(6).standard_normal((2, 3)).astype(np.float32)
    dtypes = []

    def forward(x):
        dtypes.append(x.dtype)
        y = gnp.softmax(x)
        return y, y

    assert gnp.check_gradients(forward, gnp.softmax_backward, {"x": x})["x"] < 1e-7
    assert set(dtypes) == {np.dtype(np.float64)}


# ---------------------------------------------------------------- the demo's table
def test_op_gradcheck_table_all_ok_and_formatting():
    rows = gradcheck.op_gradcheck_table(seed=0)
    names = [r["op"] for r in rows]
    for op in ("softmax", "attention", "fusion", "patch", "linear", "layer norm", "relu", "gelu", "embedding", "masked mean", "BCE"):
        assert any(op in n for n in names), op
    for r in rows:
        assert r["ok"] and r["error"] < r["bound"] == gradcheck.OP_BOUND == 1e-7, r
    text = gradcheck.format_table(rows)
    assert len(text.splitlines()) == len(rows) + 1 and "FAIL" not in text
    bad = gradcheck.format_table([{"op": "x", "worst": "x", "error": 1.0, "bound": 1e-7, "ok": False}])
    assert "FAIL" in bad and "1.0e+00" in bad


def test_op_gradcheck_table_with_another_seed():
    assert all(r["ok"] for r in gradcheck.op_gradcheck_table(seed=1))
