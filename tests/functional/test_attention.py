"""attention_forward / attention_backward: the whole verification ladder."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gemini_np as gnp
import loops as ref
from helpers import (
    assert_conditioned_finite_differences,
    assert_f32_matches_f64,
    assert_finite_differences,
    make_mask,
    random_qkv,
)

TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-11, atol=1e-13)}


MASKS = [None, "causal", "bool_partial", "float", "float_partial"]
SHAPES = [((), 3, 3, 2, 2), ((2,), 4, 5, 3, 2), ((2, 1), 3, 4, 2, 3)]  # batch, n_q, n_k, d_k, d_v


def unit_logits(q, k, scale):
    """Rescale q and k so that the scaled logits scale·q·k have standard deviation about 1.

    Central differences in float64 resolve a gradient entry to about 1e-11
    (roundoff ε·|L|/h with h = 1e-5), so an entry below ~1e-4 cannot meet the
    relative bound 1e-7. Peaked softmax rows (weights of 1e-7) produce such
    entries; moderate logits keep the finite-difference check meaningful. The
    loop-reference tests below cover peaked rows with an absolute tolerance.
    """
    scale = scale if scale is not None else 1 / math.sqrt(q.shape[-1])
    c = (scale * math.sqrt(q.shape[-1])) ** -0.5
    return q * c, k * c


# ---------------------------------------------------------------- rung 1: finite differences
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mask_kind", MASKS)
@pytest.mark.parametrize("scale", [None, 0.5, 2.0])
@pytest.mark.parametrize("block_size", [None, 2])
def test_finite_differences(seed, shape, mask_kind, scale, block_size):
    """Plain path and the blocked (online-softmax) path, block_size=2 (uneven last block for n_k=3, 5)."""
    batch, n_q, n_k, d_k, d_v = shape

    def draw(rng):
        q, k, v = random_qkv(rng, batch, n_q, n_k, d_k, d_v)
        q, k = unit_logits(q, k, scale)
        static = {"mask": make_mask(mask_kind, n_q, n_k, rng), "scale": scale, "block_size": block_size}
        return {"q": q, "k": k, "v": v}, static

    assert_conditioned_finite_differences(gnp.attention_forward, gnp.attention_backward, draw, seed)


# ---------------------------------------------------------------- rung 2: slow reference
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mask_kind", MASKS)
@pytest.mark.parametrize("scale", [None, 0.5])
@pytest.mark.parametrize("block_size", [None, 3])
def test_matches_loop_reference(dtype, mask_kind, scale, block_size):
    rng = np.random.default_rng(5)
    q, k, v = random_qkv(rng, (2,), 4, 4, 3, 2, dtype)
    mask = make_mask(mask_kind, 4, 4, rng)
    dout = rng.standard_normal((2, 4, 2)).astype(dtype)
    out, cache = gnp.attention_forward(q, k, v, mask=mask, scale=scale, block_size=block_size)
    out_ref, weights_ref = ref.attention(q, k, v, mask, scale)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, out_ref, **TOL[dtype])
    if block_size is None:  # the blocked path keeps no n_q × n_k matrix
        np.testing.assert_allclose(cache.weights, weights_ref, **TOL[dtype])
    for got, want in zip(gnp.attention_backward(dout, cache), ref.attention_backward(dout, q, k, v, mask, scale)):
        np.testing.assert_allclose(got, want, **TOL[dtype])


def test_reference_backward_agrees_with_finite_differences_of_reference():
    """The loop reference's own backward is checked against differences of its own forward."""
    rng = np.random.default_rng(2)
    q, k, v = random_qkv(rng, (), 3, 4, 2, 2)
    mask = make_mask("bool_partial", 3, 4, rng)

    def forward(q, k, v):
        return ref.attention(q, k, v, mask, 0.8)[0], (q, k, v)

    def backward(dout, qkv):
        return ref.attention_backward(dout, *qkv, mask, 0.8)

    assert_finite_differences(forward, backward, {"q": q, "k": k, "v": v}, seed=2)


def test_default_scale_is_one_over_sqrt_dk_and_weights_are_p():
    rng = np.random.default_rng(4)
    q, k, v = random_qkv(rng, (2,), 3, 5, 4, 2)
    out, cache = gnp.attention_forward(q, k, v)
    assert cache.scale == 1 / math.sqrt(4)
    out_explicit, _ = gnp.attention_forward(q, k, v, scale=1 / math.sqrt(4))
    np.testing.assert_array_equal(out, out_explicit)
    assert cache.weights.shape == (2, 3, 5)
    # P by hand from the definition, for one (batch, query) pair
    logits = [q[1, 2] @ k[1, j] / 2.0 for j in range(5)]
    expected = np.exp(logits) / np.sum(np.exp(logits))
    np.testing.assert_allclose(cache.weights[1, 2], expected, rtol=1e-13)
    np.testing.assert_allclose(out[1, 2], expected @ v[1], rtol=1e-13)


