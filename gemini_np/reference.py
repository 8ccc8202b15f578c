"""The textbook version of every attention op: the one to read.

Plain NumPy, one formula per line, each commented in the article's notation.
The tuned kernels in :mod:`gemini_np.functional` compute exactly these lines,
optimised (buffers reused in place, cheaper operand orders); the tests hold
them to these functions within 1e-12. Same signatures and return values as the
public ops: ``forward(...) -> (out, cache)`` with ``cache.weights`` = P, and
``backward(dout, cache)`` -> the gradients of the inputs, in order.

Masks: bool True = may attend; a float mask is added to the scaled logits.
A query whose keys are all masked out gets zero output and zero gradients.
No input checks here: call the public ops (``gemini_np.attention_forward``, ...)
for clear error messages.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

T = np.matrix_transpose  # T(x) = xᵀ: swaps the last two axes, so batch dims stay put


# ----------------------------------------------------------------------------- softmax


def softmax(x, axis=-1):
    """y_i = exp(x_i − m) / Σ_j exp(x_j − m) along ``axis``, with m = max_j x_j.

    x: (..., n) -> y, same shape and dtype; each slice along ``axis`` sums to 1.
    Subtracting m changes nothing (softmax is shift-invariant) but keeps exp ≤ 1.
    """
    m = np.max(x, axis=axis, keepdims=True)      # m = max_j x_j
    m = np.where(m == -np.inf, 0.0, m)           # masked row (all −∞): shift by 0, as −∞ − (−∞) = NaN
    e = np.exp(x - m)                            # e_i = exp(x_i − m)
    total = np.sum(e, axis=axis, keepdims=True)  # Σ_j e_j
    total = np.where(total == 0, 1.0, total)     # ... and divide its zeros by 1: they stay 0
    return e / total                             # y_i = e_i / Σ_j e_j


def softmax_backward(dy, y, axis=-1):
    """dx for y = softmax(x), from ∂y_i/∂x_j = y_i (δ_ij − y_j).  dy, y: (..., n) -> dx (..., n)."""
    rowsum = np.sum(dy * y, axis=axis, keepdims=True)  # Σ_i dy_i y_i
    return y * (dy - rowsum)                            # dx_j = y_j (dy_j − Σ_i dy_i y_i)


def apply_mask(S, mask):
    """The masked logits: S + mask for a float mask; S, or −∞ where a bool mask is False."""
    if mask is None:
        return S
    if mask.dtype == bool:
        return np.where(mask, S, -np.inf)  # may not attend: exp(−∞) = 0, a weight of exactly 0
    return S + mask.astype(S.dtype)        # a bias on the logits (float32 stays float32)


def default_scale(scale, d_k):
    """1/√d_k unless given; a Python float, so that float32 · scale stays float32."""
    return 1 / math.sqrt(d_k) if scale is None else float(scale)


# ----------------------------------------------------------------------------- attention


class AttentionCache(NamedTuple):
    q: np.ndarray        # (..., n_q, d_k)
    k: np.ndarray        # (..., n_k, d_k)
    v: np.ndarray        # (..., n_k, d_v)
    scale: float
    weights: np.ndarray  # P, (..., n_q, n_k)


def attention_forward(q, k, v, mask=None, scale=None):
    """softmax(Q Kᵀ / √d_k + mask) V, the article's scaled dot-product attention.

    q: (..., n_q, d_k), k: (..., n_k, d_k), v: (..., n_k, d_v);
    mask: None, bool or float, broadcastable to (..., n_q, n_k); scale: default 1/√d_k.
    Returns out (..., n_q, d_v) and the cache; cache.weights is P (..., n_q, n_k).
    """
    scale = default_scale(scale, q.shape[-1])
    S = q @ T(k) * scale     # S = Q Kᵀ / √d_k         (..., n_q, n_k)
    S = apply_mask(S, mask)  # S = S + mask
    P = softmax(S, axis=-1)  # P = softmax(S)          each query's weights sum to 1
    out = P @ v              # O = P V                 (..., n_q, d_v)
    return out, AttentionCache(q, k, v, scale, P)


def attention_backward(dout, cache):
    """Gradients of :func:`attention_forward`: its lines in reverse.

    dout: (..., n_q, d_v) -> (dq, dk, dv), shaped like q, k, v.
    A masked-out key has P = 0, so dS = 0 there: no gradient flows through it.
    """
    q, k, v, scale, P = cache
    # from O = P V
    dv = T(P) @ dout                                 # dV = Pᵀ dO
    dP = dout @ T(v)                                 # dP = dO Vᵀ
    # from P = softmax(S)
    rowsum = np.sum(dP * P, axis=-1, keepdims=True)  # rowsum(dP ∘ P)
    dS = P * (dP - rowsum)                           # dS = P ∘ (dP − rowsum(dP ∘ P))
    # from S = S + mask: nothing to do, the mask is a constant
    # from S = Q Kᵀ · scale
    dq = scale * dS @ k                              # dQ = scale · dS K
    dk = scale * T(dS) @ q                           # dK = scale · dSᵀ Q
    return dq, dk, dv


# ----------------------------------------------------------------------------- fusion


class FusionCache(NamedTuple):
    q_text: np.ndarray   # (..., n_q, d_t)
    k_text: np.ndarray   # (..., n_k, d_t)
    q_image: np.ndarray  # (..., n_q, d_i)
    k_image: np.ndarray  # (..., n_k, d_i)
    v: np.ndarray        # (..., n_k, d_v)
    scale: float
    weights: np.ndarray  # P, (..., n_q, n_k)


def fusion_attention_forward(q_text, k_text, q_image, k_image, v, mask=None, scale=None):
    """softmax(Q_t K_tᵀ / √d_k + Q_i K_iᵀ / √d_k + mask) V, the article's fusion layer (§4.1).

    q_text: (..., n_q, d_t), k_text: (..., n_k, d_t), q_image: (..., n_q, d_i),
    k_image: (..., n_k, d_i), v: (..., n_k, d_v); mask as in :func:`attention_forward`;
    scale: default 1/√d_k with d_k = d_t. Returns out (..., n_q, d_v) and the cache.
    """
    scale = default_scale(scale, q_text.shape[-1])
    S = (q_text @ T(k_text) + q_image @ T(k_image)) * scale  # S = (Q_t K_tᵀ + Q_i K_iᵀ) / √d_k
    S = apply_mask(S, mask)                                  # S = S + mask
    P = softmax(S, axis=-1)                                  # P = softmax(S)
    out = P @ v                                              # O = P V
    return out, FusionCache(q_text, k_text, q_image, k_image, v, scale, P)


def fusion_attention_backward(dout, cache):
    """Gradients of :func:`fusion_attention_forward`: its lines in reverse.

    dout: (..., n_q, d_v) -> (dq_text, dk_text, dq_image, dk_image, dv).
    S is the sum of the two branches, so both receive the same dS.
    """
    q_text, k_text, q_image, k_image, v, scale, P = cache
    # from O = P V
    dv = T(P) @ dout                                 # dV = Pᵀ dO
    dP = dout @ T(v)                                 # dP = dO Vᵀ
    # from P = softmax(S)
    rowsum = np.sum(dP * P, axis=-1, keepdims=True)  # rowsum(dP ∘ P)
    dS = P * (dP - rowsum)                           # dS = P ∘ (dP − rowsum(dP ∘ P))
    # from S = S + mask: nothing to do, the mask is a constant
    # from S = (Q_t K_tᵀ + Q_i K_iᵀ) · scale: each branch gets the whole dS
    dq_text = scale * dS @ k_text                    # dQ_t = scale · dS K_t
    dk_text = scale * T(dS) @ q_text                 # dK_t = scale · dSᵀ Q_t
    dq_image = scale * dS @ k_image                  # dQ_i = scale · dS K_i
    dk_image = scale * T(dS) @ q_image               # dK_i = scale · dSᵀ Q_i
    return dq_text, dk_text, dq_image, dk_image, dv


# ----------------------------------------------------------------------------- patches


def patchify(x, patch_size):
    """Cut images into p×p patches: (..., H, W, C) -> (..., H/p, W/p, p·p, C).

    Pixel (r, c) of patch (i, j), at [..., i, j, r·p + c, :], is x[..., i·p + r, j·p + c, :].
    """
    p = patch_size
    *batch, H, W, C = x.shape
    x = x.reshape(*batch, H // p, p, W // p, p, C)      # i·p + r -> (i, r), j·p + c -> (j, c)
    x = np.swapaxes(x, -4, -3)                          # (..., i, j, r, c, C): patch index first
    return x.reshape(*batch, H // p, W // p, p * p, C)  # (r, c) -> r·p + c, row-major in a patch


def unpatchify(patches, patch_size):
    """The inverse of :func:`patchify`: (..., H/p, W/p, p·p, C) -> (..., H, W, C)."""
    p = patch_size
    *batch, n_rows, n_cols, _, C = patches.shape
    x = patches.reshape(*batch, n_rows, n_cols, p, p, C)  # r·p + c -> (r, c)
    x = np.swapaxes(x, -4, -3)                            # (..., i, r, j, c, C)
    return x.reshape(*batch, n_rows * p, n_cols * p, C)   # (i, r) -> i·p + r, (j, c) -> j·p + c


class PatchAttentionCache(NamedTuple):
    patch_size: int
    attention: AttentionCache  # the attention over the patch grid
    weights: np.ndarray        # P per patch, (..., H/p, W/p, p·p, p·p)


def patch_attention_forward(q, k, v, patch_size, scale=None):
    """softmax(Q_ij K_ijᵀ / √d_k) V_ij: each pixel attends to the pixels of its own patch (i, j).

    q, k: (..., H, W, d_k); v: (..., H, W, d_v); p = patch_size divides H and W.
    Returns out (..., H, W, d_v) and the cache; cache.weights is (..., H/p, W/p, p·p, p·p).
    """
    p = patch_size
    q_ij, k_ij, v_ij = patchify(q, p), patchify(k, p), patchify(v, p)  # (..., H/p, W/p, p·p, d)
    out_ij, cache = attention_forward(q_ij, k_ij, v_ij, scale=scale)  # all patches at once
    out = unpatchify(out_ij, p)                                        # (..., H, W, d_v)
    return out, PatchAttentionCache(p, cache, cache.weights)


def patch_attention_backward(dout, cache):
    """Gradients of :func:`patch_attention_forward`: its lines in reverse.

    dout: (..., H, W, d_v) -> (dq, dk, dv). Patchify only moves numbers around,
    so its backward is unpatchify, and vice versa.
    """
    p = cache.patch_size
    # from out = unpatchify(out_ij)
    dout_ij = patchify(dout, p)
    # from out_ij = attention(q_ij, k_ij, v_ij)
    dq_ij, dk_ij, dv_ij = attention_backward(dout_ij, cache.attention)
    # from q_ij, k_ij, v_ij = patchify(q), patchify(k), patchify(v)
    return unpatchify(dq_ij, p), unpatchify(dk_ij, p), unpatchify(dv_ij, p)
