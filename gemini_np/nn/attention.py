"""Multi-head self-attention over a sequence, and over the pixels of each image patch.

Multi-head attention runs h independent attentions of width d_head = d/h side
by side. The heads are made explicit with two pure rearrangements:

    split_heads:  (B, n, d)  --reshape-->  (B, n, h, d_head)  --permute-->  (B, h, n, d_head)
    merge_heads:  the exact inverse

so that ``attention_forward`` sees the heads as one more batch dimension.
Splitting is a pure rearrangement, so its backward is merging (and vice versa).

The modules validate their own inputs once (``x`` through the first linear
projection, ``key_mask`` here), then call the unchecked attention cores
(``_attention_forward``, ...): the arrays those see are the module's own
projections, whose shapes cannot be wrong.
"""
from __future__ import annotations

import math

from ..backend import array_namespace
from ..functional import linear_backward, linear_forward
from ..functional.attention import _attention_backward, _attention_forward
from ..functional.fusion import _fusion_attention_backward, _fusion_attention_forward
from ..validation import check_key_mask, check_positive_int
from .module import Module, resolve_rng


def split_heads(x, n_heads, token_dims=1):
    """(B..., tokens..., d) -> (B..., h, tokens..., d/h).

    token_dims: how many axes before the feature axis are token axes (1 for a
    sequence (n,), 3 for an image in patch layout (H/p, W/p, p·p)). Head j gets
    features j·d_head ... (j+1)·d_head − 1.
    """
    xp = array_namespace(x)
    *lead, d = x.shape
    if d % n_heads:
        raise ValueError(f"d_model={d} is not divisible by n_heads={n_heads} (x {tuple(x.shape)})")
    x = xp.reshape(x, (*lead, n_heads, d // n_heads))  # (B..., tokens..., h, d_head)
    head_axis = x.ndim - 2
    first_token_axis = head_axis - token_dims
    order = (*range(first_token_axis), head_axis, *range(first_token_axis, head_axis), x.ndim - 1)
    return xp.permute_dims(x, order)  # (B..., h, tokens..., d_head)


def merge_heads(x, token_dims=1):
    """(B..., h, tokens..., d_head) -> (B..., tokens..., h·d_head): the inverse of :func:`split_heads`."""
    xp = array_namespace(x)
    head_axis = x.ndim - 2 - token_dims
    order = (*range(head_axis), *range(head_axis + 1, x.ndim - 1), head_axis, x.ndim - 1)
    x = xp.permute_dims(x, order)  # (B..., tokens..., h, d_head)
    *lead, h, d_head = x.shape
    return xp.reshape(x, (*lead, h * d_head))


class _HeadedProjections(Module):
    """Shared parts: the input projections (W_q, W_k, W_v, each (d, d)) and the output W_o, b_o.

    The input projections have no bias: a key bias adds the same q·b_k to
    every logit of a row, which softmax ignores, so it could never learn.
    """

    token_dims = 1  # token axes between batch and features: 1 for (n,), 3 for (H/p, W/p, p·p)
    in_names = ("w_q", "w_k", "w_v")

    def __init__(self, d_model, n_heads, rng=None, dtype="float64"):
        super().__init__(dtype)
        d_model, n_heads = check_positive_int(d_model, "d_model"), check_positive_int(n_heads, "n_heads")
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}")
        self.d_model, self.n_heads = d_model, n_heads
        self.scale = 1.0 / math.sqrt(d_model // n_heads)  # 1/√d_head: each head is an attention of width d_head
        rng = resolve_rng(rng)
        std = d_model ** -0.5
        for name in (*self.in_names, "w_o"):
            self.add_param(name, rng.standard_normal((d_model, d_model)) * std)
        self.add_param("b_o", [0.0] * d_model)
        self.weights = None  # the last attention matrices, for plots

    def _project_in(self, x):
        """Q = X W_q, K = X W_k, V = X W_v (one per name in ``in_names``), each split into heads."""
        self._in_caches = []
        heads = []
        for name in self.in_names:
            y, cache = linear_forward(x, self._params[name])
            self._in_caches.append(cache)
            heads.append(split_heads(y, self.n_heads, self.token_dims))
        return heads

    def _project_out(self, out_heads):
        """Merge the heads, then O W_o + b_o."""
        merged = merge_heads(out_heads, self.token_dims)
        y, self._out_cache = linear_forward(merged, self._params["w_o"], self._params["b_o"])
        return y

    def _backward_out(self, dy):
        do, self._grads["w_o"], self._grads["b_o"] = linear_backward(dy, self._out_cache)
        return split_heads(do, self.n_heads, self.token_dims)

    def _backward_in(self, *d_heads):
        dx = None
        for name, dh, cache in zip(self.in_names, d_heads, self._in_caches):
            dxi, self._grads[name], _ = linear_backward(merge_heads(dh, self.token_dims), cache)
            dx = dxi if dx is None else dx + dxi  # X feeds every projection: the gradients add up
        return dx


class MultiHeadSelfAttention(_HeadedProjections):
    """Self-attention over a sequence: softmax(Q Kᵀ/√d_head + mask) V per head, then W_o.

    x: (B, n, d_model); key_mask: optional bool (B, n), True for real tokens,
    False for padding (padded *keys* get zero weight). Returns (B, n, d_model).
    ``self.weights`` holds the last attention matrices (B, h, n, n).
    """

    def forward(self, x, key_mask=None):
        q, k, v = self._project_in(x)  # (B, h, n, d_head) each
        key_mask = check_key_mask(key_mask, x)
        mask = None if key_mask is None else key_mask[:, None, None, :]  # (B, 1, 1, n): same for every head and query
        out, self._cache = _attention_forward(q, k, v, mask, self.scale)
        self.weights = self._cache.weights
        return self._project_out(out)

    def backward(self, dy):
        """dy: (B, n, d_model). Returns dx (B, n, d_model)."""
        dout = self._backward_out(dy)
        return self._backward_in(*_attention_backward(dout, self._cache))


class PatchSelfAttention(_HeadedProjections):
    """Each pixel attends to the pixels of its own p×p patch (the article's Q_ij K_ijᵀ V_ij), per head.

    x: (B, H/p, W/p, p·p, d_model), an image in the *patch layout* of
    :func:`~gemini_np.functional.patchify`, -> the same shape. In that layout the
    article's per-patch attention is ordinary attention over the p·p pixels of
    each patch, batched over the patch grid: with the heads split off,
    ``attention_forward`` sees q, k, v of shape (B, h, H/p, W/p, p·p, d_head).
    (:func:`~gemini_np.functional.patch_attention_forward` does the same on the
    (H, W) layout, patchifying on the way in and out; the tests check the two agree.)
    ``self.weights`` holds the last attention matrices (B, h, H/p, W/p, p·p, p·p).
    """

    token_dims = 3  # (H/p, W/p, p·p)

    def forward(self, x):
        q, k, v = self._project_in(x)  # (B, h, H/p, W/p, p·p, d_head) each
        out, self._cache = _attention_forward(q, k, v, None, self.scale)  # softmax(Q_ij K_ijᵀ/√d_head) V_ij, each (i, j)
        self.weights = self._cache.weights
        return self._project_out(out)

    def backward(self, dy):
        dout = self._backward_out(dy)
        return self._backward_in(*_attention_backward(dout, self._cache))


class FusionAttention(_HeadedProjections):
    """Summed-logit fusion attention (the article's fusion layer), per head:

        softmax((Q_t K_tᵀ + Q_i K_iᵀ)/√d_head + mask) V,    then W_o

    with a text-view pair Q_t = Z W_q_text, K_t = Z W_k_text and an image-view
    pair Q_i = Z W_q_image, K_i = Z W_k_image, all projected from the same
    joint sequence Z, so the two logit matrices always have the same shape.

    z: (B, L, d_model); key_mask: optional bool (B, L), True = a real token.
    Returns (B, L, d_model); ``self.weights`` holds P (B, h, L, L).
    """

    in_names = ("w_q_text", "w_k_text", "w_q_image", "w_k_image", "w_v")

    def forward(self, z, key_mask=None):
        q_t, k_t, q_i, k_i, v = self._project_in(z)  # (B, h, L, d_head) each
        key_mask = check_key_mask(key_mask, z)
        mask = None if key_mask is None else key_mask[:, None, None, :]  # (B, 1, 1, L)
        out, self._cache = _fusion_attention_forward(q_t, k_t, q_i, k_i, v, mask, self.scale)
        self.weights = self._cache.weights
        return self._project_out(out)

    def backward(self, dy):
        dout = self._backward_out(dy)
        return self._backward_in(*_fusion_attention_backward(dout, self._cache))
