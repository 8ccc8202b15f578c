"""Input validation of every public op (gemini_np.validation's rule), and no in-place modification.

Bad input raises TypeError (the wrong kind of object) or ValueError (the right kind with a
bad value), with a message that names the argument and the shapes or values involved.

Two kinds of tests:
* generic ones over every entry of the op registry (gemini_np.functional.registry.OPS), so a
  new op gets them without being listed here: each array argument given as a list, float
  inputs given as integers, mixed float32/float64 inputs, a dout of the wrong shape or dtype;
* hand-written cases below, each asserting its exact message with ``match=``.
Whether every public op has a registry entry is checked structurally in
tests/functional/test_registry.py.
"""
import re

import numpy as np
import pytest

import gemini_np as gnp
import gemini_np.functional as F
from gemini_np import validation
from gemini_np.functional.registry import OPS, TINY
from helpers import as_tuple

rng = np.random.default_rng(0)
Q = rng.standard_normal((2, 3, 4))  # (batch, n_q, d_k)
K = rng.standard_normal((2, 5, 4))  # (batch, n_k, d_k)
V = rng.standard_normal((2, 5, 2))  # (batch, n_k, d_v)
QI = rng.standard_normal((2, 3, 6))  # image view, d_i = 6
KI = rng.standard_normal((2, 5, 6))
IMG = rng.standard_normal((2, 4, 6, 3))  # (batch, H, W, C)
X = rng.standard_normal((2, 3, 4))
W = rng.standard_normal((4, 5))
B = rng.standard_normal(5)
TABLE = rng.standard_normal((5, 3))
XG = rng.standard_normal((2, 3, 4))  # (batch, g, d_in) for the grouped linear
WG = rng.standard_normal((3, 4, 5))  # (g, d_in, d_out)
IDS = np.array([[1, 0], [4, 2]])
SEQ_MASK = np.array([[True, False, True], [False, False, False]])
Z = rng.standard_normal(4)
LABELS = np.array([0.0, 1.0, 1.0, 0.0])

f32 = lambda a: a.astype(np.float32)  # noqa: E731
cache = {
    "attention": gnp.attention_forward(Q, K, V)[1],
    "fusion": gnp.fusion_attention_forward(Q, K, QI, KI, V)[1],
    "patch": gnp.patch_attention_forward(IMG, IMG, IMG, 2)[1],
    "linear": F.linear_forward(X, W, B)[1],
    "grouped_linear": F.grouped_linear_forward(XG, WG, B)[1],
    "layer_norm": F.layer_norm_forward(X, np.ones(4), np.zeros(4))[1],
    "relu": F.relu_forward(X)[1],
    "gelu": F.gelu_forward(X)[1],
    "embedding": F.embedding_forward(IDS, TABLE)[1],
    "masked_mean": F.masked_mean_forward(X, SEQ_MASK)[1],
    "bce": F.bce_with_logits_forward(Z, LABELS)[1],
}
Y = gnp.softmax(Q)

