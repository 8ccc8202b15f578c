"""attention_forward(..., block_size=b): the online-softmax path, through the whole ladder.

The blocked path must give the plain path's numbers (float64: normwise relative
difference < 1e-10, forward and backward), keep no n_q × n_k matrix, and use at
most 15% of the plain path's peak memory at n = 4096, d = 64.

"Relative difference" below is normwise: max|a − b| / max|b| over the whole array.
An elementwise measure would divide rounding noise on entries that are zero in exact
arithmetic by a tiny denominator and report noise; for the same reason, an array that
is zero in exact arithmetic (dq when each query sees a single key: softmax over one
key is the constant 1) is measured against 1e-3 of the largest of out, dq, dk, dv
(so rounding noise of 1e-16 reads as 1e-13, not as a relative difference of 1).
"""
import gc
import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gemini_np as gnp
import helpers
import loops as ref
from gemini_np.functional import AttentionCache, BlockedAttentionCache
from helpers import assert_f32_matches_f64, assert_finite_differences, random_qkv

SAME_AS_PLAIN = 1e-10  # float64, normwise relative difference to the plain path
TOL32 = dict(rtol=2e-5, atol=2e-6)  # float32 against the float64 loop reference


def rel_diff(a, b, floor=0.0):
    """max|a − b| / max(max|b|, floor); 0 when both are exactly zero."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = max(np.max(np.abs(b), initial=0.0), floor)
    if scale == 0:
        return float(np.max(np.abs(a), initial=0.0))
    return float(np.max(np.abs(a - b)) / scale)


def make_mask(kind, n_q, n_k, rng):
    """helpers.make_mask with the last key always open: it lies in the last key block."""
    return helpers.make_mask(kind, n_q, n_k, rng, free_key=-1)


MASKS = [None, "causal", "bool_partial", "float", "float_partial"]


def both_paths(q, k, v, dout, block_size, **kw):
    """(out, grads) of the plain path and of the blocked path."""
    out, cache = gnp.attention_forward(q, k, v, **kw)
    out_b, cache_b = gnp.attention_forward(q, k, v, block_size=block_size, **kw)
    return (out, gnp.attention_backward(dout, cache)), (out_b, gnp.attention_backward(dout, cache_b))


def assert_same_as_plain(plain, blocked, bound=SAME_AS_PLAIN):
    (out, grads), (out_b, grads_b) = plain, blocked
    floor = 1e-3 * max(np.max(np.abs(a), initial=0.0) for a in (out, *grads))
    for name, a, b in zip(("out", "dq", "dk", "dv"), (out_b, *grads_b), (out, *grads)):
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert np.all(np.isfinite(a)), name
        assert rel_diff(a, b, floor) < bound, (name, rel_diff(a, b, floor))


# ---------------------------------------------------------------- rung 1: finite differences
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("mask_kind", MASKS)
@pytest.mark.parametrize("block_size, scale", [(1, None), (2, 0.5), (3, None), (4, 2.0), (9, None)])
def test_finite_differences(seed, mask_kind, block_size, scale):
    """Random upstream gradient, float64; block sizes 2 and 3 do not divide n_k = 5."""
    rng = np.random.default_rng(seed)
    q, k, v = random_qkv(rng, (2,), 4, 5, 3, 2)
    c = (((scale or 1 / math.sqrt(3)) * math.sqrt(3)) ** -0.5)  # logits of order 1: well-conditioned differences
    q, k = q * c, k * c
    mask = make_mask(mask_kind, 4, 5, rng)
    static = {"mask": mask, "scale": scale, "block_size": block_size}
    assert_finite_differences(gnp.attention_forward, gnp.attention_backward, {"q": q, "k": k, "v": v}, static, seed=seed)


def test_finite_differences_float_mask_with_a_fully_masked_row():
    rng = np.random.default_rng(7)
    q, k, v = random_qkv(rng, (), 3, 5, 2, 2)
    static = {"mask": make_mask("float_partial", 3, 5, rng), "scale": 0.8, "block_size": 2}
    assert_finite_differences(gnp.attention_forward, gnp.attention_backward, {"q": q, "k": k, "v": v}, static, seed=7)


# ---------------------------------------------------------------- rung 2: references
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mask_kind", MASKS)
def test_matches_loop_reference(dtype, mask_kind):
    rng = np.random.default_rng(3)
    q, k, v = random_qkv(rng, (2,), 4, 7, 3, 2, dtype)
    mask = make_mask(mask_kind, 4, 7, rng)
    dout = rng.standard_normal((2, 4, 2)).astype(dtype)
    out, cache = gnp.attention_forward(q, k, v, mask=mask, scale=0.6, block_size=3)
    tol = TOL32 if dtype == np.float32 else dict(rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(out, ref.attention(q, k, v, mask, 0.6)[0], **tol)
    grads = gnp.attention_backward(dout, cache)
    for got, want in zip(grads, ref.attention_backward(dout, q, k, v, mask, 0.6)):
        np.testing.assert_allclose(got, want, **tol)


@pytest.mark.parametrize("mask_kind", MASKS)
@pytest.mark.parametrize("block_size", [1, 2, 3, 5, 6, 7, 8, 100])
def test_same_as_plain_path(mask_kind, block_size):
    """Every block size from 1 to past n_k = 7, dividing it or not."""
    rng = np.random.default_rng(block_size)
    q, k, v = random_qkv(rng, (2, 3), 5, 7, 4, 3)
    dout = rng.standard_normal((2, 3, 5, 3))
    mask = make_mask(mask_kind, 5, 7, rng)
    assert_same_as_plain(*both_paths(q, k, v, dout, block_size, mask=mask))


@pytest.mark.parametrize(
    "mask_shape",
    [(), (7,), (1, 7), (5, 1), (2, 1, 1, 7), (2, 3, 5, 7), (1, 3, 1, 7)],
    ids=lambda s: "x".join(map(str, s)) or "scalar",
)
@pytest.mark.parametrize("kind", [bool, float])
def test_mask_broadcasting(mask_shape, kind):
    """Masks of every broadcastable shape, incl. width 1 (not sliced per block) and a 0-d mask."""
    rng = np.random.default_rng(len(mask_shape))
    q, k, v = random_qkv(rng, (2, 3), 5, 7, 4, 3)
    dout = rng.standard_normal((2, 3, 5, 3))
    if kind is bool:
        mask = rng.random(mask_shape) > 0.3
        if mask_shape == ():
            mask = np.array(True)
    else:
        mask = rng.standard_normal(mask_shape) * 2
    assert_same_as_plain(*both_paths(q, k, v, dout, 3, mask=mask))


def test_cache_holds_no_n_by_n_matrix_and_the_log_sum_exp():
    rng = np.random.default_rng(0)
    q, k, v = random_qkv(rng, (2,), 6, 9, 3, 2)
    mask = make_mask("float_partial", 6, 9, rng)
    out, cache = gnp.attention_forward(q, k, v, mask=mask, block_size=4)
    assert isinstance(cache, BlockedAttentionCache) and not isinstance(cache, AttentionCache)
    assert cache.weights is None and cache.block_size == 4
    assert cache.lse.shape == (2, 6, 1) and cache.lse.dtype == np.float64
    for field, value in cache._asdict().items():
        if isinstance(value, np.ndarray) and field != "mask":
            assert value.shape[-2:] != (6, 9), field
    # lse = log Σ_j exp(S_ij) from the plain path's logits; the fully masked row 0 stores 0
    s = q @ k.mT / math.sqrt(3) + mask
    with np.errstate(divide="ignore"):
        lse = np.log(np.sum(np.exp(s), axis=-1, keepdims=True))
    np.testing.assert_allclose(cache.lse[:, 1:], lse[:, 1:], rtol=1e-13)
    np.testing.assert_array_equal(cache.lse[:, 0], 0)
    # P is recoverable from lse: exp(S − lse) equals the plain path's weights
    _, plain = gnp.attention_forward(q, k, v, mask=mask)
    np.testing.assert_allclose(np.exp(s - cache.lse), plain.weights, rtol=1e-12, atol=1e-15)


def test_each_path_has_its_own_cache_type():
    """The plain path keeps P and nothing of the blocked path; the blocked path keeps lse, not P."""
    rng = np.random.default_rng(0)
    q, k, v = random_qkv(rng, (), 3, 4, 2, 2)
    _, plain = gnp.attention_forward(q, k, v)
    _, blocked = gnp.attention_forward(q, k, v, block_size=2)
    assert type(plain) is AttentionCache and type(blocked) is BlockedAttentionCache
    assert plain.weights.shape == (3, 4) and not hasattr(plain, "lse") and not hasattr(plain, "block_size")
    assert set(BlockedAttentionCache._fields) == {"q", "k", "v", "mask", "scale", "out", "lse", "block_size"}
    assert blocked.lse.shape == (3, 1) and blocked.block_size == 2 and blocked.weights is None


@pytest.mark.parametrize("block_size", [None, 2])
def test_inputs_and_cache_are_not_modified(block_size):
    """Both paths compute in place, but only in buffers they allocated themselves;
    backward can be called twice on one cache."""
    rng = np.random.default_rng(2)
    q, k, v = random_qkv(rng, (2,), 4, 5, 3, 2)
    mask = make_mask("float_partial", 4, 5, rng)
    dout = rng.standard_normal((2, 4, 2))
    saved = [a.copy() for a in (q, k, v, mask, dout)]
    out, cache = gnp.attention_forward(q, k, v, mask=mask, block_size=block_size)
    cache_saved = [None if a is None else np.copy(a) for a in cache if isinstance(a, np.ndarray) or a is None]
    first = gnp.attention_backward(dout, cache)
    second = gnp.attention_backward(dout, cache)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    for a, b in zip((q, k, v, mask, dout), saved):
        np.testing.assert_array_equal(a, b)
    now = [None if a is None else a for a in cache if isinstance(a, np.ndarray) or a is None]
    for a, b in zip(now, cache_saved):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- rung 3: properties
dims = st.integers(1, 6)


@given(
    seed=st.integers(0, 2**32 - 1),
    batch=st.sampled_from([(), (2,), (2, 1)]),
    n_q=dims, n_k=st.integers(1, 9), d_k=dims, d_v=dims,
    block_size=st.integers(1, 10),
    mask_kind=st.sampled_from(MASKS),
)
def test_property_float64_same_as_plain(seed, batch, n_q, n_k, d_k, d_v, block_size, mask_kind):
    rng = np.random.default_rng(seed)
    q, k, v = random_qkv(rng, batch, n_q, n_k, d_k, d_v)
    dout = rng.standard_normal((*batch, n_q, d_v))
    mask = make_mask(mask_kind, n_q, n_k, rng)
    assert_same_as_plain(*both_paths(q, k, v, dout, block_size, mask=mask))


@given(
    seed=st.integers(0, 2**32 - 1),
    n_q=dims, n_k=st.integers(1, 9), d_k=dims, d_v=dims,
    block_size=st.integers(1, 10),
    mask_kind=st.sampled_from([None, "bool_partial", "float"]),
)
def test_property_float32_stays_float32_and_matches_float64(seed, n_q, n_k, d_k, d_v, block_size, mask_kind):
    """float32 in, float32 out everywhere; float32 gradients agree with float64 ones (rtol 1e-4)."""
    rng = np.random.default_rng(seed)
    q, k, v = random_qkv(rng, (2,), n_q, n_k, d_k, d_v)
    dout = rng.standard_normal((2, n_q, d_v))
    mask = make_mask(mask_kind, n_q, n_k, rng)
    out64, cache64 = gnp.attention_forward(q, k, v, mask=mask, block_size=block_size)
    grads64 = gnp.attention_backward(dout, cache64)
    f32 = [a.astype(np.float32) for a in (q, k, v, dout)]
    out32, cache32 = gnp.attention_forward(*f32[:3], mask=mask, block_size=block_size)
    grads32 = gnp.attention_backward(f32[3], cache32)
    assert out32.dtype == np.float32 and cache32.lse.dtype == np.float32
    np.testing.assert_allclose(out32, out64, rtol=1e-4, atol=1e-5)
    assert_f32_matches_f64(grads32, grads64)


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 8), block_size=st.integers(1, 9))
def test_property_dk_and_rows_of_ds_sum_to_zero(seed, n, block_size):
    """Σ_j dk_j = scale · Σ_i q_i Σ_j dS_ij = 0, since every row of dS sums to 0."""
    rng = np.random.default_rng(seed)
    q, k, v = random_qkv(rng, (3,), n, n, 4, 2)
    _, cache = gnp.attention_forward(q, k, v, mask=np.tril(np.ones((n, n), dtype=bool)), block_size=block_size)
    _, dk, _ = gnp.attention_backward(rng.standard_normal((3, n, 2)), cache)
    np.testing.assert_allclose(np.sum(dk, axis=-2), 0, atol=1e-12 * (1 + np.abs(dk).max() * n))


# ---------------------------------------------------------------- rung 4: stability
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["max_first", "max_last"])
def test_logits_of_1e4(dtype, order):
    """±1e4 logits. max_last: the running max jumps by 2e4 in the last block, so the
    rescaling factor exp(m_old − m_new) underflows to exactly 0, as it should."""
    q = np.array([[1e2], [-1e2], [1.0]], dtype=dtype)
    keys = [[0.5], [0.0], [-1e2], [1e2]] if order == "max_last" else [[1e2], [-1e2], [0.0], [0.5]]
    k = np.array(keys, dtype=dtype)  # logits up to ±1e4 with scale 1
    v = np.arange(8, dtype=dtype).reshape(4, 2)
    dout = np.ones((3, 2), dtype=dtype)
    plain, blocked = both_paths(q, k, v, dout, 2, scale=1.0)
    for a in (blocked[0], *blocked[1]):
        assert np.all(np.isfinite(a))
    big = keys.index([1e2])
    np.testing.assert_array_equal(blocked[0][0], v[big])  # query 0 picks the key with logit +1e4
    assert_same_as_plain(plain, blocked, 1e-10 if dtype == np.float64 else 1e-6)


# ---------------------------------------------------------------- input validation
@pytest.mark.parametrize("bad, error", [(0, ValueError), (-3, ValueError), (2.0, TypeError), ("4", TypeError),
                                        (True, TypeError), (np.array([2]), TypeError)])
def test_bad_block_size(bad, error):
    q = np.ones((3, 2))
    with pytest.raises(error, match="block_size"):
        gnp.attention_forward(q, q, q, block_size=bad)


def test_numpy_integer_block_size_and_other_checks_still_apply():
    rng = np.random.default_rng(0)
    q, k, v = random_qkv(rng, (), 3, 4, 2, 2)
    out, cache = gnp.attention_forward(q, k, v, block_size=np.int64(3))
    assert cache.block_size == 3 and type(cache.block_size) is int
    with pytest.raises(ValueError, match="d_k"):
        gnp.attention_forward(q, k[:, :1], v, block_size=2)
    with pytest.raises(ValueError, match="mask"):
        gnp.attention_forward(q, k, v, mask=np.ones((3, 5), dtype=bool), block_size=2)
    with pytest.raises(ValueError, match="dout"):
        gnp.attention_backward(np.ones((3, 3)), cache)


def test_array_api_strict():
    """The blocked kernel follows its inputs' namespace (no NumPy-only calls)."""
    xp = pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(4)
    q, k, v = random_qkv(rng, (2,), 3, 5, 2, 2)
    mask = make_mask("bool_partial", 3, 5, rng)
    dout = rng.standard_normal((2, 3, 2))
    out, cache = gnp.attention_forward(*(xp.asarray(a) for a in (q, k, v)), mask=xp.asarray(mask), block_size=2)
    grads = gnp.attention_backward(xp.asarray(dout), cache)
    (out_np, grads_np), _ = both_paths(q, k, v, dout, 2, mask=mask)
    assert type(out).__module__.startswith("array_api_strict")
    for a, b in zip((out, *grads), (out_np, *grads_np)):
        assert rel_diff(np.asarray(a), b) < SAME_AS_PLAIN


# ---------------------------------------------------------------- memory
def traced_peak(fn):
    """tracemalloc peak of fn() above the memory in use before it (NumPy reports its buffers)."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_peak_memory_at_n_4096_is_at_most_15_percent_of_plain():
    """Forward + backward at n = 4096, d = 64, batch 1, float64, block 256.

    The plain path holds P and dS (2 · 4096² · 8 bytes = 256 MiB); the blocked path
    a few 256 × 256 blocks plus arrays of n × d (measured: about 12 MiB, 4.4%).
    """
    rng = np.random.default_rng(0)
    q, k, v, dout = (rng.standard_normal((1, 4096, 64)) for _ in range(4))

    def run(block_size):
        out, cache = gnp.attention_forward(q, k, v, block_size=block_size)
        return gnp.attention_backward(dout, cache)

    plain = traced_peak(lambda: run(None))
    blocked = traced_peak(lambda: run(256))
    assert plain > 2 * 4096**2 * 8  # sanity: the plain path really holds two n × n float64 matrices
    assert blocked <= 0.15 * plain, f"blocked peak {blocked / 2**20:.1f} MiB, plain {plain / 2**20:.1f} MiB"
