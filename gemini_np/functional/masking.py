"""Masks, and the rule for a query that may attend to nothing, written once for every kernel.

A mask says which keys each query may attend to (the convention of PyTorch's
``scaled_dot_product_attention``; note that ``nn.MultiheadAttention``'s boolean
masks mean the opposite):

    bool mask    True = may attend; False sets the logit to -inf, so its weight is exactly 0
    float mask   added to the scaled logits (a bias; -inf blocks the key)

**The fully masked row.** A query whose keys are all masked out has only -inf
logits, and the textbook softmax then computes (-inf) − (-inf) = NaN. The rule
here: such a row gets weights 0, output 0 and gradients 0. Two helpers make
every kernel follow it:

    finite_shift(m)   the row maximum used as softmax's shift, with -inf replaced by 0,
                      so exp(-inf − 0) = 0 instead of NaN
    nonzero(total)    the softmax denominator Σ_j exp(S_ij − m), with 0 replaced by 1,
                      so the all-zero row divides to 0 / 1 = 0
"""
from __future__ import annotations

from ..backend import array_namespace


def apply_mask(s, mask):
    """The masked logits: S + mask (float mask) or S where True, -inf where False (bool mask).

    s: (..., n_q, n_k) scaled logits, a temporary the caller owns (a float mask is
    added in place). mask: None, or bool/float broadcastable to s. Returns the
    masked logits (``s`` itself, or a new array for a bool mask).
    """
    if mask is None:
        return s
    xp = array_namespace(s, mask)
    if mask.dtype == xp.bool:
        return xp.where(mask, s, -xp.inf)  # False = may not attend: weight exactly 0
    s += mask if mask.dtype == s.dtype else xp.astype(mask, s.dtype)  # a float mask is added
    return s


def finite_shift(m):
    """The softmax shift: the row max ``m``, with -inf (every key masked so far) replaced by 0."""
    xp = array_namespace(m)
    return xp.where(m == -xp.inf, 0.0, m)


def nonzero(total):
    """The softmax denominator with 0 (a fully masked row) replaced by 1, so that row stays 0."""
    xp = array_namespace(total)
    return xp.where(total == 0, 1.0, total)
