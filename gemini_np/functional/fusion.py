"""Summed-logit fusion attention, the article's fusion layer (§4.1):

    softmax(Q_t K_tᵀ / √d_k + Q_i K_iᵀ / √d_k) V

Forward:

    S = (Q_t K_tᵀ + Q_i K_iᵀ) · scale     both logit matrices must be (..., n_q, n_k)
    P = softmax(S + mask)
    O = P V

Backward: both branches receive the *same* dS, because S is their sum:

    dV, dS  as in plain attention
    dQ_t = scale · dS K_t      dK_t = scale · dSᵀ Q_t
    dQ_i = scale · dS K_i      dK_i = scale · dSᵀ Q_i

Equivalently this is one attention over concatenated features,
``[Q_t, Q_i] [K_t, K_i]ᵀ``, with scale 1/√d_k (not the default 1/√(2 d_k)
that the concatenated width would suggest).
Textbook version: :func:`gemini_np.reference.fusion_attention_forward` / ``_backward``.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from ..backend import array_namespace, private_copy, read_only
from ..validation import (
    check_dout,
    check_float_array,
    check_has_keys,
    check_mask,
    check_same_batch,
    check_same_dtype,
    check_scale,
)
from .attention import masked_softmax_attention, softmax_attention_backward


class FusionCache(NamedTuple):
    """What the backward needs: its own copy of out, the inputs themselves, ``weights`` read-only."""

    q_text: Any  # (..., n_q, d_t)
    k_text: Any  # (..., n_k, d_t)
    q_image: Any  # (..., n_q, d_i)
    k_image: Any  # (..., n_k, d_i)
    v: Any  # (..., n_k, d_v)
    mask: Any
    scale: float
    weights: Any  # P, (..., n_q, n_k)
    out: Any  # (..., n_q, d_v)


def fusion_attention_forward(q_text, k_text, q_image, k_image, v, mask=None, scale=None):
    """``softmax((q_text k_textᵀ + q_image k_imageᵀ) · scale + mask) v``.

    q_text: (..., n_q, d_t), k_text: (..., n_k, d_t)    text-view queries/keys
    q_image: (..., n_q, d_i), k_image: (..., n_k, d_i)  image-view queries/keys
    v: (..., n_k, d_v)
    mask: as in :func:`attention_forward`, broadcastable to (..., n_q, n_k).
    scale: default 1/√d_k with d_k = q_text.shape[-1].

    The two logit matrices must have the same shape (..., n_q, n_k); the
    article's formula is undefined otherwise. Returns (out (..., n_q, d_v),
    cache); cache.weights is P (..., n_q, n_k).

    Textbook version: :func:`gemini_np.reference.fusion_attention_forward`.
    """
    mask, scale = _check_inputs(q_text, k_text, q_image, k_image, v, mask, scale)
    out, cache = _fusion_attention_forward(q_text, k_text, q_image, k_image, v, mask, scale)
    return out, cache._replace(out=private_copy(out))  # you may edit out: the backward reads its own copy


def _fusion_attention_forward(q_text, k_text, q_image, k_image, v, mask, scale):
    """The forward without input checks or copies, for callers that have checked (``nn.FusionAttention``)."""
    s = q_text @ k_text.mT  # Q_t K_tᵀ
    s += q_image @ k_image.mT  # Q_t K_tᵀ + Q_i K_iᵀ
    s *= scale  # S = (Q_t K_tᵀ + Q_i K_iᵀ) / √d_k
    weights, out = masked_softmax_attention(s, v, mask)
    return out, FusionCache(q_text, k_text, q_image, k_image, v, mask, scale, read_only(weights), out)


def fusion_attention_backward(dout, cache):
    """Exact gradients of :func:`fusion_attention_forward`.

    dout: (..., n_q, d_v). Returns (dq_text, dk_text, dq_image, dk_image, dv),
    shaped like the corresponding inputs.

    Textbook version: :func:`gemini_np.reference.fusion_attention_backward`.
    """
    check_dout(dout, cache.out)
    return _fusion_attention_backward(dout, cache)


def _fusion_attention_backward(dout, cache):
    """The backward without checking ``dout``."""
    c = cache
    ds, dv = softmax_attention_backward(dout, c.weights, c.out, c.v)
    ds = ds * c.scale  # one dS feeds both branches of the sum
    dq_text = ds @ c.k_text  # from S ∋ Q_t K_tᵀ
    dk_text = ds.mT @ c.q_text
    dq_image = ds @ c.k_image  # from S ∋ Q_i K_iᵀ
    dk_image = ds.mT @ c.q_image
    return dq_text, dk_text, dq_image, dk_image, dv


def _check_inputs(q_text, k_text, q_image, k_image, v, mask, scale):
    arrays = {"q_text": q_text, "k_text": k_text, "q_image": q_image, "k_image": k_image, "v": v}
    for name, a in arrays.items():
        check_float_array(a, name, min_ndim=2)
    array_namespace(*arrays.values())
    check_same_dtype(**arrays)
    for view, q, k in (("text", q_text, k_text), ("image", q_image, k_image)):
        if q.shape[-1] != k.shape[-1]:
            raise ValueError(
                f"q_{view} and k_{view} must have the same last dim: "
                f"q_{view} {tuple(q.shape)}, k_{view} {tuple(k.shape)}"
            )
    text_logits = tuple(q_text.shape[:-1]) + (k_text.shape[-2],)
    image_logits = tuple(q_image.shape[:-1]) + (k_image.shape[-2],)
    if text_logits != image_logits:
        raise ValueError(
            f"the text logits Q_t K_tᵀ have shape {text_logits} but the image logits Q_i K_iᵀ have shape "
            f"{image_logits}; the article's sum is only defined when they match (build both "
            f"views from one joint text+image sequence, as gemini_np.nn.FusionAttention does)"
        )
    if k_text.shape[-2] != v.shape[-2]:
        raise ValueError(f"k_text {tuple(k_text.shape)} and v {tuple(v.shape)} must have the same number of keys n_k")
    check_has_keys(k_text, "k_text")
    check_same_batch(**arrays)
    mask = check_mask(mask, text_logits, like=v)
    return mask, check_scale(scale, q_text.shape[-1], name="q_text")