# (id, call, exception, regex the message must match)
CASES = [
    # ---- softmax
    ("softmax/list", lambda: gnp.softmax([1.0, 2.0]), TypeError, r"x must be an array.*got list"),
    ("softmax/int", lambda: gnp.softmax(np.arange(3)), TypeError, r"x must be a floating-point array, got dtype int64"),
    ("softmax/0d", lambda: gnp.softmax(np.array(1.0)), ValueError, r"at least 1 dims, got shape \(\)"),
    ("softmax/axis-range", lambda: gnp.softmax(Q, axis=3), ValueError, r"axis 3 is out of range .* 3 dims"),
    ("softmax/axis-float", lambda: gnp.softmax(Q, axis=1.0), TypeError, r"axis must be an int, got float"),
    ("softmax/axis-bool", lambda: gnp.softmax(Q, axis=True), TypeError, r"axis must be an int, got bool"),
    ("softmax_backward/shape", lambda: gnp.softmax_backward(Q[..., :3], Y), ValueError, r"dy has shape \(2, 3, 3\) .* \(2, 3, 4\)"),
    ("softmax_backward/dtype", lambda: gnp.softmax_backward(f32(Q), Y), TypeError, r"dy has dtype float32 .* float64"),
    ("softmax_backward/int-y", lambda: gnp.softmax_backward(Q, np.ones((2, 3, 4), int)), TypeError, r"y must be a floating"),
    ("softmax_backward/list", lambda: gnp.softmax_backward(Q.tolist(), Y), TypeError, r"dy must be an array.*list"),
    # ---- attention
    ("attention/d_k", lambda: gnp.attention_forward(Q, K[..., :3], V), ValueError, r"q \(2, 3, 4\) has d_k=4, k \(2, 5, 3\) has d_k=3"),
    ("attention/n_k", lambda: gnp.attention_forward(Q, K, V[:, :4]), ValueError, r"n_k.*k \(2, 5, 4\), v \(2, 4, 2\)"),
    ("attention/1d-q", lambda: gnp.attention_forward(Q[0, 0], K, V), ValueError, r"q must have at least 2 dims, got shape \(4,\)"),
    ("attention/1d-v", lambda: gnp.attention_forward(Q, K, V[0, 0]), ValueError, r"v must have at least 2 dims, got shape \(2,\)"),
    ("attention/int", lambda: gnp.attention_forward(Q, K.astype(int), V), TypeError, r"k must be a floating-point array, got dtype int64"),
    ("attention/list", lambda: gnp.attention_forward(Q.tolist(), K, V), TypeError, r"q must be an array.*list"),
    ("attention/dtypes", lambda: gnp.attention_forward(f32(Q), K, V), TypeError, r"q is float32, k is float64, v is float64"),
    ("attention/batch", lambda: gnp.attention_forward(Q[:1], K, V), ValueError, r"batch.*q \(1, 3, 4\), k \(2, 5, 4\)"),
    ("attention/mask-int", lambda: gnp.attention_forward(Q, K, V, mask=np.ones((3, 5), int)), TypeError, r"mask must have dtype bool .* or float .*got int64"),
    ("attention/mask-list", lambda: gnp.attention_forward(Q, K, V, mask=[[True] * 5] * 3), TypeError, r"mask must be an array"),
    ("attention/mask-shape", lambda: gnp.attention_forward(Q, K, V, mask=np.ones((3, 4), bool)), ValueError, r"mask of shape \(3, 4\) does not broadcast to .* \(2, 3, 5\)"),
    ("attention/mask-too-big", lambda: gnp.attention_forward(Q, K, V, mask=np.ones((4, 2, 3, 5))), ValueError, r"mask of shape \(4, 2, 3, 5\) does not broadcast"),
    ("attention/scale-0", lambda: gnp.attention_forward(Q, K, V, scale=0), ValueError, r"scale must be positive and finite, got 0.0"),
    ("attention/scale-neg", lambda: gnp.attention_forward(Q, K, V, scale=-0.5), ValueError, r"got -0.5"),
    ("attention/scale-inf", lambda: gnp.attention_forward(Q, K, V, scale=float("inf")), ValueError, r"got inf"),
    ("attention/scale-nan", lambda: gnp.attention_forward(Q, K, V, scale=float("nan")), ValueError, r"got nan"),
    ("attention/scale-str", lambda: gnp.attention_forward(Q, K, V, scale="0.5"), TypeError, r"scale must be a real number, got str"),
    ("attention/scale-bool", lambda: gnp.attention_forward(Q, K, V, scale=True), TypeError, r"got bool"),
    ("attention/scale-array", lambda: gnp.attention_forward(Q, K, V, scale=np.array(0.5)), TypeError, r"got ndarray"),
    ("attention/block-0", lambda: gnp.attention_forward(Q, K, V, block_size=0), ValueError, r"block_size must be a positive int, got 0"),
    ("attention/block-float", lambda: gnp.attention_forward(Q, K, V, block_size=2.0), TypeError, r"block_size .* got 2.0 \(float\)"),
    ("attention/block-bool", lambda: gnp.attention_forward(Q, K, V, block_size=True), TypeError, r"got True \(bool\)"),
    ("attention_backward/shape", lambda: gnp.attention_backward(np.ones((2, 3, 3)), cache["attention"]), ValueError, r"dout has shape \(2, 3, 3\) but the forward output had shape \(2, 3, 2\)"),
    ("attention_backward/dtype", lambda: gnp.attention_backward(np.ones((2, 3, 2), np.float32), cache["attention"]), TypeError, r"dout has dtype float32 but .* float64"),
    ("attention_backward/list", lambda: gnp.attention_backward([[0.0]], cache["attention"]), TypeError, r"dout must be an array"),
    # ---- fusion
    ("fusion/logit-shapes", lambda: gnp.fusion_attention_forward(Q, K, QI[:, :2], KI, V), ValueError,
     r"text logits .* shape \(2, 3, 5\) but the image logits .* shape \(2, 2, 5\)"),
    ("fusion/logit-shapes-keys", lambda: gnp.fusion_attention_forward(Q, K, QI, KI[:, :4], V), ValueError,
     r"\(2, 3, 5\) .* \(2, 3, 4\)"),
    ("fusion/d-text", lambda: gnp.fusion_attention_forward(Q, K[..., :3], QI, KI, V), ValueError, r"q_text \(2, 3, 4\), k_text \(2, 5, 3\)"),
    ("fusion/d-image", lambda: gnp.fusion_attention_forward(Q, K, QI, KI[..., :5], V), ValueError, r"q_image \(2, 3, 6\), k_image \(2, 5, 5\)"),
    ("fusion/n_k", lambda: gnp.fusion_attention_forward(Q, K, QI, KI, V[:, :4]), ValueError, r"k_text \(2, 5, 4\) and v \(2, 4, 2\)"),
    ("fusion/1d", lambda: gnp.fusion_attention_forward(Q, K, QI[0, 0], KI, V), ValueError, r"q_image must have at least 2 dims"),
    ("fusion/int", lambda: gnp.fusion_attention_forward(Q, K, QI, KI, V.astype(np.int32)), TypeError, r"v must be a floating-point array, got dtype int32"),
    ("fusion/list", lambda: gnp.fusion_attention_forward(Q, K.tolist(), QI, KI, V), TypeError, r"k_text must be an array"),
    ("fusion/dtypes", lambda: gnp.fusion_attention_forward(Q, K, f32(QI), KI, V), TypeError, r"q_image is float32"),
    ("fusion/batch", lambda: gnp.fusion_attention_forward(Q, K[:1], QI, KI[:1], V[:1]), ValueError, r"batch.*k_text \(1, 5, 4\)"),
    ("fusion/mask-int", lambda: gnp.fusion_attention_forward(Q, K, QI, KI, V, mask=np.ones((3, 5), np.int8)), TypeError, r"got int8"),
    ("fusion/mask-shape", lambda: gnp.fusion_attention_forward(Q, K, QI, KI, V, mask=np.ones((5, 3), bool)), ValueError, r"mask of shape \(5, 3\)"),
    ("fusion/scale", lambda: gnp.fusion_attention_forward(Q, K, QI, KI, V, scale=-2), ValueError, r"got -2.0"),
    ("fusion/scale-type", lambda: gnp.fusion_attention_forward(Q, K, QI, KI, V, scale=None or "x"), TypeError, r"scale must be a real number"),
    ("fusion_backward/shape", lambda: gnp.fusion_attention_backward(np.ones((2, 3)), cache["fusion"]), ValueError, r"dout has shape \(2, 3\) but the forward output had shape \(2, 3, 2\)"),
    ("fusion_backward/dtype", lambda: gnp.fusion_attention_backward(np.ones((2, 3, 2), np.float32), cache["fusion"]), TypeError, r"dtype float32"),
    # ---- patchify / unpatchify
    ("patchify/p=0", lambda: gnp.patchify(IMG, 0), ValueError, r"patch_size must be a positive int, got 0"),
    ("patchify/p=-1", lambda: gnp.patchify(IMG, -1), ValueError, r"got -1"),
    ("patchify/p=2.0", lambda: gnp.patchify(IMG, 2.0), TypeError, r"patch_size must be a positive int, got 2.0 \(float\)"),
    ("patchify/p=True", lambda: gnp.patchify(IMG, True), TypeError, r"got True \(bool\)"),
    ("patchify/p=None", lambda: gnp.patchify(IMG, None), TypeError, r"got None"),
    ("patchify/divide-H", lambda: gnp.patchify(IMG, 4), ValueError, r"patch_size 4 must divide .* H=4, W=6"),
    ("patchify/divide-both", lambda: gnp.patchify(IMG, 5), ValueError, r"patch_size 5 must divide .* H=4, W=6"),
    ("patchify/2d", lambda: gnp.patchify(IMG[0, 0], 2), ValueError, r"at least 3 dims, got shape \(6, 3\)"),
    ("patchify/list", lambda: gnp.patchify(IMG.tolist(), 2), TypeError, r"x must be an array \(numpy.ndarray or a CuPy / array-API array\), got list"),
    ("unpatchify/p", lambda: gnp.unpatchify(gnp.patchify(IMG, 2), 3), ValueError, r"hold 4 pixels per patch, but patch_size 3 needs p·p = 9"),
    ("unpatchify/3d", lambda: gnp.unpatchify(np.ones((3, 4, 3)), 2), ValueError, r"at least 4 dims, got shape \(3, 4, 3\)"),
    ("unpatchify/p=0", lambda: gnp.unpatchify(gnp.patchify(IMG, 2), 0), ValueError, r"positive int, got 0"),
    ("unpatchify/p=1.5", lambda: gnp.unpatchify(gnp.patchify(IMG, 2), 1.5), TypeError, r"got 1.5"),
    ("unpatchify/list", lambda: gnp.unpatchify([[[[1.0]]]], 1), TypeError, r"patches must be an array \(numpy.ndarray or a CuPy / array-API array\), got list"),
    # ---- patch attention
    ("patch_attention/p=0", lambda: gnp.patch_attention_forward(IMG, IMG, IMG, 0), ValueError, r"positive int, got 0"),
    ("patch_attention/p=-1", lambda: gnp.patch_attention_forward(IMG, IMG, IMG, -1), ValueError, r"got -1"),
    ("patch_attention/p=2.0", lambda: gnp.patch_attention_forward(IMG, IMG, IMG, 2.0), TypeError, r"got 2.0 \(float\)"),
    ("patch_attention/p=True", lambda: gnp.patch_attention_forward(IMG, IMG, IMG, True), TypeError, r"got True \(bool\)"),
    ("patch_attention/divide", lambda: gnp.patch_attention_forward(IMG, IMG, IMG, 4), ValueError, r"must divide .* H=4, W=6"),
    ("patch_attention/k-shape", lambda: gnp.patch_attention_forward(IMG, IMG[..., :2], IMG, 2), ValueError, r"q \(2, 4, 6, 3\), k \(2, 4, 6, 2\)"),
    ("patch_attention/v-shape", lambda: gnp.patch_attention_forward(IMG, IMG, IMG[:, :2], 2), ValueError, r"v \(2, 2, 6, 3\)"),
    ("patch_attention/2d", lambda: gnp.patch_attention_forward(IMG[0, 0], IMG[0, 0], IMG[0, 0], 2), ValueError, r"at least 3 dims, got shape \(6, 3\)"),
    ("patch_attention/int", lambda: gnp.patch_attention_forward(IMG, IMG, IMG.astype(int), 2), TypeError, r"v must be a floating-point array"),
    ("patch_attention/list", lambda: gnp.patch_attention_forward(IMG.tolist(), IMG, IMG, 2), TypeError, r"q must be an array"),
    ("patch_attention/dtypes", lambda: gnp.patch_attention_forward(IMG, f32(IMG), IMG, 2), TypeError, r"k is float32"),
    ("patch_attention/scale", lambda: gnp.patch_attention_forward(IMG, IMG, IMG, 2, scale=0.0), ValueError, r"scale must be positive"),
    ("patch_attention_backward/shape", lambda: gnp.patch_attention_backward(np.ones((2, 4, 6, 2)), cache["patch"]), ValueError, r"dout has shape \(2, 4, 6, 2\) .* \(2, 4, 6, 3\)"),
    ("patch_attention_backward/dtype", lambda: gnp.patch_attention_backward(f32(IMG), cache["patch"]), TypeError, r"dtype float32"),
    # ---- linear
    ("linear/int", lambda: F.linear_forward(X.astype(int), W, B), TypeError, r"x must be a floating-point array"),
    ("linear/list", lambda: F.linear_forward(X, W.tolist(), B), TypeError, r"w must be an array"),
    ("linear/0d", lambda: F.linear_forward(np.array(1.0), W, B), ValueError, r"x must have at least 1 dims"),
    ("linear/w-1d", lambda: F.linear_forward(X, W[0], B), ValueError, r"w must have at least 2 dims, got shape \(5,\)"),
    ("linear/w-3d", lambda: F.linear_forward(X, W[None], B), ValueError, r"x \(2, 3, 4\), w \(1, 4, 5\)"),
    ("linear/d_in", lambda: F.linear_forward(X, W[:3], B), ValueError, r"x \(2, 3, 4\), w \(3, 5\)"),
    ("linear/b", lambda: F.linear_forward(X, W, B[:4]), ValueError, r"b must have shape \(d_out,\) = \(5,\), got \(4,\)"),
    ("linear/dtypes", lambda: F.linear_forward(X, W, f32(B)), TypeError, r"b is float32"),
    ("linear_backward/shape", lambda: F.linear_backward(np.ones((2, 3, 4)), cache["linear"]), ValueError, r"dy has shape \(2, 3, 4\) .* \(2, 3, 5\)"),
    ("linear_backward/dtype", lambda: F.linear_backward(np.ones((2, 3, 5), np.float32), cache["linear"]), TypeError, r"dtype float32"),
    # ---- layer norm
    ("layer_norm/gamma", lambda: F.layer_norm_forward(X, np.ones(3), np.zeros(4)), ValueError, r"gamma must have shape \(d,\) = \(4,\) .* got \(3,\)"),
    ("layer_norm/beta", lambda: F.layer_norm_forward(X, np.ones(4), np.zeros((1, 4))), ValueError, r"beta .* got \(1, 4\)"),
    ("layer_norm/int", lambda: F.layer_norm_forward(X.astype(int), np.ones(4), np.zeros(4)), TypeError, r"x must be a floating"),
    ("layer_norm/list", lambda: F.layer_norm_forward(X, [1.0] * 4, np.zeros(4)), TypeError, r"gamma must be an array"),
    ("layer_norm/dtypes", lambda: F.layer_norm_forward(f32(X), np.ones(4), np.zeros(4)), TypeError, r"x is float32, gamma is float64"),
    ("layer_norm/eps-0", lambda: F.layer_norm_forward(X, np.ones(4), np.zeros(4), eps=0), ValueError, r"eps must be positive and finite, got 0"),
    ("layer_norm/eps-nan", lambda: F.layer_norm_forward(X, np.ones(4), np.zeros(4), eps=float("nan")), ValueError, r"got nan"),
    ("layer_norm/eps-inf", lambda: F.layer_norm_forward(X, np.ones(4), np.zeros(4), eps=float("inf")), ValueError, r"got inf"),
    ("layer_norm/eps-str", lambda: F.layer_norm_forward(X, np.ones(4), np.zeros(4), eps="1e-5"), TypeError, r"eps must be a real number, got str"),
    ("layer_norm/eps-array", lambda: F.layer_norm_forward(X, np.ones(4), np.zeros(4), eps=np.array([1e-5, 1e-5])), TypeError, r"eps must be a real number, got ndarray"),
    ("layer_norm_backward/shape", lambda: F.layer_norm_backward(np.ones((2, 3)), cache["layer_norm"]), ValueError, r"dy has shape \(2, 3\)"),
    ("layer_norm_backward/dtype", lambda: F.layer_norm_backward(f32(X), cache["layer_norm"]), TypeError, r"dtype float32"),
    # ---- activations
    ("relu/int", lambda: F.relu_forward(np.arange(3)), TypeError, r"x must be a floating-point array"),
    ("relu/list", lambda: F.relu_forward([1.0]), TypeError, r"x must be an array"),
    ("gelu/int", lambda: F.gelu_forward(np.arange(3)), TypeError, r"x must be a floating-point array"),
    ("gelu/list", lambda: F.gelu_forward(1.0), TypeError, r"x must be an array .*got float"),
    ("relu_backward/shape", lambda: F.relu_backward(np.ones(3), cache["relu"]), ValueError, r"dy has shape \(3,\)"),
    ("relu_backward/dtype", lambda: F.relu_backward(f32(X), cache["relu"]), TypeError, r"dtype float32"),
    ("gelu_backward/shape", lambda: F.gelu_backward(np.ones(3), cache["gelu"]), ValueError, r"dy has shape \(3,\)"),
    ("gelu_backward/dtype", lambda: F.gelu_backward(f32(X), cache["gelu"]), TypeError, r"dtype float32"),
    # ---- embedding
    ("embedding/float-ids", lambda: F.embedding_forward(IDS.astype(float), TABLE), TypeError, r"ids must be an integer array, got float64"),
    ("embedding/bool-ids", lambda: F.embedding_forward(IDS > 0, TABLE), TypeError, r"got bool"),
    ("embedding/list-ids", lambda: F.embedding_forward([[1]], TABLE), TypeError, r"got list"),
    ("embedding/int-table", lambda: F.embedding_forward(IDS, TABLE.astype(int)), TypeError, r"table must be a floating-point array"),
    ("embedding/table-1d", lambda: F.embedding_forward(IDS, TABLE[0]), ValueError, r"table must have at least 2 dims"),
    ("embedding/table-3d", lambda: F.embedding_forward(IDS, TABLE[None]), ValueError, r"table must be \(vocab_size, d\), got shape \(1, 5, 3\)"),
    ("embedding/too-big", lambda: F.embedding_forward(IDS + 1, TABLE), ValueError, r"ids must lie in \[0, vocab_size=5\) for a table of 5 rows; got values in \[1, 5\]"),
    ("embedding/negative", lambda: F.embedding_forward(IDS - 1, TABLE), ValueError, r"\[-1, 3\]"),
    ("embedding/pad-float", lambda: F.embedding_forward(IDS, TABLE, padding_id=0.0), TypeError, r"padding_id must be an int or None, got 0.0"),
    ("embedding/pad-bool", lambda: F.embedding_forward(IDS, TABLE, padding_id=True), TypeError, r"got True"),
    ("embedding_backward/shape", lambda: F.embedding_backward(np.ones((2, 2, 4)), cache["embedding"]), ValueError, r"dout has shape \(2, 2, 4\) .* \(2, 2, 3\)"),
    ("embedding_backward/dtype", lambda: F.embedding_backward(np.ones((2, 2, 3), np.float32), cache["embedding"]), TypeError, r"dtype float32"),
    # ---- masked mean
    ("masked_mean/mask-int", lambda: F.masked_mean_forward(X, SEQ_MASK.astype(int)), TypeError, r"mask must be a bool array .* got int64"),
    ("masked_mean/mask-float", lambda: F.masked_mean_forward(X, SEQ_MASK.astype(float)), TypeError, r"got float64"),
    ("masked_mean/mask-shape", lambda: F.masked_mean_forward(X, SEQ_MASK[:, :2]), ValueError, r"mask must have shape x.shape\[:-1\] = \(2, 3\), got \(2, 2\)"),
    ("masked_mean/mask-list", lambda: F.masked_mean_forward(X, SEQ_MASK.tolist()), TypeError, r"got list"),
    ("masked_mean/1d", lambda: F.masked_mean_forward(X[0, 0]), ValueError, r"x must have at least 2 dims, got shape \(4,\)"),
    ("masked_mean/int", lambda: F.masked_mean_forward(X.astype(int), SEQ_MASK), TypeError, r"x must be a floating"),
    ("masked_mean_backward/shape", lambda: F.masked_mean_backward(np.ones((2, 5)), cache["masked_mean"]), ValueError, r"dout has shape \(2, 5\) .* \(2, 4\)"),
    ("masked_mean_backward/dtype", lambda: F.masked_mean_backward(np.ones((2, 4), np.float32), cache["masked_mean"]), TypeError, r"dtype float32"),
    # ---- grouped linear (the image encoder's per-pixel embedding)
    ("grouped_linear/int", lambda: F.grouped_linear_forward(XG.astype(int), WG, B), TypeError, r"x must be a floating-point array"),
    ("grouped_linear/1d-x", lambda: F.grouped_linear_forward(XG[0, 0], WG, B), ValueError, r"x must have at least 2 dims, got shape \(4,\)"),
    ("grouped_linear/w-2d", lambda: F.grouped_linear_forward(XG, WG[0], B), ValueError, r"w must have at least 3 dims, got shape \(4, 5\)"),
    ("grouped_linear/groups", lambda: F.grouped_linear_forward(XG, WG[:2], B), ValueError, r"x \(2, 3, 4\), w \(2, 4, 5\)"),
    ("grouped_linear/b", lambda: F.grouped_linear_forward(XG, WG, B[:4]), ValueError, r"b must have shape \(d_out,\) = \(5,\), got \(4,\)"),
    ("grouped_linear/dtypes", lambda: F.grouped_linear_forward(f32(XG), WG, B), TypeError, r"x is float32"),
    ("grouped_linear_backward/shape", lambda: F.grouped_linear_backward(np.ones((2, 3, 4)), cache["grouped_linear"]), ValueError, r"dy has shape \(2, 3, 4\) .* \(2, 3, 5\)"),
    ("grouped_linear_backward/dtype", lambda: F.grouped_linear_backward(np.ones((2, 3, 5), np.float32), cache["grouped_linear"]), TypeError, r"dtype float32"),
    # ---- sigmoid / BCE
    ("sigmoid/int", lambda: F.sigmoid(np.arange(3)), TypeError, r"z must be a floating-point array"),
    ("sigmoid/list", lambda: F.sigmoid([0.0]), TypeError, r"z must be an array"),
    ("bce/int-logits", lambda: F.bce_with_logits_forward(np.arange(4), LABELS), TypeError, r"logits must be a floating"),
    ("bce/int-labels", lambda: F.bce_with_logits_forward(Z, np.ones(4, int)), TypeError, r"labels must be a floating"),
    ("bce/shape", lambda: F.bce_with_logits_forward(Z, LABELS[:3]), ValueError, r"logits \(4,\) and labels \(3,\)"),
    ("bce/dtypes", lambda: F.bce_with_logits_forward(f32(Z), LABELS), TypeError, r"logits is float32, labels is float64"),
    ("bce_backward/shape", lambda: F.bce_with_logits_backward(np.ones(4), cache["bce"]), ValueError, r"dloss must be a scalar \(0-d\) .* got shape \(4,\)"),
    ("bce_backward/int-array", lambda: F.bce_with_logits_backward(np.array(1), cache["bce"]), TypeError, r"dloss must be a floating-point array"),
    ("bce_backward/bool", lambda: F.bce_with_logits_backward(True, cache["bce"]), TypeError, r"dloss must be a real number"),
    ("bce_backward/str", lambda: F.bce_with_logits_backward("1", cache["bce"]), TypeError, r"dloss must be an array.*str"),
    # ---- gradcheck helpers
    ("rel_error/shapes", lambda: gnp.rel_error(np.ones(2), np.ones(3)), ValueError, r"same shape, got \(2,\) and \(3,\)"),
]


