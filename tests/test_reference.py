"""gemini_np.reference, the textbook version of every attention op.

1. Every tuned public op agrees with its textbook twin (float64, 1e-12).
2. The textbook ops are right on their own: finite differences, dtypes, masked rows.
3. The textbook module reads as plain math (its source is shown in class).
"""
import ast
import inspect

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gemini_np as gnp
from helpers import assert_f32_matches_f64, conditioned, make_mask, random_qkv
from gemini_np import reference as textbook


def assert_agree(tuned, expected):
    """max|a − b| ≤ 1e-12 · max(1, max|b|) for each pair of arrays.

    The inputs are standard normal, so every result is O(1) and the two versions
    differ only in operation order: a few ulps (~1e-15); a bug is off by O(0.1).
    The floor 1 covers results that are 0 in exact arithmetic (dq and dk when
    n_k = 1), which the tuned order leaves as ±1e-17 instead of an exact 0.
    """
    assert len(tuned) == len(expected)
    for i, (a, b) in enumerate(zip(tuned, expected)):
        assert a.shape == b.shape and a.dtype == b.dtype, (i, a.shape, b.shape, a.dtype, b.dtype)
        error = np.max(np.abs(a - b), initial=0.0)
        assert error <= 1e-12 * max(1.0, np.max(np.abs(b), initial=0.0)), (i, error)


# ----------------------------------------------------------------------------- inputs


seeds = st.integers(0, 2**32 - 1)
batches = st.lists(st.integers(1, 3), max_size=2).map(tuple)  # () = no batch dims
sizes = st.integers(1, 5)  # n = 1 included
scales = st.one_of(st.none(), st.floats(0.1, 2.0))
MASK_KINDS = [None, "bool", "float", "causal", "bool_partial", "float_partial"]


def random_mask(kind, batch, n_q, n_k, rng):
    """A mask of the given kind; "bool" and "float" get a random shape that broadcasts to
    (*batch, n_q, n_k) (leading dims dropped, any dim 1), and may mask whole rows."""
    if kind not in ("bool", "float"):
        return make_mask(kind, n_q, n_k, rng)  # (n_q, n_k); the partial kinds mask row 0 fully
    full = (*batch, n_q, n_k)
    shape = tuple(n if rng.random() < 0.6 else 1 for n in full[rng.integers(0, len(full)):])
    if kind == "bool":
        return rng.random(shape) < 0.7
    return np.where(rng.random(shape) < 0.7, rng.standard_normal(shape), -np.inf)


@st.composite
def attention_cases(draw):
    batch, n_q, n_k, d_k, d_v = draw(batches), draw(sizes), draw(sizes), draw(sizes), draw(sizes)
    rng = np.random.default_rng(draw(seeds))
    q, k, v = random_qkv(rng, batch, n_q, n_k, d_k, d_v)
    mask = random_mask(draw(st.sampled_from(MASK_KINDS)), batch, n_q, n_k, rng)
    dout = rng.standard_normal((*batch, n_q, d_v))
    return dict(q=q, k=k, v=v, mask=mask, scale=draw(scales)), dout


def fusion_inputs(rng, batch, n_q, n_k, d_t, d_i, d_v, dtype=np.float64):
    shapes = dict(q_text=(n_q, d_t), k_text=(n_k, d_t), q_image=(n_q, d_i), k_image=(n_k, d_i), v=(n_k, d_v))
    return {name: rng.standard_normal((*batch, *s)).astype(dtype) for name, s in shapes.items()}


def patch_inputs(rng, batch, p, rows, cols, d_k, d_v, dtype=np.float64):
    h, w = p * rows, p * cols
    shapes = dict(q=(h, w, d_k), k=(h, w, d_k), v=(h, w, d_v))
    return {name: rng.standard_normal((*batch, *s)).astype(dtype) for name, s in shapes.items()}


# ----------------------------------------------------------------------------- 1. tuned == textbook


@given(seeds, st.lists(sizes, min_size=1, max_size=3), st.data())
def test_softmax(seed, shape, data):
    rng = np.random.default_rng(seed)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = np.where(rng.random(shape) < 0.8, 3 * rng.standard_normal(shape), -np.inf)  # some slices all -inf
    dy = rng.standard_normal(shape)
    y = textbook.softmax(x, axis)
    assert_agree([gnp.softmax(x, axis)], [y])
    assert_agree([gnp.softmax_backward(dy, y, axis)], [textbook.softmax_backward(dy, y, axis)])


@given(attention_cases(), st.one_of(st.none(), st.integers(1, 4)))
def test_attention(case, block_size):
    """The plain path, and the blocked path (online softmax, no P in its cache) for block_size = b."""
    inputs, dout = case
    out, cache = textbook.attention_forward(**inputs)
    tuned_out, tuned_cache = gnp.attention_forward(**inputs, block_size=block_size)
    assert_agree([tuned_out], [out])
    if block_size is None:
        assert_agree([tuned_cache.weights], [cache.weights])
    assert_agree(gnp.attention_backward(dout, tuned_cache), textbook.attention_backward(dout, cache))


