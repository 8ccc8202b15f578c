"""Memory-efficient attention: the online softmax (FlashAttention's idea, in NumPy).

The plain path builds the whole n_q × n_k attention matrix P, which for n = 4096
keys is 16.8 million numbers per head. Here the keys are visited in blocks of b,
and each query row keeps three running quantities over the keys seen so far:

    m    the largest logit                               (..., n_q, 1)
    l    Σ_j exp(S_ij − m)                                (..., n_q, 1)
    acc  Σ_j exp(S_ij − m) V_j                            (..., n_q, d_v)

A new block S_b may raise the maximum from m_old to m_new = max(m_old, rowmax S_b).
Everything in l and acc was measured relative to m_old; multiplying by
exp(m_old − m_new) re-expresses it relative to m_new, because
exp(s − m_old) · exp(m_old − m_new) = exp(s − m_new). So, per block:

    m_new = max(m, rowmax(S_b))
    P̃_b   = exp(S_b − m_new)                             (..., n_q, b)
    l     = exp(m − m_new) · l   + rowsum(P̃_b)
    acc   = exp(m − m_new) · acc + P̃_b V_b
    m     = m_new

and after the last block O = acc / l, which is exactly softmax(S) V. Every exponent
is ≤ 0, so nothing overflows, just as in the max-subtracted softmax.

Query rows never interact, so the queries are taken b at a time too (an outer loop
around the online softmax): each S_b block is then b × b, small enough to stay in
the CPU's cache, which makes this path nearly as fast as the plain one.

The cache keeps O and the log-sum-exp of each query row, lse = m + log l, because
any entry of P can be rebuilt from it: P_ij = exp(S_ij) / Σ_j exp(S_ij) =
exp(S_ij − lse_i). The backward pass walks the blocks again:

    P_b  = exp(S_b − lse)                    recomputed, exactly the forward's weights
    dV_b += P_bᵀ dO                          every query block contributes to every key
    dP_b = dO V_bᵀ
    dS_b = P_b ∘ (dP_b − rowsum(dO ∘ O))     rowsum(dO ∘ O) = rowsum(dP ∘ P), computed once
    dQ  += scale · dS_b K_b                  every key block contributes to every query
    dK_b += scale · dS_bᵀ Q

Memory: O(b²) per block plus a few (n, d) arrays, instead of O(n_q · n_k); the price
is computing S = Q Kᵀ twice (once forward, once backward).

A query row whose keys are all masked out has m = -inf throughout; we then shift by
0 instead of -inf (never -inf − (-inf) = nan), l stays 0, and its output, lse-based
weights and gradients are all 0 (the rule of :mod:`.masking`, shared with the plain path).
Textbook version (P formed whole): :func:`gemini_np.reference.attention_forward` / ``_backward``.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from ..backend import array_namespace, device_kwargs, private_copy
from .masking import apply_mask, finite_shift, nonzero
from .softmax import exp_inplace
from .sums import rowsum_product


class BlockedAttentionCache(NamedTuple):
    """What the blocked backward needs: no n_q × n_k matrix, the log-sum-exp per row instead.

    Like the plain path's cache it keeps its own copy of ``out`` (the returned
    output may be edited freely) and refers to the caller's q, k, v and mask.
    """

    q: Any  # (..., n_q, d_k)
    k: Any  # (..., n_k, d_k)
    v: Any  # (..., n_k, d_v)
    mask: Any  # None, or bool/float broadcastable to (..., n_q, n_k)
    scale: float
    out: Any  # O, (..., n_q, d_v)
    lse: Any  # log Σ_j exp(S_ij) per query row, (..., n_q, 1)
    block_size: int  # queries and keys per block

    @property
    def weights(self):
        """None: the blocked path never forms P (rebuild a row with exp(S_ij − lse_i))."""
        return None


def blocked_attention_forward(q, k, v, mask, scale, block_size):
    """``softmax(q kᵀ · scale + mask) v`` with an online softmax over blocks of keys.

    q: (..., n_q, d_k), k: (..., n_k, d_k), v: (..., n_k, d_v), already checked by
    :func:`~gemini_np.functional.attention.attention_forward`; mask: None, bool or
    float, broadcastable to (..., n_q, n_k); block_size: b, the number of queries and
    of keys per block (the last block may be shorter).

    Returns (out (..., n_q, d_v), :class:`BlockedAttentionCache`), in the inputs' dtype.

    Textbook version: :func:`gemini_np.reference.attention_forward` (the same numbers, P formed whole).
    """
    xp = array_namespace(q, k, v)
    like = dict(dtype=q.dtype, **device_kwargs(q))
    q_scaled = q * scale  # scale Q once instead of every block of S
    out = xp.empty(tuple(q.shape[:-1]) + (v.shape[-1],), **like)
    lse = xp.empty(tuple(q.shape[:-1]) + (1,), **like)
    for rows in _blocks(q.shape[-2], block_size):  # query rows never interact: one block at a time
        out[..., rows, :], lse[..., rows, :] = online_softmax_attention(
            q_scaled[..., rows, :], k, v, _mask_rows(mask, rows), block_size)
    return out, BlockedAttentionCache(q, k, v, mask, scale, private_copy(out), lse, block_size)


def online_softmax_attention(q, k, v, mask, block_size):
    """The online softmax for one block of queries, visiting the keys ``block_size`` at a time.

    q: (..., b_q, d_k), already scaled; k, v: all keys and values; mask: None, or
    broadcastable to (..., b_q, n_k). Returns (out (..., b_q, d_v), lse (..., b_q, 1)).
    """
    xp = array_namespace(q, k, v)
    rows = tuple(q.shape[:-1]) + (1,)
    like = dict(dtype=q.dtype, **device_kwargs(q))
    m = xp.full(rows, -xp.inf, **like)  # running max
    l = xp.zeros(rows, **like)  # running Σ exp(S − m)
    acc = xp.zeros(rows[:-1] + (v.shape[-1],), **like)  # running Σ exp(S − m) V
    for keys in _blocks(k.shape[-2], block_size):
        s = _block_logits(q, k[..., keys, :], mask, keys)  # S_b = Q K_bᵀ · scale (+ mask)
        m_new = xp.maximum(m, xp.max(s, axis=-1, keepdims=True))  # m_new = max(m, rowmax S_b)
        shift = finite_shift(m_new)  # = m_new, or 0 while every key so far is masked
        s -= shift
        p = exp_inplace(s)  # P̃_b = exp(S_b − m_new), in s's buffer
        alpha = xp.exp(m - shift)  # exp(m_old − m_new): rescales what was summed so far
        l = alpha * l + xp.sum(p, axis=-1, keepdims=True)  # l = α l + rowsum(P̃_b)
        acc *= alpha
        acc += p @ v[..., keys, :]  # acc = α acc + P̃_b V_b
        m = m_new
    l_safe = nonzero(l)  # fully masked row: 0 / 1 = 0, log 1 = 0
    return acc / l_safe, finite_shift(m) + xp.log(l_safe)  # O = acc / l,  lse = m + log l


def blocked_attention_backward(dout, cache):
    """Exact gradients of :func:`blocked_attention_forward`, recomputing P block by block.

    dout: (..., n_q, d_v), already checked; cache: a :class:`BlockedAttentionCache`.
    Returns (dq, dk, dv) like q, k, v.

    Textbook version: :func:`gemini_np.reference.attention_backward` (the same numbers, P formed whole).
    """
    c, b = cache, cache.block_size
    xp = array_namespace(dout, c.q)
    q = c.q * c.scale  # scale Q once; dSᵀ (scale·Q) = scale · dSᵀ Q
    row = rowsum_product(dout, c.out)  # rowsum(dO ∘ O) = rowsum(dP ∘ P)
    like = dict(dtype=c.q.dtype, **device_kwargs(c.q))
    dq, dk, dv = (xp.zeros(a.shape, **like) for a in (c.q, c.k, c.v))
    for rows in _blocks(q.shape[-2], b):
        q_r, do_r, row_r, lse_r = (a[..., rows, :] for a in (q, dout, row, c.lse))
        mask_r = _mask_rows(c.mask, rows)
        for keys in _blocks(c.k.shape[-2], b):
            k_b, v_b = c.k[..., keys, :], c.v[..., keys, :]
            s = _block_logits(q_r, k_b, mask_r, keys)  # S_b, as in the forward
            s -= lse_r
            p = exp_inplace(s)  # P_b = exp(S_b − lse), in s's buffer
            dv[..., keys, :] += (do_r.mT @ p).mT  # dV_b += P_bᵀ dO, formed as (dOᵀ P_b)ᵀ (see attention.py)
            ds = do_r @ v_b.mT  # dP_b = dO V_bᵀ; this buffer becomes dS_b
            ds -= row_r
            ds *= p  # dS_b = P_b ∘ (dP_b − rowsum(dO ∘ O))
            dq[..., rows, :] += ds @ k_b  # dQ += dS_b K_b (times scale, below)
            dk[..., keys, :] += (q_r.mT @ ds).mT  # dK_b += scale · dS_bᵀ Q, formed as (Qᵀ dS_b)ᵀ
    dq *= c.scale
    return dq, dk, dv


def _blocks(n, block_size):
    """slice objects covering 0..n in steps of block_size (the last may be shorter)."""
    return [slice(start, min(start + block_size, n)) for start in range(0, n, block_size)]


def _mask_rows(mask, rows):
    """The mask's rows for this block of queries (a mask of height 1 broadcasts over all queries)."""
    if mask is None or mask.ndim < 2 or mask.shape[-2] == 1:
        return mask
    return mask[..., rows, :]


def _block_logits(q_scaled, k_b, mask, keys):
    """S_b = (scale·Q) K_bᵀ with the mask's columns for these keys applied. (..., b_q, b)."""
    s = q_scaled @ k_b.mT
    if mask is not None and mask.ndim > 0 and mask.shape[-1] != 1:  # a mask of width 1 broadcasts over all keys
        mask = mask[..., keys]
    return apply_mask(s, mask)
