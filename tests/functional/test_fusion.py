"""fusion_attention_forward / fusion_attention_backward: the whole verification ladder,
and the equivalence of docs/architecture.md: summed logits == one attention over concatenated features
[q_t, q_i] [k_t, k_i]ᵀ with the explicit scale 1/√d_k."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gemini_np as gnp
import loops as ref
from helpers import assert_conditioned_finite_differences, assert_f32_matches_f64, assert_finite_differences, make_mask

TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-11, atol=1e-13)}
NAMES = ("q_text", "k_text", "q_image", "k_image", "v")


def random_inputs(rng, batch, n_q, n_k, d_t, d_i, d_v, dtype=np.float64, logit_std=None):
    """The five inputs; with ``logit_std`` the q/k are rescaled so that the *summed* logits
    at the default scale have about that standard deviation (see test_attention.unit_logits)."""
    shapes = [(n_q, d_t), (n_k, d_t), (n_q, d_i), (n_k, d_i), (n_k, d_v)]
    arrays = [rng.standard_normal((*batch, *s)) for s in shapes]
    if logit_std is not None:
        c = math.sqrt(logit_std * math.sqrt(d_t) / math.sqrt(d_t + d_i))
        arrays[:4] = [a * c for a in arrays[:4]]
    return dict(zip(NAMES, (a.astype(dtype) for a in arrays)))


def concat_attention(x, mask=None, scale=None):
    """The same op as one plain attention over concatenated features, explicit scale 1/√d_t."""
    d_t = x["q_text"].shape[-1]
    q = np.concatenate([x["q_text"], x["q_image"]], axis=-1)
    k = np.concatenate([x["k_text"], x["k_image"]], axis=-1)
    return gnp.attention_forward(q, k, x["v"], mask=mask, scale=scale if scale is not None else 1 / math.sqrt(d_t))


SHAPES = [((), 3, 3, 2, 3, 2), ((2,), 4, 5, 3, 2, 2), ((2, 1), 2, 3, 1, 2, 3)]  # batch, n_q, n_k, d_t, d_i, d_v
MASKS = [None, "causal", "bool_partial", "float", "float_partial"]


# ---------------------------------------------------------------- rung 1: finite differences
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mask_kind", MASKS)
@pytest.mark.parametrize("scale", [None, 0.5])
def test_finite_differences(seed, shape, mask_kind, scale):
    n_q, n_k = shape[1:3]

    def draw(rng):
        inputs = random_inputs(rng, *shape, logit_std=1.0 if scale is None else 0.5 / scale)
        return inputs, {"mask": make_mask(mask_kind, n_q, n_k, rng), "scale": scale}

    assert_conditioned_finite_differences(gnp.fusion_attention_forward, gnp.fusion_attention_backward, draw, seed)


def test_finite_differences_bool_mask_with_a_fully_masked_row():
    rng = np.random.default_rng(12)
    inputs = random_inputs(rng, (2,), 3, 4, 2, 3, 2)
    static = {"mask": make_mask("bool_partial", 3, 4, rng)}
    dout = rng.standard_normal((2, 3, 2))
    assert_finite_differences(gnp.fusion_attention_forward, gnp.fusion_attention_backward, inputs, static, dout=dout)


# ---------------------------------------------------------------- rung 2: slow reference
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mask_kind", MASKS)
@pytest.mark.parametrize("scale", [None, 0.7])
def test_matches_loop_reference(dtype, mask_kind, scale):
    rng = np.random.default_rng(9)
    x = random_inputs(rng, (2,), 4, 4, 3, 2, 2, dtype)
    mask = make_mask(mask_kind, 4, 4, rng)
    dout = rng.standard_normal((2, 4, 2)).astype(dtype)
    out, cache = gnp.fusion_attention_forward(**x, mask=mask, scale=scale)
    qs, ks = [x["q_text"], x["q_image"]], [x["k_text"], x["k_image"]]
    d_k = x["q_text"].shape[-1]  # the default scale uses the text width
    out_ref, weights_ref = ref.fusion_attention(qs, ks, x["v"], mask, scale, d_k=d_k)
    np.testing.assert_allclose(out, out_ref, **TOL[dtype])
    np.testing.assert_allclose(cache.weights, weights_ref, **TOL[dtype])
    dqs, dks, dv = ref.fusion_attention_backward(dout, qs, ks, x["v"], mask, scale, d_k=d_k)
    expected = (dqs[0], dks[0], dqs[1], dks[1], dv)
    for name, got, want in zip(NAMES, gnp.fusion_attention_backward(dout, cache), expected):
        np.testing.assert_allclose(got, want, **TOL[dtype], err_msg=name)


def test_default_scale_uses_text_width():
    rng = np.random.default_rng(0)
    x = random_inputs(rng, (), 3, 3, 4, 9, 2)
    _, cache = gnp.fusion_attention_forward(**x)
    assert cache.scale == 1 / math.sqrt(4)  # d_k = q_text.shape[-1], not 4 + 9


# ---------------------------------------------------------------- rung 3: properties
dims = st.integers(1, 4)
seeds = st.integers(0, 2**32 - 1)
dtypes = st.sampled_from([np.float32, np.float64])


@given(seed=seeds, n_q=dims, n_k=dims, d_t=dims, d_i=dims, d_v=dims, dtype=dtypes,
       mask_kind=st.sampled_from(MASKS), explicit=st.booleans())
def test_equals_attention_on_concatenated_features(seed, n_q, n_k, d_t, d_i, d_v, dtype, mask_kind, explicit):
    """Forward and backward: summed logits == [q_t, q_i][k_t, k_i]ᵀ with scale 1/√d_t."""
    rng = np.random.default_rng(seed)
    x = random_inputs(rng, (2,), n_q, n_k, d_t, d_i, d_v, dtype)
    mask = make_mask(mask_kind, n_q, n_k, rng)
    scale = 0.8 if explicit else None
    out, cache = gnp.fusion_attention_forward(**x, mask=mask, scale=scale)
    out_cat, cache_cat = concat_attention(x, mask, scale)
    assert out.dtype == dtype and cache.weights.dtype == dtype
    np.testing.assert_allclose(out, out_cat, **TOL[dtype])
    np.testing.assert_allclose(cache.weights, cache_cat.weights, **TOL[dtype])
    dout = rng.standard_normal(out.shape).astype(dtype)
    dq_t, dk_t, dq_i, dk_i, dv = gnp.fusion_attention_backward(dout, cache)
    dq, dk, dv_cat = gnp.attention_backward(dout, cache_cat)
    for got, want in ((dq_t, dq[..., :d_t]), (dq_i, dq[..., d_t:]), (dk_t, dk[..., :d_t]), (dk_i, dk[..., d_t:]), (dv, dv_cat)):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, **TOL[dtype])


def test_default_concat_scale_would_be_wrong():
    """The equivalence needs the explicit 1/√d_k: the concatenated width's default 1/√(2 d_k) differs."""
    rng = np.random.default_rng(3)
    x = random_inputs(rng, (), 3, 3, 2, 2, 2)
    out, _ = gnp.fusion_attention_forward(**x)
    q = np.concatenate([x["q_text"], x["q_image"]], axis=-1)
    k = np.concatenate([x["k_text"], x["k_image"]], axis=-1)
    out_default, _ = gnp.attention_forward(q, k, x["v"])  # scale 1/√4 instead of 1/√2
    assert not np.allclose(out, out_default)
    np.testing.assert_allclose(out, gnp.attention_forward(q, k, x["v"], scale=1 / math.sqrt(2))[0], rtol=1e-12)


