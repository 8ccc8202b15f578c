"""Rung 5 of the ladder: PyTorch (float64, autograd) as a trusted oracle. Skipped without torch."""
import math

import numpy as np
import pytest

import gemini_np as gnp
import gemini_np.functional as F

torch = pytest.importorskip("torch")
tF = torch.nn.functional
TOL = dict(rtol=1e-10, atol=1e-12)


def t(a, grad=True):
    """A float64 torch leaf tensor holding a copy of ``a``."""
    return torch.tensor(np.array(a), dtype=torch.float64, requires_grad=grad)


def assert_close(ours, theirs, **tol):
    np.testing.assert_allclose(ours, theirs.detach().numpy(), **(tol or TOL))


def masks(rng, n_q, n_k):
    bool_mask = rng.random((n_q, n_k)) > 0.3
    bool_mask[:, 0] = True  # PyTorch gives NaN for fully masked rows; those are tested separately
    float_mask = rng.standard_normal((n_q, n_k)) + np.where(rng.random((n_q, n_k)) > 0.3, 0.0, -np.inf)
    float_mask[:, 0] = 0.0
    return [None, bool_mask, float_mask]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("mask_index", [0, 1, 2], ids=["no-mask", "bool", "float"])
@pytest.mark.parametrize("scale", [None, 0.7])
def test_attention_matches_scaled_dot_product_attention(seed, mask_index, scale):
    rng = np.random.default_rng(seed)
    q, k, v = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((2, 3, 6, 2))
    mask = masks(rng, 4, 6)[mask_index]
    dout = rng.standard_normal((2, 3, 4, 2))
    out, cache = gnp.attention_forward(q, k, v, mask=mask, scale=scale)
    tq, tk, tv = t(q), t(k), t(v)
    tmask = None if mask is None else torch.tensor(mask)
    tout = tF.scaled_dot_product_attention(tq, tk, tv, attn_mask=tmask, scale=scale)
    tout.backward(torch.tensor(dout))
    assert_close(out, tout)
    for ours, leaf in zip(gnp.attention_backward(dout, cache), (tq, tk, tv)):
        assert_close(ours, leaf.grad)


def test_fully_masked_rows_where_torch_gives_nan_we_give_zero():
    """Documented difference: PyTorch's SDPA returns NaN for a row with no allowed key; we return 0.
    On every other row the two agree."""
    rng = np.random.default_rng(3)
    q, k, v = rng.standard_normal((3, 2)), rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    mask = rng.random((3, 4)) > 0.3
    mask[1] = False
    mask[0, 0] = mask[2, 0] = True
    out, _ = gnp.attention_forward(q, k, v, mask=mask)
    tout = tF.scaled_dot_product_attention(t(q, False), t(k, False), t(v, False), attn_mask=torch.tensor(mask)).numpy()
    np.testing.assert_array_equal(out[1], 0)
    np.testing.assert_allclose(out[[0, 2]], tout[[0, 2]], **TOL)


def test_fusion_matches_torch_autograd_on_summed_logits():
    rng = np.random.default_rng(4)
    shapes = [(2, 3, 4), (2, 5, 4), (2, 3, 3), (2, 5, 3), (2, 5, 2)]
    arrays = [rng.standard_normal(s) for s in shapes]
    mask = masks(rng, 3, 5)[2]
    dout = rng.standard_normal((2, 3, 2))
    out, cache = gnp.fusion_attention_forward(*arrays, mask=mask)
    leaves = [t(a) for a in arrays]
    qt, kt, qi, ki, tv = leaves
    logits = (qt @ kt.mT + qi @ ki.mT) / math.sqrt(4) + torch.tensor(mask)
    tout = torch.softmax(logits, dim=-1) @ tv
    tout.backward(torch.tensor(dout))
    assert_close(out, tout)
    for ours, leaf in zip(gnp.fusion_attention_backward(dout, cache), leaves):
        assert_close(ours, leaf.grad)