@given(seeds, batches, sizes, sizes, sizes, sizes, sizes, st.sampled_from(MASK_KINDS), scales)
def test_fusion(seed, batch, n_q, n_k, d_t, d_i, d_v, mask_kind, scale):
    rng = np.random.default_rng(seed)
    inputs = fusion_inputs(rng, batch, n_q, n_k, d_t, d_i, d_v)
    mask = random_mask(mask_kind, batch, n_q, n_k, rng)
    dout = rng.standard_normal((*batch, n_q, d_v))
    out, cache = textbook.fusion_attention_forward(**inputs, mask=mask, scale=scale)
    tuned_out, tuned_cache = gnp.fusion_attention_forward(**inputs, mask=mask, scale=scale)
    assert_agree([tuned_out, tuned_cache.weights], [out, cache.weights])
    grads = textbook.fusion_attention_backward(dout, cache)
    assert_agree(gnp.fusion_attention_backward(dout, tuned_cache), grads)


@given(seeds, batches, st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), sizes, sizes, scales)
def test_patch(seed, batch, p, rows, cols, d_k, d_v, scale):
    rng = np.random.default_rng(seed)
    inputs = patch_inputs(rng, batch, p, rows, cols, d_k, d_v)
    dout = rng.standard_normal((*batch, p * rows, p * cols, d_v))
    patches = textbook.patchify(inputs["v"], p)
    assert np.array_equal(gnp.patchify(inputs["v"], p), patches)  # pure rearrangements: exactly equal
    assert np.array_equal(gnp.unpatchify(patches, p), textbook.unpatchify(patches, p))
    out, cache = textbook.patch_attention_forward(**inputs, patch_size=p, scale=scale)
    tuned_out, tuned_cache = gnp.patch_attention_forward(**inputs, patch_size=p, scale=scale)
    assert_agree([tuned_out, tuned_cache.weights], [out, cache.weights])
    grads = textbook.patch_attention_backward(dout, cache)
    assert_agree(gnp.patch_attention_backward(dout, tuned_cache), grads)


PAIRS = [("softmax", "softmax_backward"), ("attention_forward", "attention_backward"),
         ("fusion_attention_forward", "fusion_attention_backward"), ("patchify", "unpatchify"),
         ("patch_attention_forward", "patch_attention_backward")]


@pytest.mark.parametrize("name", [name for pair in PAIRS for name in pair])
def test_same_signature_as_the_public_op(name):
    public = inspect.signature(getattr(gnp, name)).parameters
    mine = inspect.signature(getattr(textbook, name)).parameters
    public = {p: v.default for p, v in public.items() if p != "block_size"}  # no textbook blocked path
    assert {p: v.default for p, v in mine.items()} == public


def test_importable_as_a_submodule_and_kept_out_of_the_flat_api():
    import gemini_np.reference

    assert gemini_np.reference is textbook is gnp.reference
    assert "reference" not in gnp.__all__


# ----------------------------------------------------------------------------- 2. the textbook on its own


def softmax_op(x, axis):
    y = textbook.softmax(x, axis)
    return y, y  # (out, cache): the backward needs only y


def softmax_op_backward(dy, y):
    return textbook.softmax_backward(dy, y, axis=0)


def attention_draw(batch, n_q, n_k, d_k, d_v, mask_kind, scale):
    def draw(rng):
        q, k, v = random_qkv(rng, batch, n_q, n_k, d_k, d_v)
        return dict(q=q, k=k, v=v), dict(mask=make_mask(mask_kind, n_q, n_k, rng), scale=scale)
    return draw


GRADCHECKS = {
    "softmax": (softmax_op, softmax_op_backward,
                lambda rng: (dict(x=rng.standard_normal((4, 3))), dict(axis=0))),
    "attention": (textbook.attention_forward, textbook.attention_backward,
                  attention_draw((), 3, 4, 3, 2, None, None)),
    "attention, causal, batch": (textbook.attention_forward, textbook.attention_backward,
                                 attention_draw((2,), 4, 3, 2, 3, "causal", 0.5)),
    "attention, bool mask, fully masked row": (textbook.attention_forward, textbook.attention_backward,
                                               attention_draw((2, 1), 3, 4, 2, 2, "bool_partial", None)),
    "attention, float mask with -inf": (textbook.attention_forward, textbook.attention_backward,
                                        attention_draw((2,), 3, 4, 3, 2, "float_partial", None)),
    "fusion": (textbook.fusion_attention_forward, textbook.fusion_attention_backward,
               lambda rng: (fusion_inputs(rng, (2,), 3, 4, 2, 3, 2), dict(mask=make_mask("float", 3, 4, rng)))),
    "patch": (textbook.patch_attention_forward, textbook.patch_attention_backward,
              lambda rng: (patch_inputs(rng, (2,), 2, 2, 1, 2, 2), dict(patch_size=2, scale=0.5))),
}


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", list(GRADCHECKS))
def test_finite_differences(name, seed):
    """float64, L = Σ out ∘ G with a random G (gnp.check_gradients), on well-conditioned
    draws (helpers.conditioned: no gradient entry so small that rounding swamps it)."""
    forward, backward, draw = GRADCHECKS[name]
    inputs, static = conditioned(draw, forward, backward, seed)
    errors = gnp.check_gradients(forward, backward, inputs, static, seed=seed)
    assert max(errors.values()) < 1e-7, errors


