"""Scaled dot-product attention: the article's ``softmax(Q Kᵀ / √d_k) V``.

Forward, one formula per line (P is the attention matrix, ``cache.weights``):

    S = Q Kᵀ · scale              (..., n_q, n_k)   scale = 1/√d_k by default
    S = S + mask                  (float mask; a bool mask sets S = -inf where False)
    P = softmax(S)                row-wise: each query's weights over the keys sum to 1
    O = P V                       (..., n_q, d_v)

Backward, the same lines in reverse:

    dV = Pᵀ dO                    from O = P V
    dP = dO Vᵀ                    from O = P V
    dS = P ∘ (dP − rowsum(dO ∘ O))   from P = softmax(S); rowsum(dP ∘ P) = rowsum(dO ∘ O)
    dQ = scale · dS K             from S = Q Kᵀ · scale
    dK = scale · dSᵀ Q            from S = Q Kᵀ · scale

These are the lines of :func:`gemini_np.reference.attention_forward` and
:func:`gemini_np.reference.attention_backward`, the textbook version to read
first. The code below computes exactly the same lines, optimised: it scales Q
(n_q·d_k numbers) instead of S (n_q·n_k), and lets every step after
``S = Q Kᵀ`` overwrite the one n_q × n_k buffer (``s -= m``, ``exp(s, out=s)``,
``s /= l``) instead of allocating a fresh matrix per line; the backward does the
same with dP's buffer, which becomes dS. The two products with a transposed
n_q × n_k matrix, Pᵀ dO and dSᵀ Q, are formed as (dOᵀ P)ᵀ and (Qᵀ dS)ᵀ: the same
numbers, but BLAS (OpenBLAS float64 in particular) is up to twice as fast when
the large operand is not the transposed one.

``block_size=b`` switches to the memory-efficient path (:mod:`.blocked`): an online
softmax over blocks of b queries × b keys that never holds the n_q × n_k matrix.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from ..backend import array_namespace, private_copy, read_only
from ..validation import (
    check_dout,
    check_float_array,
    check_has_keys,
    check_mask,
    check_positive_int,
    check_same_batch,
    check_same_dtype,
    check_scale,
)
from .blocked import BlockedAttentionCache, blocked_attention_backward, blocked_attention_forward
from .masking import apply_mask
from .softmax import softmax_inplace
from .sums import rowsum_product


class AttentionCache(NamedTuple):
    """What the backward pass needs from the forward pass (the plain path).

    The cache keeps its own copy of ``out``, so editing the returned output never
    changes the gradients, and ``weights`` is read-only. Like PyTorch's autograd it
    refers to your q, k, v themselves: do not modify them before the backward.
    """

    q: Any  # (..., n_q, d_k)
    k: Any  # (..., n_k, d_k)
    v: Any  # (..., n_k, d_v)
    mask: Any  # None, or bool/float broadcastable to (..., n_q, n_k)
    scale: float
    weights: Any  # P, (..., n_q, n_k)
    out: Any  # O, (..., n_q, d_v)


def attention_forward(q, k, v, mask=None, scale=None, block_size=None):
    """Scaled dot-product attention, ``softmax(q kᵀ · scale + mask) v``.

    q: (..., n_q, d_k)   queries
    k: (..., n_k, d_k)   keys
    v: (..., n_k, d_v)   values
    The batch dims ``...`` must be equal for q, k and v (they are not broadcast).
    mask: optional, broadcastable to (..., n_q, n_k). Boolean: True where a
        query may attend. Float: added to the scaled logits (use -inf to block).
        A query whose keys are all masked out gets a zero output row.
    scale: logit scale, a positive finite number; default 1/√d_k. (A scale so large
        that the logits leave the float range, say 1e308, gives inf/NaN with NumPy's
        overflow warning, as any NumPy arithmetic does.)
    block_size: None (default) for the plain path, or a positive int b: process
        queries and keys b at a time with an online softmax, never holding an
        n_q × n_k matrix (same result to rounding; see :mod:`.blocked`).

    Returns (out, cache): out (..., n_q, d_v) in the inputs' dtype;
    cache.weights is the attention matrix P (..., n_q, n_k). On the blocked
    path the cache is a :class:`BlockedAttentionCache`, which keeps the
    log-sum-exp of each query row instead of P.

    Textbook version: :func:`gemini_np.reference.attention_forward`.
    """
    mask, scale = check_attention_inputs(q, k, v, mask, scale)
    if block_size is not None:
        return blocked_attention_forward(q, k, v, mask, scale, check_positive_int(block_size, "block_size"))
    out, cache = _attention_forward(q, k, v, mask, scale)
    return out, cache._replace(out=private_copy(out))  # you may edit out: the backward reads its own copy


def attention_backward(dout, cache):
    """Exact gradients of :func:`attention_forward`.

    dout: (..., n_q, d_v), dL/d(out). cache: from the forward pass.
    Returns (dq, dk, dv) shaped like q, k, v. Masked-out entries get zero
    gradient; a fully masked query row gets zero dq.

    Textbook version: :func:`gemini_np.reference.attention_backward`.
    """
    check_dout(dout, cache.out)
    if isinstance(cache, BlockedAttentionCache):  # recompute P block by block
        return blocked_attention_backward(dout, cache)
    return _attention_backward(dout, cache)


def _attention_forward(q, k, v, mask, scale):
    """The forward without input checks or copies, for callers that have checked (patch attention)."""
    s = (q * scale) @ k.mT  # S = Q Kᵀ / √d_k (scaling Q is the same product, n_k/d_k times cheaper)
    weights, out = masked_softmax_attention(s, v, mask)
    return out, AttentionCache(q, k, v, mask, scale, read_only(weights), out)


def _attention_backward(dout, cache):
    """The backward without checking ``dout``."""
    ds, dv = softmax_attention_backward(dout, cache.weights, cache.out, cache.v)
    dq = ds @ cache.k  # from S = Q Kᵀ · scale: dQ = scale · dS K ...
    dq *= cache.scale  # ... (scaled in place: no second (n_q, d_k) array)
    dk = (cache.q.mT @ ds).mT  # dK = scale · dSᵀ Q, formed as (Qᵀ dS)ᵀ (module docstring)
    dk *= cache.scale
    return dq, dk, dv


def masked_softmax_attention(s, v, mask=None):
    """The part shared by every attention variant: mask, softmax, weighted sum.

    s: scaled logits (..., n_q, n_k), a temporary the caller owns: it is
    overwritten (its buffer becomes P). v: (..., n_k, d_v).
    Returns (weights P, out O = P v).
    """
    s = apply_mask(s, mask)  # S + mask, or -inf where a bool mask is False
    weights = softmax_inplace(s, axis=-1)  # P = softmax(S), row by row, in s's buffer
    return weights, weights @ v  # O = P V


def softmax_attention_backward(dout, weights, out, v):
    """Backward of ``O = softmax(S) V`` down to the logits.

    dout, out: (..., n_q, d_v); weights P: (..., n_q, n_k); v: (..., n_k, d_v).
    Returns (dS, dV). Each row of dS sums to zero (softmax is shift-invariant).
    """
    array_namespace(dout, weights)  # one library for both (TypeError otherwise)
    dv = (dout.mT @ weights).mT  # dV = Pᵀ dO, formed as (dOᵀ P)ᵀ (module docstring)
    ds = dout @ v.mT  # dP = dO Vᵀ; this buffer becomes dS in the next two lines
    ds -= rowsum_product(dout, out)  # dP − rowsum(dO ∘ O)   [= rowsum(dP ∘ P), n_q·d_v work]
    ds *= weights  # dS = P ∘ (dP − rowsum(dO ∘ O))
    return ds, dv


def check_attention_inputs(q, k, v, mask, scale):
    """Validate attention's inputs (shapes, dtypes, one library); returns (mask, scale)."""
    for name, a in (("q", q), ("k", k), ("v", v)):
        check_float_array(a, name, min_ndim=2)
    array_namespace(q, k, v)
    check_same_dtype(q=q, k=k, v=v)
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"q and k must have the same d_k (last dim): q {tuple(q.shape)} has d_k={q.shape[-1]}, "
            f"k {tuple(k.shape)} has d_k={k.shape[-1]}"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"k and v must have the same number of keys n_k (second-to-last dim): "
            f"k {tuple(k.shape)}, v {tuple(v.shape)}"
        )
    check_has_keys(k)
    check_same_batch(q=q, k=k, v=v)
    logits_shape = tuple(q.shape[:-1]) + (k.shape[-2],)
    return check_mask(mask, logits_shape, like=q), check_scale(scale, q.shape[-1])
