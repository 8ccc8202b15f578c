"""gemini_np.gradcheck: the tools the other tests (and students) trust must themselves be right.

numerical_gradient, rel_error and check_gradients (ops), check_module_gradients (modules),
small_model and model_gradcheck_rows (the whole model), the table they print. The registry's
own rows are tested in tests/functional/test_registry.py.
"""
import numpy as np
import pytest

import gemini_np as gnp
from gemini_np import gradcheck
from gemini_np.gradcheck import check_module_gradients, model_gradcheck_rows, small_model
from gemini_np.nn import Linear


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


# ---------------------------------------------------------------- the table
def test_format_table():
    rows = [{"op": "softmax", "worst": "x", "error": 3.2e-10, "bound": 1e-7, "ok": True},
            {"op": "broken", "worst": "w", "error": 1.0, "bound": 1e-7, "ok": False}]
    lines = gradcheck.format_table(rows).splitlines()
    assert len(lines) == 3 and lines[0].split() == ["op", "worst", "input", "rel.", "error", "bound", "result"]
    assert lines[1].split() == ["softmax", "x", "3.2e-10", "1e-07", "pass"]
    assert lines[2].split() == ["broken", "w", "1.0e+00", "1e-07", "FAIL"]


# ---------------------------------------------------------------- modules
X = np.random.default_rng(1).standard_normal((2, 5, 8))


def test_check_module_gradients_passes_a_correct_module_and_restores_it():
    layer = Linear(8, 3, rng=0)
    before = {k: v.copy() for k, v in layer.params.items()}
    errors = check_module_gradients(layer, lambda: layer.forward(X), max_entries=None)
    assert set(errors) == {"w", "b"} and max(errors.values()) < 1e-7
    for k, v in layer.params.items():
        np.testing.assert_array_equal(v, before[k])


def test_check_module_gradients_catches_a_wrong_gradient():
    """The finite-difference check can fail: a backward that scales dW by 1.01 is caught."""
    layer = Linear(8, 3, rng=0)
    original = layer.backward

    def wrong(dy):
        dx = original(dy)
        layer._grads["w"] = layer._grads["w"] * 1.01
        return dx

    layer.backward = wrong
    errors = check_module_gradients(layer, lambda: layer.forward(X), max_entries=None)
    assert errors["w"] > 1e-3 and errors["b"] < 1e-7


def test_check_module_gradients_samples_entries_and_names():
    layer = Linear(8, 3, rng=0)
    errors = check_module_gradients(layer, lambda: layer.forward(X), max_entries=4, names=["w"])
    assert set(errors) == {"w"} and errors["w"] < 1e-7


def test_check_module_gradients_needs_float64():
    layer = Linear(8, 3, rng=0, dtype="float32")
    with pytest.raises(TypeError, match="finite differences need a float64 module, got float32"):
        check_module_gradients(layer, lambda: layer.forward(X.astype(np.float32)))


# ---------------------------------------------------------------- the whole model
def test_small_model_has_a_random_matching_matrix_and_padded_captions():
    """A fresh model's matching matrix is 0, which zeroes every gradient upstream of it: a check could not fail."""
    model, tokens, images = small_model(seed=0)
    assert np.all(np.abs(model.params["head.bilinear.w"]) > 0)
    assert model.dtype == "float64" and np.any(tokens == 0) and images.shape == (3, 4, 4, 3)
    again, tokens2, images2 = small_model(seed=0)
    np.testing.assert_array_equal(images, images2)
    np.testing.assert_array_equal(again.params["head.bilinear.w"], model.params["head.bilinear.w"])


def test_model_gradcheck_rows():
    rows = model_gradcheck_rows(seed=0, max_entries=2)
    assert [r["op"] for r in rows] == ["model: text encoder", "model: image encoder", "model: fusion layer",
                                       "model: matching head", "model: d images", "whole model (61 tensors)"]
    assert all(r["ok"] and r["bound"] == gradcheck.MODEL_BOUND == 1e-5 for r in rows), rows
    assert rows[-1]["error"] == max(r["error"] for r in rows[:-1])


# ---------------------------------------------------------------- the tests' own checker (helpers.py, loops.py)
def test_the_tests_own_checker_catches_what_the_library_catches():
    """helpers.assert_finite_differences (on loops.numeric_grad / loops.rel_error, no code shared with
    gemini_np.gradcheck) passes a right backward and fails the softmax backward without its row-sum term."""
    import helpers

    x = np.random.default_rng(2).standard_normal((3, 4))
    helpers.assert_finite_differences(*softmax_pair(gnp.softmax_backward), {"x": x})
    errors = helpers.finite_difference_errors(*softmax_pair(lambda dy, y: y * dy), {"x": x})
    assert errors["x"] > 1e-2
    with pytest.raises(AssertionError):
        helpers.assert_finite_differences(*softmax_pair(lambda dy, y: y * dy), {"x": x})


def test_the_loop_rel_error_and_numeric_grad_agree_with_the_definitions():
    import loops

    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    assert loops.rel_error(a, b) == gnp.rel_error(a, b)
    assert loops.rel_error(np.zeros(3), np.zeros(3)) == 0.0
    m, x = rng.standard_normal((5, 5)), rng.standard_normal(5)
    grad = loops.numeric_grad(lambda t: 0.5 * t @ m @ t, x)  # exact on quadratics up to roundoff
    np.testing.assert_allclose(grad, 0.5 * (m + m.T) @ x, rtol=0, atol=1e-8)