def test_float32_in_float32_out():
    """Also with a float64 mask, and matching the float64 results to float32 precision."""
    rng = np.random.default_rng(5)
    q, k, v = random_qkv(rng, (2,), 3, 4, 3, 2)
    fusion = fusion_inputs(rng, (2,), 3, 4, 2, 3, 2)
    patch = patch_inputs(rng, (2,), 2, 2, 1, 3, 2)
    dout = rng.standard_normal((2, 3, 2))
    runs = [  # (forward, backward, inputs, keyword arguments, dout)
        (textbook.attention_forward, textbook.attention_backward, dict(q=q, k=k, v=v),
         dict(mask=make_mask("float_partial", 3, 4, rng)), dout),
        (textbook.attention_forward, textbook.attention_backward, dict(q=q, k=k, v=v),
         dict(mask=make_mask("bool_partial", 3, 4, rng), scale=0.5), dout),
        (textbook.fusion_attention_forward, textbook.fusion_attention_backward, fusion,
         dict(mask=make_mask("float", 3, 4, rng)), dout),
        (textbook.patch_attention_forward, textbook.patch_attention_backward, patch,
         dict(patch_size=2), rng.standard_normal((2, 4, 2, 2))),
    ]
    for forward, backward, inputs, kwargs, upstream in runs:
        results = {}
        for dtype in (np.float32, np.float64):
            out, cache = forward(**{n: a.astype(dtype) for n, a in inputs.items()}, **kwargs)
            results[dtype] = (out, cache.weights, *backward(upstream.astype(dtype), cache))
        assert_f32_matches_f64(results[np.float32], results[np.float64])
    x = rng.standard_normal((3, 4)).astype(np.float32)
    y = textbook.softmax(x)
    assert y.dtype == textbook.softmax_backward(x, y).dtype == np.float32


@pytest.mark.parametrize("blocked", [np.zeros((3, 4), dtype=bool), np.full((3, 4), -np.inf)])
def test_fully_masked_rows_give_zeros(blocked):
    """Row 1 may attend to nothing: zero weights, output and dq there; the other rows are unaffected.
    (A NaN would also raise: the test settings turn every RuntimeWarning into an error.)"""
    rng = np.random.default_rng(6)
    q, k, v = random_qkv(rng, (2,), 3, 4, 3, 2)
    mask = np.ones((3, 4), dtype=bool) if blocked.dtype == bool else np.zeros((3, 4))
    mask[1] = blocked[1]
    out, cache = textbook.attention_forward(q, k, v, mask=mask)
    dq, dk, dv = textbook.attention_backward(rng.standard_normal(out.shape), cache)
    assert all(np.isfinite(a).all() for a in (out, cache.weights, dq, dk, dv))
    assert not out[:, 1].any() and not cache.weights[:, 1].any() and not dq[:, 1].any()
    assert np.allclose(cache.weights[:, [0, 2]].sum(axis=-1), 1.0)
    out, cache = textbook.attention_forward(q, k, v, mask=blocked)  # every row: all zeros
    assert not out.any() and not any(g.any() for g in textbook.attention_backward(np.ones(out.shape), cache))


# ----------------------------------------------------------------------------- 3. it reads as plain math


def test_reads_as_plain_math():
    """Only formulas: no in-place updates (+=, x[i] = ..., out=), no vecdot or einsum, no .T or .mT,
    no transposed products (AᵀB)ᵀ, and nothing imported but numpy, math and typing."""
    for node in ast.walk(ast.parse(inspect.getsource(textbook))):
        line = getattr(node, "lineno", None)
        assert not isinstance(node, ast.AugAssign), line
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            assert not any(isinstance(n, (ast.Subscript, ast.Attribute)) for t in targets for n in ast.walk(t)), line
        if isinstance(node, ast.Call):
            assert "out" not in [kw.arg for kw in node.keywords], line
            if ast.unparse(node.func) in ("T", "np.matrix_transpose", "np.swapaxes"):
                assert not any(isinstance(a, ast.BinOp) and isinstance(a.op, ast.MatMult) for a in node.args), line
        if isinstance(node, (ast.Attribute, ast.Name)):
            assert getattr(node, "attr", getattr(node, "id", None)) not in ("vecdot", "einsum", "mT"), line
            assert not (isinstance(node, ast.Attribute) and node.attr == "T"), line
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = {a.name for a in node.names} if isinstance(node, ast.Import) else {node.module}
            assert modules <= {"numpy", "math", "typing", "__future__"}, (line, modules)
