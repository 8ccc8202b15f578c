"""patchify / unpatchify and patch_attention_forward / patch_attention_backward:
the whole verification ladder, and the equivalence of docs/architecture.md: patch attention ==
full attention over all pixels with a block-diagonal boolean mask."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gemini_np as gnp
import loops as ref
from helpers import assert_conditioned_finite_differences, assert_f32_matches_f64, assert_finite_differences

TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-11, atol=1e-13)}


def random_qkv(rng, batch, h, w, d_k, d_v, dtype=np.float64):
    q = rng.standard_normal((*batch, h, w, d_k))
    k = rng.standard_normal((*batch, h, w, d_k))
    v = rng.standard_normal((*batch, h, w, d_v))
    return q.astype(dtype), k.astype(dtype), v.astype(dtype)


def block_diagonal_mask(h, w, p):
    """(H·W, H·W) bool: pixel a may attend to pixel b iff both lie in the same p×p patch."""
    patch_id = [(y // p, x // p) for y in range(h) for x in range(w)]  # row-major pixel order
    return np.array([[a == b for b in patch_id] for a in patch_id])


# ---------------------------------------------------------------- patchify / unpatchify
@pytest.mark.parametrize("shape, p", [((4, 6, 2), 2), ((2, 6, 3, 1), 3), ((2, 1, 4, 4, 3), 4), ((3, 3, 2), 1)])
def test_patchify_matches_loop_reference(shape, p):
    x = np.random.default_rng(0).standard_normal(shape)
    patches = gnp.patchify(x, p)
    *batch, h, w, c = shape
    assert patches.shape == (*batch, h // p, w // p, p * p, c)
    np.testing.assert_array_equal(patches, ref.patchify(x, p))
    np.testing.assert_array_equal(gnp.unpatchify(patches, p), ref.unpatchify(patches, p))


def test_patchify_layout_by_hand():
    """Element [i, j, r·p + c] is pixel [i·p + r, j·p + c] (row-major inside a patch)."""
    x = np.arange(4 * 4, dtype=np.float64).reshape(4, 4, 1)
    patches = gnp.patchify(x, 2)
    np.testing.assert_array_equal(patches[0, 1, :, 0], [2, 3, 6, 7])
    np.testing.assert_array_equal(patches[1, 0, :, 0], [8, 9, 12, 13])


@given(seed=st.integers(0, 2**32 - 1), p=st.integers(1, 3), hp=st.integers(1, 3), wp=st.integers(1, 3),
       c=st.integers(1, 3), nbatch=st.integers(0, 2), dtype=st.sampled_from([np.float32, np.float64, np.int64]))
def test_patchify_unpatchify_are_inverses(seed, p, hp, wp, c, nbatch, dtype):
    rng = np.random.default_rng(seed)
    batch = tuple(rng.integers(1, 3, size=nbatch))
    x = (rng.standard_normal((*batch, hp * p, wp * p, c)) * 100).astype(dtype)
    patches = gnp.patchify(x, p)
    assert patches.dtype == dtype and patches.shape == (*batch, hp, wp, p * p, c)
    np.testing.assert_array_equal(gnp.unpatchify(patches, p), x)  # unpatchify ∘ patchify = id
    y = (rng.standard_normal((*batch, hp, wp, p * p, c)) * 100).astype(dtype)
    np.testing.assert_array_equal(gnp.patchify(gnp.unpatchify(y, p), p), y)  # patchify ∘ unpatchify = id


# ---------------------------------------------------------------- rung 1: finite differences
SHAPES = [((), 4, 4, 2, 2, 2), ((2,), 2, 4, 3, 2, 2), ((), 6, 3, 2, 1, 3), ((1, 2), 2, 2, 1, 2, 1)]  # batch, H, W, d_k, d_v, p


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("scale", [None, 0.5])
def test_finite_differences(seed, shape, scale):
    batch, h, w, d_k, d_v, p = shape
    fwd, bwd = gnp.patch_attention_forward, gnp.patch_attention_backward

    def draw(rng):
        q, k, v = random_qkv(rng, batch, h, w, d_k, d_v)
        return {"q": q, "k": k, "v": v}, {"patch_size": p, "scale": scale}

    assert_conditioned_finite_differences(fwd, bwd, draw, seed)


def test_patchify_backward_is_unpatchify():
    """patchify only moves numbers, so its adjoint is its inverse: ⟨patchify(x), G⟩ = ⟨x, unpatchify(G)⟩."""
    x = np.random.default_rng(22).standard_normal((2, 4, 6, 3))

    def forward(x):
        return gnp.patchify(x, 2), None

    assert_finite_differences(forward, lambda dy, _: gnp.unpatchify(dy, 2), {"x": x}, seed=22)


# ---------------------------------------------------------------- rung 2: slow reference
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("scale", [None, 1.3])
def test_matches_loop_reference(dtype, shape, scale):
    batch, h, w, d_k, d_v, p = shape
    rng = np.random.default_rng(6)
    q, k, v = random_qkv(rng, batch, h, w, d_k, d_v, dtype)
    dout = rng.standard_normal((*batch, h, w, d_v)).astype(dtype)
    out, cache = gnp.patch_attention_forward(q, k, v, p, scale=scale)
    out_ref, weights_ref = ref.patch_attention(q, k, v, p, scale)
    assert out.shape == (*batch, h, w, d_v) and out.dtype == dtype
    assert cache.weights.shape == (*batch, h // p, w // p, p * p, p * p)
    np.testing.assert_allclose(out, out_ref, **TOL[dtype])
    np.testing.assert_allclose(cache.weights, weights_ref, **TOL[dtype])
    grads = gnp.patch_attention_backward(dout, cache)
    for got, want in zip(grads, ref.patch_attention_backward(dout, q, k, v, p, scale)):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, **TOL[dtype])


def test_patch_size_one_and_whole_image():
    rng = np.random.default_rng(2)
    q, k, v = random_qkv(rng, (), 3, 3, 2, 2)
    out, _ = gnp.patch_attention_forward(q, k, v, 1)  # a pixel alone in its patch attends to itself
    np.testing.assert_array_equal(out, v)
    out, cache = gnp.patch_attention_forward(q, k, v, 3)  # one patch = plain attention over all pixels
    full, _ = gnp.attention_forward(q.reshape(9, 2), k.reshape(9, 2), v.reshape(9, 2))
    np.testing.assert_allclose(out.reshape(9, 2), full, rtol=1e-13, atol=1e-15)
    assert cache.weights.shape == (1, 1, 9, 9)


# ---------------------------------------------------------------- rung 3: properties
@given(seed=st.integers(0, 2**32 - 1), p=st.integers(1, 3), hp=st.integers(1, 3), wp=st.integers(1, 2),
       d_k=st.integers(1, 3), d_v=st.integers(1, 3), dtype=st.sampled_from([np.float32, np.float64]),
       explicit=st.booleans())
def test_equals_full_attention_with_block_diagonal_mask(seed, p, hp, wp, d_k, d_v, dtype, explicit):
    rng = np.random.default_rng(seed)
    h, w = hp * p, wp * p
    q, k, v = random_qkv(rng, (2,), h, w, d_k, d_v, dtype)
    scale = 0.6 if explicit else None
    out, cache = gnp.patch_attention_forward(q, k, v, p, scale=scale)
    flat = lambda a: a.reshape(2, h * w, a.shape[-1])  # noqa: E731  pixels in row-major order
    full, full_cache = gnp.attention_forward(flat(q), flat(k), flat(v), mask=block_diagonal_mask(h, w, p), scale=scale)
    assert out.dtype == dtype
    np.testing.assert_allclose(flat(out), full, **TOL[dtype])
    dout = rng.standard_normal(out.shape).astype(dtype)
    grads = gnp.patch_attention_backward(dout, cache)
    for got, want in zip(grads, gnp.attention_backward(flat(dout), full_cache)):
        assert got.dtype == dtype
        np.testing.assert_allclose(flat(got), want, **TOL[dtype])


@given(seed=st.integers(0, 2**32 - 1), p=st.integers(1, 3), hp=st.integers(1, 2), wp=st.integers(1, 2),
       d_k=st.integers(1, 3), d_v=st.integers(1, 3))
def test_float32_backward_matches_float64(seed, p, hp, wp, d_k, d_v):
    rng = np.random.default_rng(seed)
    q, k, v = random_qkv(rng, (2,), hp * p, wp * p, d_k, d_v)
    dout = rng.standard_normal(v.shape)
    grads64 = gnp.patch_attention_backward(dout, gnp.patch_attention_forward(q, k, v, p)[1])
    f32 = [a.astype(np.float32) for a in (q, k, v, dout)]
    grads32 = gnp.patch_attention_backward(f32[3], gnp.patch_attention_forward(*f32[:3], p)[1])
    assert_f32_matches_f64(grads32, grads64)


# ---------------------------------------------------------------- rung 4: stability
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logits_of_1e4_are_finite(dtype):
    q = np.full((2, 2, 1), 1e2, dtype=dtype)
    k = np.array([[[1e2], [-1e2]], [[0.0], [-1e2]]], dtype=dtype)  # logits 1e4, -1e4, 0, -1e4 with scale 1
    v = np.arange(8, dtype=dtype).reshape(2, 2, 2)
    out, cache = gnp.patch_attention_forward(q, k, v, 2, scale=1.0)
    np.testing.assert_array_equal(out, np.broadcast_to(v[0, 0], (2, 2, 2)))  # everyone picks pixel (0, 0)
    grads = gnp.patch_attention_backward(np.ones_like(out), cache)
    assert all(g.dtype == dtype and np.all(np.isfinite(g)) for g in grads)
    assert math.isfinite(float(np.sum(cache.weights)))