def test_mask_broadcasts_over_batch_and_queries():
    rng = np.random.default_rng(8)
    q, k, v = random_qkv(rng, (2, 3), 4, 5, 3, 2)
    key_padding = np.array([True, True, False, True, False])  # (n_k,) broadcasts to (2, 3, 4, 5)
    per_batch = rng.random((2, 1, 1, 5)) > 0.3
    for mask in (key_padding, per_batch):
        out, _ = gnp.attention_forward(q, k, v, mask=mask)
        np.testing.assert_allclose(out, ref.attention(q, k, v, mask)[0], rtol=1e-11, atol=1e-13)
    # a boolean mask equals the float mask 0 / -inf
    out_bool, _ = gnp.attention_forward(q, k, v, mask=per_batch)
    out_float, _ = gnp.attention_forward(q, k, v, mask=np.where(per_batch, 0.0, -np.inf))
    np.testing.assert_allclose(out_bool, out_float, rtol=1e-14, atol=1e-15)


# ---------------------------------------------------------------- rung 3: properties
dims = st.integers(1, 4)
dtypes = st.sampled_from([np.float32, np.float64])
seeds = st.integers(0, 2**32 - 1)


@given(seed=seeds, n=st.integers(1, 6), d_k=dims, d_v=dims, dtype=dtypes, masked=st.booleans(),
       block_size=st.sampled_from([None, 1, 2]))
def test_self_attention_is_permutation_equivariant(seed, n, d_k, d_v, dtype, masked, block_size):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d_k)).astype(dtype)
    v = rng.standard_normal((n, d_v)).astype(dtype)
    mask = (rng.random((n, n)) > 0.3) if masked else None
    perm = rng.permutation(n)
    out, _ = gnp.attention_forward(x, x, v, mask=mask, block_size=block_size)
    mask_perm = None if mask is None else mask[perm][:, perm]
    out_perm, _ = gnp.attention_forward(x[perm], x[perm], v[perm], mask=mask_perm, block_size=block_size)
    np.testing.assert_allclose(out_perm, out[perm], **TOL[dtype])
    # keys (with their values) in any order give the same output
    mask_keys = None if mask is None else mask[:, perm]
    out_keys, _ = gnp.attention_forward(x, x[perm], v[perm], mask=mask_keys, block_size=block_size)
    np.testing.assert_allclose(out_keys, out, **TOL[dtype])


@given(seed=seeds, n_q=dims, n_k=dims, d_k=dims, d_v=dims, dtype=dtypes, mask_kind=st.sampled_from(MASKS))
def test_dtype_shapes_and_key_gradient_sum(seed, n_q, n_k, d_k, d_v, dtype, mask_kind):
    """float32 stays float32 everywhere; Σ_j dk_j = scale Σ_i q_i Σ_j dS_ij = 0 because rows of dS sum to 0."""
    rng = np.random.default_rng(seed)
    q, k, v = random_qkv(rng, (2,), n_q, n_k, d_k, d_v, dtype)
    mask = make_mask(mask_kind, n_q, n_k, rng)
    out, cache = gnp.attention_forward(q, k, v, mask=mask)
    assert out.dtype == dtype and out.shape == (2, n_q, d_v)
    assert cache.weights.dtype == dtype and cache.weights.shape == (2, n_q, n_k)
    row_sums = np.sum(cache.weights, axis=-1, dtype=np.float64)
    assert np.all(np.isclose(row_sums, 1, atol=1e-5) | (row_sums == 0))
    dout = rng.standard_normal(out.shape).astype(dtype)
    dq, dk, dv = gnp.attention_backward(dout, cache)
    assert (dq.dtype, dk.dtype, dv.dtype) == (dtype,) * 3
    assert (dq.shape, dk.shape, dv.shape) == (q.shape, k.shape, v.shape)
    size = 1 + np.abs(dk).max() * n_k
    np.testing.assert_allclose(np.sum(dk, axis=-2, dtype=np.float64), 0, atol=(1e-5 if dtype == np.float32 else 1e-12) * size)


@given(seed=seeds, n_q=dims, n_k=dims, d_k=dims, d_v=dims, mask_kind=st.sampled_from([None, "bool_partial", "float"]))
def test_float32_backward_matches_float64(seed, n_q, n_k, d_k, d_v, mask_kind):
    rng = np.random.default_rng(seed)
    q, k, v = random_qkv(rng, (2,), n_q, n_k, d_k, d_v)
    mask = make_mask(mask_kind, n_q, n_k, rng)
    dout = rng.standard_normal((2, n_q, d_v))
    grads64 = gnp.attention_backward(dout, gnp.attention_forward(q, k, v, mask=mask)[1])
    as32 = lambda a: a.astype(np.float32)  # noqa: E731
    _, cache32 = gnp.attention_forward(as32(q), as32(k), as32(v), mask=mask)  # float64 mask cast to float32
    grads32 = gnp.attention_backward(as32(dout), cache32)
    assert_f32_matches_f64(grads32, grads64)


# ---------------------------------------------------------------- rung 4: stability
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("block_size", [None, 1])
def test_logits_of_1e4_are_finite(dtype, block_size):
    q = np.array([[1e2], [-1e2]], dtype=dtype)
    k = np.array([[1e2], [-1e2], [0.0]], dtype=dtype)  # logits ±1e4 and 0 with scale 1
    v = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=dtype)
    out, cache = gnp.attention_forward(q, k, v, scale=1.0, block_size=block_size)
    np.testing.assert_array_equal(out, v[:2])  # each query picks its matching key
    grads = gnp.attention_backward(np.ones_like(out), cache)
    assert all(np.all(np.isfinite(g)) for g in grads)