def test_patch_attention_matches_torch_on_unfolded_patches():
    rng = np.random.default_rng(5)
    q, k, v = rng.standard_normal((2, 4, 6, 3)), rng.standard_normal((2, 4, 6, 3)), rng.standard_normal((2, 4, 6, 2))
    dout = rng.standard_normal((2, 4, 6, 2))
    out, cache = gnp.patch_attention_forward(q, k, v, 2)
    leaves = [t(a) for a in (q, k, v)]

    def to_patches(x):  # (B, H, W, C) -> (B, H/2, W/2, 4, C), written with torch ops
        b, h, w, c = x.shape
        return x.reshape(b, h // 2, 2, w // 2, 2, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h // 2, w // 2, 4, c)

    tout = tF.scaled_dot_product_attention(*(to_patches(x) for x in leaves))
    tout.backward(to_patches(torch.tensor(dout)))
    np.testing.assert_allclose(gnp.patchify(out, 2), tout.detach().numpy(), **TOL)
    for ours, leaf in zip(gnp.patch_attention_backward(dout, cache), leaves):
        assert_close(ours, leaf.grad)


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_matches_torch(axis):
    rng = np.random.default_rng(6)
    x, dy = rng.standard_normal((3, 4, 5)) * 3, rng.standard_normal((3, 4, 5))
    y = gnp.softmax(x, axis=axis)
    tx = t(x)
    ty = torch.softmax(tx, dim=axis)
    ty.backward(torch.tensor(dy))
    assert_close(y, ty)
    assert_close(gnp.softmax_backward(dy, y, axis=axis), tx.grad)


def test_layer_norm_matches_torch():
    rng = np.random.default_rng(7)
    x, gamma, beta = rng.standard_normal((2, 3, 6)) * 2 + 1, rng.standard_normal(6), rng.standard_normal(6)
    dy = rng.standard_normal(x.shape)
    y, cache = F.layer_norm_forward(x, gamma, beta, eps=1e-5)
    leaves = [t(a) for a in (x, gamma, beta)]
    ty = tF.layer_norm(leaves[0], (6,), weight=leaves[1], bias=leaves[2], eps=1e-5)
    ty.backward(torch.tensor(dy))
    assert_close(y, ty)
    for ours, leaf in zip(F.layer_norm_backward(dy, cache), leaves):
        assert_close(ours, leaf.grad)


def test_gelu_tanh_and_relu_match_torch():
    rng = np.random.default_rng(8)
    x, dy = rng.standard_normal((4, 5)) * 3, rng.standard_normal((4, 5))
    for ours_fwd, ours_bwd, theirs in ((F.gelu_forward, F.gelu_backward, lambda a: tF.gelu(a, approximate="tanh")),
                                       (F.relu_forward, F.relu_backward, tF.relu)):
        y, cache = ours_fwd(x)
        tx = t(x)
        ty = theirs(tx)
        ty.backward(torch.tensor(dy))
        assert_close(y, ty)
        assert_close(ours_bwd(dy, cache), tx.grad)


def test_bce_with_logits_matches_torch_including_huge_logits():
    rng = np.random.default_rng(9)
    z = np.concatenate([rng.standard_normal(6) * 4, [1e3, -1e3, 1e3, -1e3]])
    y = np.concatenate([rng.random(6), [1.0, 0.0, 0.0, 1.0]])
    loss, cache = F.bce_with_logits_forward(z, y)
    tz = t(z)
    tloss = tF.binary_cross_entropy_with_logits(tz, torch.tensor(y))
    tloss.backward(torch.tensor(2.5))
    np.testing.assert_allclose(float(loss), tloss.item(), **TOL)
    assert_close(F.bce_with_logits_backward(2.5, cache), tz.grad)
    assert_close(F.sigmoid(z), torch.sigmoid(torch.tensor(z)))


@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(bias):
    rng = np.random.default_rng(10)
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    dy = rng.standard_normal((2, 3, 5))
    y, cache = F.linear_forward(x, w, b if bias else None)
    tx, tw, tb = t(x), t(w), t(b)
    ty = tF.linear(tx, tw.T, tb if bias else None)  # torch stores W as (d_out, d_in)
    ty.backward(torch.tensor(dy))
    assert_close(y, ty)
    dx, dw, db = F.linear_backward(dy, cache)
    assert_close(dx, tx.grad)
    assert_close(dw, tw.grad)
    if bias:
        assert_close(db, tb.grad)


def test_embedding_with_padding_idx_matches_torch():
    """torch's padding_idx: no gradient to that row; its forward returns the row's content,
    which is zero in a freshly initialised torch embedding, so we zero it for the comparison."""
    rng = np.random.default_rng(11)
    table = rng.standard_normal((6, 3))
    table[0] = 0.0
    ids = rng.integers(0, 6, size=(2, 5))
    ids[0, :2] = 0
    dout = rng.standard_normal((2, 5, 3))
    out, cache = F.embedding_forward(ids, table, padding_id=0)
    tt = t(table)
    tout = tF.embedding(torch.tensor(ids), tt, padding_idx=0)
    tout.backward(torch.tensor(dout))
    assert_close(out, tout)
    assert_close(F.embedding_backward(dout, cache), tt.grad)
