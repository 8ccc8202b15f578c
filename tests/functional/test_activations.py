"""Building blocks: linear, layer norm, ReLU, GELU (tanh form), embedding with a padding id,
masked mean pooling, sigmoid + binary cross-entropy on logits. Every rung of the ladder."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gemini_np as gnp
import gemini_np.functional as F
import reference as ref
from cases import assert_f32_matches_f64, conditioned

TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-11, atol=1e-13)}
SEEDS = [0, 1, 2]
seeds = st.integers(0, 2**32 - 1)
dtypes = st.sampled_from([np.float32, np.float64])


def fd_check(forward, backward, draw, seed):
    """check_gradients on a well-conditioned draw (see test_attention.conditioned)."""
    inputs, static = conditioned(draw, forward, backward, seed)
    errors = gnp.check_gradients(forward, backward, inputs, static, seed=seed)
    assert max(errors.values()) < 1e-7, errors


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
    fd_check(F.linear_forward, backward, draw, seed)


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


# =============================================================== layer norm
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("x_shape", [(5,), (3, 4), (2, 3, 6)])
def test_layer_norm_finite_differences(seed, x_shape):
    d = x_shape[-1]

    def draw(rng):
        return {"x": rng.standard_normal(x_shape), "gamma": rng.standard_normal(d), "beta": rng.standard_normal(d)}, {}

    fd_check(F.layer_norm_forward, F.layer_norm_backward, draw, seed)


def test_layer_norm_finite_differences_own_loop_with_large_eps():
    """A large eps makes the eps term matter; our own difference loop, independent of gradcheck.py."""
    rng = np.random.default_rng(4)
    x, gamma, beta = rng.standard_normal((3, 5)) * 0.5, rng.standard_normal(5), rng.standard_normal(5)
    dy = rng.standard_normal((3, 5))
    _, cache = F.layer_norm_forward(x, gamma, beta, eps=0.3)
    dx, dgamma, dbeta = F.layer_norm_backward(dy, cache)
    assert gnp.rel_error(dx, ref.numeric_grad(lambda t: np.sum(F.layer_norm_forward(t, gamma, beta, 0.3)[0] * dy), x)) < 1e-7
    assert gnp.rel_error(dgamma, ref.numeric_grad(lambda t: np.sum(F.layer_norm_forward(x, t, beta, 0.3)[0] * dy), gamma)) < 1e-7
    assert gnp.rel_error(dbeta, ref.numeric_grad(lambda t: np.sum(F.layer_norm_forward(x, gamma, t, 0.3)[0] * dy), beta)) < 1e-7


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


# =============================================================== ReLU and GELU
def away_from_zero(rng, shape):
    """ReLU has a kink at 0, where finite differences are meaningless; keep |x| >= 0.1."""
    x = rng.standard_normal(shape)
    return x + np.sign(x) * 0.1


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 2, 3)])
def test_relu_and_gelu_finite_differences(seed, shape):
    fd_check(F.relu_forward, F.relu_backward, lambda rng: ({"x": away_from_zero(rng, shape)}, {}), seed)
    fd_check(F.gelu_forward, F.gelu_backward, lambda rng: ({"x": 2 * rng.standard_normal(shape)}, {}), seed)


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


# =============================================================== embedding
IDS = np.array([[3, 1, 0, 0], [2, 2, 4, 0]])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("padding_id", [0, None, 2])
def test_embedding_finite_differences(seed, padding_id):
    draw = lambda rng: ({"table": rng.standard_normal((5, 3))}, {"ids": IDS, "padding_id": padding_id})  # noqa: E731
    fd_check(F.embedding_forward, F.embedding_backward, draw, seed)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padding_id", [0, None, 4])
def test_embedding_matches_loop_reference(dtype, padding_id):
    rng = np.random.default_rng(5)
    table = rng.standard_normal((6, 3)).astype(dtype)
    ids = rng.integers(0, 6, size=(2, 3, 4))
    out, cache = F.embedding_forward(ids, table, padding_id=padding_id)
    assert out.dtype == dtype and out.shape == (2, 3, 4, 3)
    np.testing.assert_array_equal(out, ref.embedding(ids, table, padding_id))
    dout = rng.standard_normal(out.shape).astype(dtype)
    dtable = F.embedding_backward(dout, cache)
    assert dtable.dtype == dtype
    np.testing.assert_allclose(dtable, ref.embedding_backward(dout, ids, 6, padding_id), **TOL[dtype])
    if padding_id is not None:
        assert not np.any(out[ids == padding_id]) and not np.any(dtable[padding_id])


def test_embedding_padding_row_content_never_matters():
    table = np.arange(12.0).reshape(4, 3)
    ids = np.array([0, 1, 0])
    out, _ = F.embedding_forward(ids, table)  # padding_id defaults to 0
    np.testing.assert_array_equal(out, [[0, 0, 0], [3, 4, 5], [0, 0, 0]])


# =============================================================== masked mean
MASK = np.array([[True, True, False, True], [False, False, False, False], [True, False, False, False]])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("mask", [MASK, None])
def test_masked_mean_finite_differences(seed, mask):
    draw = lambda rng: ({"x": rng.standard_normal((3, 4, 2))}, {"mask": mask})  # noqa: E731
    fd_check(F.masked_mean_forward, F.masked_mean_backward, draw, seed)


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


# =============================================================== sigmoid + BCE
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", [(6,), (2, 3)])
def test_bce_finite_differences(seed, shape):
    def draw(rng):
        return {"logits": 2 * rng.standard_normal(shape)}, {"labels": rng.random(shape)}  # soft labels too

    fd_check(F.bce_with_logits_forward, F.bce_with_logits_backward, draw, seed)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_and_sigmoid_match_loop_reference(dtype):
    rng = np.random.default_rng(7)
    z = (rng.standard_normal((3, 4)) * 4).astype(dtype)
    y = (rng.random((3, 4)) > 0.5).astype(dtype)
    np.testing.assert_allclose(F.sigmoid(z), ref.sigmoid(z), **TOL[dtype])
    loss, cache = F.bce_with_logits_forward(z, y)
    assert np.asarray(loss).dtype == dtype and np.ndim(loss) == 0
    np.testing.assert_allclose(float(loss), ref.bce(z, y), rtol=TOL[dtype]["rtol"])
    for dloss in (1.0, np.float64(2.0), np.asarray(0.5, dtype=dtype)):
        dz = F.bce_with_logits_backward(dloss, cache)
        assert dz.dtype == dtype
        np.testing.assert_allclose(dz, float(dloss) * ref.bce_grad(z, y), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_of_1e3_is_stable(dtype):
    z = np.array([1e3, -1e3, 1e3, -1e3], dtype=dtype)
    y = np.array([1.0, 0.0, 0.0, 1.0], dtype=dtype)
    np.testing.assert_array_equal(F.sigmoid(z), [1, 0, 1, 0])
    loss, cache = F.bce_with_logits_forward(z, y)
    # right answers: log(1 + e^-1000) ≈ 0 twice, and 1000 for each confidently wrong logit
    np.testing.assert_allclose(float(loss), (0 + 0 + 1e3 + 1e3) / 4, rtol=1e-6)
    dz = F.bce_with_logits_backward(1.0, cache)
    np.testing.assert_allclose(dz, np.array([0, 0, 1, -1]) / 4)
    assert dz.dtype == dtype


def test_bce_keeps_full_precision_for_confident_correct_logits():
    """Loss of a right answer at |z| = 40 is log(1 + e^-40) ≈ 4.2e-18: log1p keeps it, log(1 + ·) gives 0."""
    loss, _ = F.bce_with_logits_forward(np.array([40.0, -40.0]), np.array([1.0, 0.0]))
    np.testing.assert_allclose(float(loss), math.log1p(math.exp(-40.0)), rtol=1e-12)
    np.testing.assert_allclose(F.sigmoid(np.array([-40.0])), [math.exp(-40.0) / (1 + math.exp(-40.0))], rtol=1e-12)


@given(seed=seeds, n=st.integers(1, 6), dtype=dtypes)
def test_bce_symmetry_and_sigmoid_identity(seed, n, dtype):
    """BCE(z, y) = BCE(−z, 1 − y); σ(−z) = 1 − σ(z); loss ≥ 0; float32 backward ≈ float64."""
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal(n) * 5).astype(dtype)
    y = rng.random(n).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    loss, _ = F.bce_with_logits_forward(z, y)
    np.testing.assert_allclose(float(F.bce_with_logits_forward(-z, 1 - y)[0]), float(loss), **tol)
    assert float(loss) >= 0
    np.testing.assert_allclose(F.sigmoid(-z), 1 - F.sigmoid(z), **tol)
    z64, y64 = z.astype(np.float64), y.astype(np.float64)
    assert_f32_matches_f64(
        [F.bce_with_logits_backward(1.0, F.bce_with_logits_forward(z64.astype(np.float32), y64.astype(np.float32))[1])],
        [F.bce_with_logits_backward(1.0, F.bce_with_logits_forward(z64, y64)[1])],
    )
