"""gemini_np.nn: every Module's backward against finite differences, slow references, invariants."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gemini_np.functional import attention_forward
from gemini_np.gradcheck import numerical_gradient, rel_error
from gemini_np.nn import (
    Embedding,
    EncoderBlock,
    FeedForward,
    FusionAttention,
    GroupedLinear,
    LayerNorm,
    Linear,
    ModuleList,
    MultiHeadSelfAttention,
    PatchSelfAttention,
    check_module_gradients,
    merge_heads,
    split_heads,
)

#: One op wrapped in a module: DESIGN's single-op bound.
LEAF_BOUND = 1e-7
#: A few ops chained (attention modules, blocks): between the op and the model bound.
COMPOSITE_BOUND = 1e-6


def rng(seed=0):
    return np.random.default_rng(seed)


X = rng(1).standard_normal((2, 5, 8))
KEY_MASK = np.array([[True, True, True, False, False], [True] * 5])
IMAGE = rng(2).standard_normal((2, 4, 4, 8))


def module_cases():
    """(name, module, forward with fixed inputs, input, bound)."""
    cases = [
        ("linear", Linear(8, 3, rng=0), lambda m, x: m.forward(x), X, LEAF_BOUND),
        ("linear without bias", Linear(8, 3, bias=False, rng=0), lambda m, x: m.forward(x), X, LEAF_BOUND),
        ("layer norm", LayerNorm(8), lambda m, x: m.forward(x), X, LEAF_BOUND),
        ("grouped linear", GroupedLinear(5, 8, 3, rng=0), lambda m, x: m.forward(x), X, LEAF_BOUND),
        ("feed-forward", FeedForward(8, 16, rng=0), lambda m, x: m.forward(x), X, COMPOSITE_BOUND),
        ("self-attention", MultiHeadSelfAttention(8, 2, rng=0), lambda m, x: m.forward(x, KEY_MASK), X, COMPOSITE_BOUND),
        ("fusion attention", FusionAttention(8, 2, rng=0), lambda m, x: m.forward(x, KEY_MASK), X, COMPOSITE_BOUND),
        ("patch attention", PatchSelfAttention(8, 2, 2, rng=0), lambda m, x: m.forward(x), IMAGE, COMPOSITE_BOUND),
        ("encoder block", EncoderBlock(8, 2, 16, rng=0), lambda m, x: m.forward(x, KEY_MASK), X, COMPOSITE_BOUND),
        ("patch block, no FFN", EncoderBlock(8, 2, 0, "patch", 2, rng=0), lambda m, x: m.forward(x), IMAGE,
         COMPOSITE_BOUND),
        ("fusion block", EncoderBlock(8, 2, 16, "fusion", rng=0), lambda m, x: m.forward(x, KEY_MASK), X,
         COMPOSITE_BOUND),
    ]
    # a LayerNorm whose gamma/beta are not the identity, so their gradients are generic
    ln = cases[2][1]
    ln.load_params({"gamma": rng(3).standard_normal(8), "beta": rng(4).standard_normal(8)})
    return cases


CASES = module_cases()


@pytest.mark.parametrize("name, module, run, x, bound", CASES, ids=[c[0] for c in CASES])
def test_every_parameter_against_finite_differences(name, module, run, x, bound):
    errors = check_module_gradients(module, lambda: run(module, x), seed=5, max_entries=None)
    assert set(errors) == set(module.params)
    assert max(errors.values()) < bound, errors


@pytest.mark.parametrize("name, module, run, x, bound", CASES, ids=[c[0] for c in CASES])
def test_input_gradient_against_finite_differences(name, module, run, x, bound):
    g = rng(6).standard_normal(run(module, x).shape)
    run(module, x)
    dx = module.backward(g)
    numeric = numerical_gradient(lambda x_new: np.sum(run(module, x_new) * g), x)
    assert rel_error(dx, numeric) < bound


def test_embedding_gradient_and_padding_row():
    emb = Embedding(6, 4, padding_id=0, rng=0)
    ids = np.array([[1, 2, 0, 0], [3, 3, 5, 0]])
    out = emb.forward(ids)
    assert np.all(out[ids == 0] == 0)
    errors = check_module_gradients(emb, lambda: emb.forward(ids), seed=1, max_entries=None)
    assert errors["table"] < LEAF_BOUND
    assert np.all(emb.grads["table"][0] == 0) and np.all(emb.grads["table"][4] == 0)  # padding, unused
    assert emb.backward(np.ones_like(out)) is None  # token ids have no gradient


def test_the_checker_catches_a_wrong_gradient():
    """The finite-difference test can fail: a backward that drops a factor is caught."""
    layer = Linear(8, 3, rng=0)
    original = layer.backward

    def wrong(dy):
        dx = original(dy)
        layer._grads["w"] = layer._grads["w"] * 1.01
        return dx

    layer.backward = wrong
    errors = check_module_gradients(layer, lambda: layer.forward(X), max_entries=None)
    assert errors["w"] > 1e-3 and errors["b"] < LEAF_BOUND


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


def test_split_heads_rejects_indivisible_width():
    with pytest.raises(ValueError, match="not divisible"):
        split_heads(np.zeros((1, 2, 6)), 4)
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadSelfAttention(6, 4)


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
    assert rel_error(y, expected) < 1e-10
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
    assert rel_error(y, expected) < 1e-10


def test_patch_attention_module_equals_full_attention_with_a_block_mask():
    m = PatchSelfAttention(8, 2, 2, rng=5)
    y = m.forward(IMAGE)
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
    assert rel_error(y, expected) < 1e-10


def test_self_attention_is_permutation_equivariant():
    m = MultiHeadSelfAttention(8, 2, rng=6)
    perm = np.array([3, 0, 4, 1, 2])
    np.testing.assert_allclose(m.forward(X[:, perm]), m.forward(X)[:, perm], rtol=1e-12, atol=1e-12)


def test_padded_keys_do_not_influence_real_tokens():
    block = EncoderBlock(8, 2, 16, rng=7)
    y = block.forward(X, KEY_MASK)
    changed = X.copy()
    changed[0, 3:] = 100.0  # garbage in the padded positions
    y2 = block.forward(changed, KEY_MASK)
    np.testing.assert_allclose(y2[0, :3], y[0, :3], rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- params, grads, dtypes


def test_params_and_grads_share_flat_dotted_keys():
    block = EncoderBlock(8, 2, 16, rng=0)
    assert set(block.params) == set(block.grads)
    assert "attn.w_q" in block.params and "ffn.fc1.w" in block.params and "ln2.gamma" in block.params
    stack = ModuleList([EncoderBlock(8, 2, 16, rng=i) for i in range(2)])
    assert "1.attn.w_o" in stack.params and len(stack) == 2
    assert block.num_params() == sum(p.size for p in block.params.values())


def test_backward_overwrites_gradients_and_set_param_validates():
    layer = Linear(4, 2, rng=0)
    x = rng(1).standard_normal((3, 4))
    layer.forward(x)
    layer.backward(np.ones((3, 2)))
    first = layer.grads["w"].copy()
    layer.forward(x)
    layer.backward(np.ones((3, 2)))
    np.testing.assert_array_equal(layer.grads["w"], first)  # not accumulated
    with pytest.raises(ValueError, match="shape"):
        layer.set_param("w", np.zeros((2, 4)))
    with pytest.raises(TypeError, match="dtype"):
        layer.set_param("w", np.zeros((4, 2), np.float32))
    with pytest.raises(KeyError):
        layer.set_param("nope", np.zeros(2))
    with pytest.raises(ValueError, match="missing"):
        layer.load_params({"w": np.zeros((4, 2))})


def test_same_seed_same_weights():
    a, b, c = (MultiHeadSelfAttention(8, 2, rng=s) for s in (1, 1, 2))
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], b.params[name])
    assert not np.array_equal(a.params["w_q"], c.params["w_q"])


@pytest.mark.parametrize("name, module, run, x, bound", CASES, ids=[c[0] for c in CASES])
def test_float32_stays_float32_and_agrees_with_float64(name, module, run, x, bound):
    module32 = _float32_copy(module)
    y32 = run(module32, x.astype(np.float32))
    assert y32.dtype == np.float32
    g = rng(7).standard_normal(y32.shape)
    dx32 = module32.backward(g.astype(np.float32))
    assert dx32.dtype == np.float32
    y64 = run(module, x)
    dx64 = module.backward(g)
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dx32, dx64, rtol=1e-4, atol=1e-4)
    for k, g32 in module32.grads.items():
        assert g32.dtype == np.float32, k
        np.testing.assert_allclose(g32, module.grads[k], rtol=1e-4, atol=1e-4 * (1 + np.abs(module.grads[k]).max()))


def _float32_copy(module):
    """A deep copy of ``module`` with every parameter (recursively) cast to float32."""
    import copy

    clone = copy.deepcopy(module)
    for _, m in clone.named_modules():
        m.dtype = "float32"
        for k in list(m._params):
            m._params[k] = m._params[k].astype(np.float32)
            m._grads[k] = np.zeros_like(m._params[k])
    return clone