@given(seed=seeds, n_q=dims, n_k=dims, d_t=dims, d_i=dims, d_v=dims)
def test_float32_backward_matches_float64(seed, n_q, n_k, d_t, d_i, d_v):
    rng = np.random.default_rng(seed)
    x = random_inputs(rng, (2,), n_q, n_k, d_t, d_i, d_v)
    dout = rng.standard_normal((2, n_q, d_v))
    grads64 = gnp.fusion_attention_backward(dout, gnp.fusion_attention_forward(**x)[1])
    x32 = {n: a.astype(np.float32) for n, a in x.items()}
    grads32 = gnp.fusion_attention_backward(dout.astype(np.float32), gnp.fusion_attention_forward(**x32)[1])
    assert_f32_matches_f64(grads32, grads64)


# ---------------------------------------------------------------- rung 4: stability
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logits_of_1e4_are_finite(dtype):
    # text logits ±1e4 (scale 1), image logits ±1e2: the sum is still dominated by one key per query
    q_t = np.array([[1e2], [-1e2]], dtype=dtype)
    k_t = np.array([[1e2], [-1e2], [0.0]], dtype=dtype)
    q_i = np.array([[10.0], [10.0]], dtype=dtype)
    k_i = np.array([[-10.0], [10.0], [0.0]], dtype=dtype)
    v = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=dtype)
    out, cache = gnp.fusion_attention_forward(q_t, k_t, q_i, k_i, v, scale=1.0)
    np.testing.assert_array_equal(out, v[:2])
    grads = gnp.fusion_attention_backward(np.ones_like(out), cache)
    assert all(g.dtype == dtype and np.all(np.isfinite(g)) for g in grads)