@pytest.mark.parametrize("call, exc, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_rejected_with_a_helpful_message(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_fusion_shape_error_names_both_logit_shapes_literally():
    with pytest.raises(ValueError) as info:
        gnp.fusion_attention_forward(np.ones((2, 3)), np.ones((5, 3)), np.ones((4, 2)), np.ones((7, 2)), np.ones((5, 1)))
    message = str(info.value)
    assert "(2, 5)" in message and "(4, 7)" in message  # (n_q, n_k) of each view


# ---------------------------------------------------------------- the helpers of gemini_np.validation


@pytest.mark.parametrize("call, error, message", [
    (lambda: validation.check_positive_int("3", "n"), TypeError, r"n must be a positive int, got '3' \(str\)"),
    (lambda: validation.check_positive_int(3.0, "n"), TypeError, r"got 3.0 \(float\)"),
    (lambda: validation.check_positive_int(True, "n"), TypeError, r"got True \(bool\)"),
    (lambda: validation.check_positive_int(0, "n"), ValueError, "n must be a positive int, got 0"),
    (lambda: validation.check_int(None, "seed"), TypeError, "seed must be an int, got None"),
    (lambda: validation.check_int(-2, "seed", minimum=0), ValueError, "seed must be an int >= 0, got -2"),
    (lambda: validation.check_real("1", "lr"), TypeError, "lr must be a real number, got str"),
    (lambda: validation.check_real(True, "lr"), TypeError, "lr must be a real number, got bool"),
    (lambda: validation.check_real(np.array(0.5), "lr"), TypeError, "lr must be a real number, got ndarray"),
    (lambda: validation.check_real(10**400, "scale"), ValueError, "scale must be finite, got an integer of 401 digits, beyond"),
    (lambda: validation.check_real(float("nan"), "x"), ValueError, "x must be finite, got nan"),
    (lambda: validation.check_real(0.0, "x", positive=True), ValueError, "x must be positive and finite, got 0.0"),
    (lambda: validation.check_real(2.0, "p", minimum=0.0, maximum=1.0), ValueError, r"p must lie in \[0, 1\], got 2"),
    (lambda: validation.check_choice("lbfgs", "optimizer", ("adam", "sgd")), ValueError,
     "optimizer must be one of 'adam', 'sgd'; got 'lbfgs'"),
    (lambda: validation.check_dtype("float16"), ValueError, "dtype must be 'float64' or 'float32', got 'float16'"),
    (lambda: validation.check_dtype(object()), TypeError, "dtype must be 'float64' or 'float32', got"),
    (lambda: validation.check_scale(None, 0), ValueError, r"q has d_k = 0 \(its last dim\): the default scale 1/√d_k is undefined"),
    (lambda: validation.check_scale("0.5", 4), TypeError, "scale must be a real number, got str"),
])
def test_validation_helpers_follow_the_rule(call, error, message):
    """TypeError: the wrong kind of object. ValueError: the right kind with a bad value."""
    with pytest.raises(error, match=message):
        call()


def test_validation_helpers_return_plain_python_values():
    assert type(validation.check_positive_int(np.int64(3), "n")) is int
    assert type(validation.check_real(np.float32(0.5), "x")) is float  # so float32 * scale stays float32
    assert validation.check_real(3, "x") == 3.0
    assert validation.check_dtype(None) == "float64" and validation.check_dtype(np.float32) == "float32"
    assert validation.check_scale(None, 4) == 0.5 and validation.check_scale(2, 4) == 2.0
    assert validation.check_choice(None, "ablate", (None, "text")) is None
    assert validation.check_int(10**400, "n") == 10**400  # a huge int is still an int


def test_a_zero_width_query_has_no_default_scale():
    """d_k = 0 makes 1/√d_k undefined: a ValueError naming the shape, not a ZeroDivisionError."""
    q = np.zeros((2, 3, 0))
    with pytest.raises(ValueError, match=r"q has d_k = 0"):
        gnp.attention_forward(q, q[:, :2], np.zeros((2, 2, 4)))
    with pytest.raises(ValueError, match=r"q_text has d_k = 0"):
        gnp.fusion_attention_forward(q, q, np.zeros((2, 3, 1)), np.zeros((2, 3, 1)), np.zeros((2, 3, 1)))


# ---------------------------------------------------------------- every op of the registry
OP_IDS = [op.name for op in OPS]


def _example(op):
    example = op.make_example(TINY)
    return dict(example.inputs), dict(example.static)


#: Package issues reported to the lead (each marks one generic case until it is fixed).
KNOWN_ISSUES: dict = {}
#: Ops whose inputs may be of any dtype by design: patchify only moves numbers (test_patch.py
#: rearranges int64 images), so integer "pixels" are valid input, not a mistake.
ANY_DTYPE = {"patchify / unpatchify"}


def _param(op, name, *values):
    reason = KNOWN_ISSUES.get((op.name, name))
    marks = pytest.mark.xfail(strict=True, reason=reason) if reason else ()
    return pytest.param(op, *values, id=f"{op.name}: {name}" if values else op.name, marks=marks)


def _array_arguments():
    """(op, argument name) for every array argument of every entry: its inputs and its static arrays."""
    cases = []
    for op in OPS:
        inputs, static = _example(op)
        names = list(inputs) + [k for k, v in static.items() if isinstance(v, np.ndarray)]
        cases += [_param(op, name, name) for name in names]
    return cases


def _float_inputs(min_count=1):
    cases = []
    for op in OPS:
        inputs, _ = _example(op)
        if len(inputs) >= min_count and op.name not in ANY_DTYPE:
            cases += [_param(op, name, name) for name in inputs]
    return cases


def _checking_dout(what):
    return [_param(op, what) for op in OPS if op.checks_dout]


def _names(name):
    """A regex that finds the argument's name as a word of the message."""
    return rf"(?<![A-Za-z_]){re.escape(name)}(?![A-Za-z_])"


@pytest.mark.parametrize("op, name", _array_arguments())
def test_every_array_argument_given_as_a_list_is_a_type_error_naming_it(op, name):
    inputs, static = _example(op)
    arguments = {**inputs, **static}
    arguments[name] = arguments[name].tolist()
    with pytest.raises(TypeError, match=_names(name)) as info:
        op.forward(**arguments)
    assert "list" in str(info.value)


@pytest.mark.parametrize("op, name", _float_inputs())
def test_every_float_input_given_as_integers_is_a_type_error_naming_it(op, name):
    inputs, static = _example(op)
    inputs[name] = np.round(inputs[name] * 3).astype(np.int64)
    with pytest.raises(TypeError, match=_names(name)):
        op.forward(**inputs, **static)


@pytest.mark.parametrize("op, name", _float_inputs(min_count=2))
def test_one_float32_input_among_float64_ones_is_a_type_error(op, name):
    """float32 in means float32 out: mixing dtypes is refused, not silently promoted to float64."""
    inputs, static = _example(op)
    inputs[name] = inputs[name].astype(np.float32)
    with pytest.raises(TypeError, match=rf"{_names(name)}.*float32|float32.*{_names(name)}"):
        op.forward(**inputs, **static)


def _forward(op):
    inputs, static = _example(op)
    out, cache = op.forward(**inputs, **static)
    return np.asarray(out), cache


@pytest.mark.parametrize("op", _checking_dout("dout shape"))
def test_backward_refuses_a_dout_of_the_wrong_shape_naming_both_shapes(op):
    out, cache = _forward(op)
    wrong = out.shape[:-1] + (out.shape[-1] + 1,) if out.ndim else (2,)
    with pytest.raises(ValueError) as info:
        op.backward(np.ones(wrong), cache)
    message = str(info.value)
    expected = str(out.shape) if out.ndim else "0-d"  # a scalar loss: "must be a scalar (0-d)"
    assert str(wrong) in message and expected in message, message


@pytest.mark.parametrize("op", _checking_dout("dout dtype"))
def test_backward_refuses_a_dout_of_the_wrong_dtype(op):
    out, cache = _forward(op)
    with pytest.raises(TypeError, match="float32"):
        op.backward(np.ones(out.shape, np.float32), cache)


@pytest.mark.parametrize("op", OPS, ids=OP_IDS)
def test_the_valid_example_passes_every_check(op):
    """The generic tests above change one thing at a time: the unchanged example must be accepted."""
    out, cache = _forward(op)
    grads = as_tuple(op.backward(np.ones(out.shape), cache))
    assert len(grads) == len(_example(op)[0])


def test_valid_edge_values_are_accepted():
    """The checks do not reject what is legal: an int scale, a float32 scale, p = 1, a float16 mask."""
    gnp.attention_forward(Q, K, V, scale=1)
    gnp.attention_forward(Q, K, V, scale=np.float32(0.5))
    gnp.attention_forward(Q, K, V, mask=np.zeros((5,), np.float16))
    gnp.patch_attention_forward(IMG, IMG, IMG, np.int64(1))
    F.embedding_forward(IDS, TABLE, padding_id=np.int32(0))
    F.layer_norm_forward(X, np.ones(4), np.zeros(4), eps=np.float32(1e-3))


# ---------------------------------------------------------------- inputs are never modified
def _snapshot(arrays):
    return [np.array(a, copy=True) for a in arrays]


def _assert_unchanged(before, after):
    for b, a in zip(before, after):
        assert b.dtype == a.dtype and b.shape == a.shape
        assert b.tobytes() == a.tobytes(), "an input was modified in place"


def _calls():
    """(name, inputs, run): run(*inputs) calls a forward and then its backward on those inputs."""
    r = np.random.default_rng(1)
    bool_mask = r.random((3, 5)) > 0.3
    float_mask = np.where(bool_mask, 0.0, -np.inf)
    dq = r.standard_normal((2, 3, 2))
    return [
        ("softmax", [Q.copy(), dq.copy()[..., :1].repeat(4, -1)],
         lambda x, dy: gnp.softmax_backward(dy, gnp.softmax(x))),
        ("attention", [Q.copy(), K.copy(), V.copy(), bool_mask, dq.copy()],
         lambda q, k, v, m, d: gnp.attention_backward(d, gnp.attention_forward(q, k, v, mask=m)[1])),
        ("attention/float-mask", [Q.copy(), K.copy(), V.copy(), float_mask, dq.copy()],
         lambda q, k, v, m, d: gnp.attention_backward(d, gnp.attention_forward(q, k, v, mask=m, scale=0.5)[1])),
        ("attention/blocked", [Q.copy(), K.copy(), V.copy(), float_mask, dq.copy()],
         lambda q, k, v, m, d: gnp.attention_backward(d, gnp.attention_forward(q, k, v, mask=m, block_size=2)[1])),
        ("fusion", [Q.copy(), K.copy(), QI.copy(), KI.copy(), V.copy(), float_mask, dq.copy()],
         lambda a, b, c, e, v, m, d: gnp.fusion_attention_backward(d, gnp.fusion_attention_forward(a, b, c, e, v, mask=m)[1])),
        ("patchify", [IMG.copy()], lambda x: gnp.unpatchify(gnp.patchify(x, 2), 2)),
        ("patch_attention", [IMG.copy(), IMG.copy() * 2, IMG.copy() * 3, IMG.copy()],
         lambda q, k, v, d: gnp.patch_attention_backward(d, gnp.patch_attention_forward(q, k, v, 2)[1])),
        ("linear", [X.copy(), W.copy(), B.copy(), np.ones((2, 3, 5))],
         lambda x, w, b, d: F.linear_backward(d, F.linear_forward(x, w, b)[1])),
        ("layer_norm", [X.copy(), np.ones(4) * 2, np.ones(4), X.copy()],
         lambda x, g, b, d: F.layer_norm_backward(d, F.layer_norm_forward(x, g, b)[1])),
        ("relu", [X.copy(), X.copy() * 2], lambda x, d: F.relu_backward(d, F.relu_forward(x)[1])),
        ("gelu", [X.copy(), X.copy() * 2], lambda x, d: F.gelu_backward(d, F.gelu_forward(x)[1])),
        ("embedding", [IDS.copy(), TABLE.copy(), np.ones((2, 2, 3))],
         lambda i, t, d: F.embedding_backward(d, F.embedding_forward(i, t)[1])),
        ("masked_mean", [X.copy(), SEQ_MASK.copy(), np.ones((2, 4))],
         lambda x, m, d: F.masked_mean_backward(d, F.masked_mean_forward(x, m)[1])),
        ("sigmoid+bce", [Z.copy(), LABELS.copy(), np.asarray(1.0)],
         lambda z, y, d: (F.sigmoid(z), F.bce_with_logits_backward(d, F.bce_with_logits_forward(z, y)[1]))),
        ("numerical_gradient", [Z.copy()], lambda x: gnp.numerical_gradient(lambda t: np.sum(t**2), x)),
        ("check_gradients", [Q.copy(), K.copy(), V.copy()],
         lambda q, k, v: gnp.check_gradients(gnp.attention_forward, gnp.attention_backward, {"q": q, "k": k, "v": v})),
    ]


@pytest.mark.parametrize("name, inputs, run", _calls(), ids=[c[0] for c in _calls()])
def test_inputs_are_never_modified_in_place(name, inputs, run):
    before = _snapshot(inputs)
    run(*inputs)
    _assert_unchanged(before, inputs)


@pytest.mark.parametrize("block_size", [None, 2])
def test_backward_leaves_the_cache_unchanged_and_can_run_twice(block_size):
    """The kernels reuse buffers in place; none of them may be a cached array."""
    r = np.random.default_rng(2)
    dout = r.standard_normal((2, 3, 2))
    runs = [
        (gnp.attention_forward(Q, K, V, mask=r.random((3, 5)) > 0.3, block_size=block_size)[1], gnp.attention_backward, dout),
        (gnp.fusion_attention_forward(Q, K, QI, KI, V, mask=r.standard_normal((3, 5)))[1], gnp.fusion_attention_backward, dout),
        (gnp.patch_attention_forward(IMG, IMG, IMG, 2)[1], gnp.patch_attention_backward, IMG),
    ]
    for cache_, backward, d in runs:
        leaves = [a for a in _flatten(cache_) if isinstance(a, np.ndarray)]
        before = _snapshot(leaves)
        first = backward(d, cache_)
        second = backward(d, cache_)
        _assert_unchanged(before, leaves)
        for a, b in zip(first, second):
            np.testing.assert_array_equal(a, b)


def _forward_runs():
    """(name, forward() -> (out, cache), backward, dout) for every op whose cache keeps its output."""
    r = np.random.default_rng(3)
    float_mask = np.where(r.random((3, 5)) > 0.3, r.standard_normal((3, 5)), -np.inf)
    dout = r.standard_normal((2, 3, 2))
    return [
        ("attention", lambda: gnp.attention_forward(Q, K, V, mask=float_mask), gnp.attention_backward, dout),
        ("attention, blocked", lambda: gnp.attention_forward(Q, K, V, mask=float_mask, block_size=2),
         gnp.attention_backward, dout),
        ("fusion", lambda: gnp.fusion_attention_forward(Q, K, QI, KI, V, mask=float_mask), gnp.fusion_attention_backward,
         dout),
        ("patch attention", lambda: gnp.patch_attention_forward(IMG, IMG * 2, IMG * 3, 2), gnp.patch_attention_backward,
         r.standard_normal(IMG.shape)),
    ]


def add_one(out):
    out += 1


def set_to_zero(out):
    out[...] = 0


def set_to_nan(out):
    out[...] = np.nan


@pytest.mark.parametrize("edit", [add_one, set_to_zero, set_to_nan], ids=["out += 1", "out[...] = 0", "out[...] = nan"])
@pytest.mark.parametrize("name, forward, backward, dout", _forward_runs(), ids=[c[0] for c in _forward_runs()])
def test_editing_the_returned_output_leaves_the_gradients_unchanged(name, forward, backward, dout, edit):
    """The cache keeps its own copy of out (the backward reads rowsum(dO ∘ O) from it)."""
    out, cache = forward()
    expected = backward(dout, cache)
    out, cache = forward()
    edit(out)
    assert not np.array_equal(out, forward()[0], equal_nan=True)  # the edit really changed the returned array
    for got, want in zip(backward(dout, cache), expected):
        np.testing.assert_array_equal(got, want)  # exactly the same gradients


@pytest.mark.parametrize("name, forward, backward, dout", [c for c in _forward_runs() if c[0] != "attention, blocked"],
                         ids=[c[0] for c in _forward_runs() if c[0] != "attention, blocked"])
def test_cache_weights_are_read_only(name, forward, backward, dout):
    out, cache = forward()
    assert not cache.weights.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        cache.weights[...] = 0.0
    expected = backward(dout, cache)
    weights = np.array(cache.weights)
    weights /= 2  # a copy may be edited freely
    for got, want in zip(backward(dout, cache), expected):
        np.testing.assert_array_equal(got, want)


def test_the_blocked_cache_keeps_no_weights_to_edit():
    _, cache = gnp.attention_forward(Q, K, V, block_size=2)
    assert cache.weights is None


def _flatten(obj):
    if isinstance(obj, tuple):
        for item in obj:
            yield from _flatten(item)
    else:
        yield obj


# --- edge cases found in review: empty key axis, padding id outside the table ---------------


def test_attention_with_no_keys_names_the_shape():
    q = np.zeros((2, 3, 4))
    k = np.zeros((2, 0, 4))
    v = np.zeros((2, 0, 5))
    with pytest.raises(ValueError, match=r"at least one key.*\(2, 0, 4\)"):
        gnp.attention_forward(q, k, v)
    with pytest.raises(ValueError, match=r"at least one key.*k_text"):
        gnp.fusion_attention_forward(q, k, q, k, v)


def test_softmax_over_an_empty_axis_names_the_shape():
    with pytest.raises(ValueError, match=r"empty axis.*\(3, 0\)"):
        gnp.softmax(np.zeros((3, 0)))


@pytest.mark.parametrize("padding_id", [-1, 5, 99])
def test_embedding_padding_id_outside_the_table(padding_id):
    from gemini_np.functional import embedding_forward

    with pytest.raises(ValueError, match=rf"padding_id must lie in \[0, 5\).*{padding_id}"):
        embedding_forward(np.array([[1, 2]]), np.zeros((5, 3)), padding_id=padding_id)
