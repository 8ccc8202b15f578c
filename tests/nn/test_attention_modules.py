"""gemini_np.nn.attention: heads split and merged, multi-head self-attention, per-patch
attention on the patch layout, and summed-logit fusion attention.

Every parameter and the input gradient against finite differences, float32 against
float64, and each module against a loop over heads (and queries) written out here.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gemini_np as gnp
from gemini_np.functional import attention_forward, patchify, unpatchify
from gemini_np.nn import FusionAttention, MultiHeadSelfAttention, PatchSelfAttention, merge_heads, split_heads
from helpers import (
    COMPOSITE_BOUND,
    assert_module_float32_matches_float64,
    assert_module_input_gradient_passes,
    assert_module_parameters_pass,
)


def rng(seed=0):
    return np.random.default_rng(seed)


X = rng(1).standard_normal((2, 5, 8))
KEY_MASK = np.array([[True, True, True, False, False], [True] * 5])
IMAGE = rng(2).standard_normal((2, 4, 4, 8))  # (B, H, W, d), patches of 2 × 2
PATCHES = patchify(IMAGE, 2)  # (B, H/p, W/p, p·p, d) = (2, 2, 2, 4, 8): the layout PatchSelfAttention works in

CASES = [
    ("self-attention", MultiHeadSelfAttention(8, 2, rng=0), lambda m, x: m.forward(x, KEY_MASK), X),
    ("fusion attention", FusionAttention(8, 2, rng=0), lambda m, x: m.forward(x, KEY_MASK), X),
    ("patch attention", PatchSelfAttention(8, 2, rng=0), lambda m, x: m.forward(x), PATCHES),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name, module, run, x", CASES, ids=IDS)
def test_every_parameter_against_finite_differences(name, module, run, x):
    assert_module_parameters_pass(module, run, x, COMPOSITE_BOUND)


@pytest.mark.parametrize("name, module, run, x", CASES, ids=IDS)
def test_input_gradient_against_finite_differences(name, module, run, x):
    assert_module_input_gradient_passes(module, run, x, COMPOSITE_BOUND)


@pytest.mark.parametrize("name, module, run, x", CASES, ids=IDS)
def test_float32_stays_float32_and_agrees_with_float64(name, module, run, x):
    assert_module_float32_matches_float64(module, run, x)


# ----------------------------------------------------------------------------- heads


@given(st.integers(1, 3), st.integers(1, 5), st.sampled_from([1, 2, 4]), st.integers(1, 3))
def test_split_and_merge_heads_are_inverse(batch, n, heads, d_head):
    x = rng(batch).standard_normal((batch, n, heads * d_head))
    h = split_heads(x, heads)
    assert h.shape == (batch, heads, n, d_head)
    np.testing.assert_array_equal(h[:, 1 % heads, :, :], x[:, :, (1 % heads) * d_head : (1 % heads + 1) * d_head])
    np.testing.assert_array_equal(merge_heads(h), x)
    image = rng(n).standard_normal((batch, 2, 3, heads * d_head))
    hi = split_heads(image, heads, token_dims=2)
    assert hi.shape == (batch, heads, 2, 3, d_head)
    np.testing.assert_array_equal(merge_heads(hi, token_dims=2), image)


def test_split_heads_on_the_patch_layout():
    """token_dims=3: (B, H/p, W/p, p·p, d) -> (B, h, H/p, W/p, p·p, d/h), head j = features j·d_head ..."""
    h = split_heads(PATCHES, 2, token_dims=3)
    assert h.shape == (2, 2, 2, 2, 4, 4)
    np.testing.assert_array_equal(h[:, 1], PATCHES[..., 4:])
    np.testing.assert_array_equal(merge_heads(h, token_dims=3), PATCHES)


def test_split_heads_rejects_indivisible_width():
    with pytest.raises(ValueError, match="not divisible"):
        split_heads(np.zeros((1, 2, 6)), 4)
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadSelfAttention(6, 4)


# ----------------------------------------------------------------------------- loop references


def softmax_rows(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_self_attention_equals_a_loop_over_heads_and_queries():
    """Slow reference: each head, each query, written out."""
    m = MultiHeadSelfAttention(8, 2, rng=3)
    p = m.params
    y = m.forward(X, KEY_MASK)
    expected = np.zeros_like(X)
    for b in range(2):
        heads = []
        for h in range(2):
            cols = slice(4 * h, 4 * h + 4)
            q, k, v = (X[b] @ p[w][:, cols] for w in ("w_q", "w_k", "w_v"))
            out = np.zeros((5, 4))
            for i in range(5):
                s = np.array([q[i] @ k[j] / 2.0 if KEY_MASK[b, j] else -np.inf for j in range(5)])
                out[i] = softmax_rows(s) @ v
            heads.append(out)
        expected[b] = np.concatenate(heads, axis=-1) @ p["w_o"] + p["b_o"]
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12)
    assert np.all(m.weights[0, :, :, 3:] == 0)  # padded keys get exactly zero weight


def test_fusion_attention_equals_per_head_summed_logits():
    m = FusionAttention(8, 2, rng=4)
    p = m.params
    y = m.forward(X, KEY_MASK)
    expected = np.zeros_like(X)
    for b in range(2):
        heads = []
        for h in range(2):
            cols = slice(4 * h, 4 * h + 4)
            qt, kt, qi, ki, v = (X[b] @ p[w][:, cols] for w in m.in_names)
            s = (qt @ kt.T + qi @ ki.T) / 2.0  # (Q_t K_tᵀ + Q_i K_iᵀ) / √d_head
            s = np.where(KEY_MASK[b][None, :], s, -np.inf)
            heads.append(softmax_rows(s) @ v)
        expected[b] = np.concatenate(heads, axis=-1) @ p["w_o"] + p["b_o"]
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12)


def test_patch_attention_on_the_patch_layout_equals_patch_attention_forward_on_the_image():
    """The module works in the patch layout; per head, it is gnp.patch_attention_forward on the
    (H, W) layout of the same projections: same output, same weights."""
    m = PatchSelfAttention(8, 2, rng=5)
    p = m.params
    y = m.forward(PATCHES)
    assert y.shape == PATCHES.shape and m.weights.shape == (2, 2, 2, 2, 4, 4)  # (B, h, H/p, W/p, p², p²)
    heads, weights = [], []
    for h in range(2):
        cols = slice(4 * h, 4 * h + 4)
        q, k, v = (IMAGE @ p[w][:, cols] for w in ("w_q", "w_k", "w_v"))  # (B, H, W, d_head)
        out, cache = gnp.patch_attention_forward(q, k, v, patch_size=2)
        heads.append(out)
        weights.append(cache.weights)
    expected = np.concatenate(heads, axis=-1) @ p["w_o"] + p["b_o"]  # (B, H, W, d)
    np.testing.assert_allclose(unpatchify(y, 2), expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(m.weights, np.stack(weights, axis=1), rtol=1e-12, atol=1e-15)


def test_patch_attention_module_equals_full_attention_with_a_block_mask():
    m = PatchSelfAttention(8, 2, rng=5)
    y = unpatchify(m.forward(PATCHES), 2)
    p = m.params
    flat = IMAGE.reshape(2, 16, 8)
    patch_of = np.array([(r // 2) * 2 + c // 2 for r in range(4) for c in range(4)])
    same_patch = patch_of[:, None] == patch_of[None, :]
    heads = []
    for h in range(2):
        cols = slice(4 * h, 4 * h + 4)
        q, k, v = (flat @ p[w][:, cols] for w in ("w_q", "w_k", "w_v"))
        heads.append(attention_forward(q, k, v, mask=same_patch)[0])
    expected = (np.concatenate(heads, axis=-1) @ p["w_o"] + p["b_o"]).reshape(2, 4, 4, 8)
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12)


def test_self_attention_is_permutation_equivariant():
    m = MultiHeadSelfAttention(8, 2, rng=6)
    perm = np.array([3, 0, 4, 1, 2])
    np.testing.assert_allclose(m.forward(X[:, perm]), m.forward(X)[:, perm], rtol=1e-12, atol=1e-12)


def test_key_projections_have_no_bias():
    """A key bias adds the same q·b_k to a whole row of logits, which softmax ignores: it could never learn."""
    assert set(MultiHeadSelfAttention(8, 2).params) == {"w_q", "w_k", "w_v", "w_o", "b_o"}
    assert set(FusionAttention(8, 2).params) == {"w_q_text", "w_k_text", "w_q_image", "w_k_image", "w_v", "w_o", "b_o"}
