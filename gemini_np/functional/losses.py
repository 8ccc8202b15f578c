"""Sigmoid and binary cross-entropy on logits (the image-text matching loss).

    p = σ(z) = 1 / (1 + e^(−z))
    L = mean(−y log p − (1 − y) log(1 − p))
      = mean(max(z, 0) − z·y + log(1 + e^(−|z|)))     the form that never overflows
    dL/dz = (σ(z) − y) / N
"""
from __future__ import annotations

import numbers
from typing import Any, NamedTuple

from ..validation import check_float_array, check_same_dtype
from ..backend import array_namespace


def sigmoid(z):
    """σ(z) without overflow: only exp(−|z|) ≤ 1 is ever computed. Any shape."""
    check_float_array(z, "z")
    xp = array_namespace(z)
    e = xp.exp(-xp.abs(z))  # in (0, 1]
    return xp.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


class BCECache(NamedTuple):
    logits: Any
    labels: Any
    loss: Any


def bce_with_logits_forward(logits, labels):
    """Mean binary cross-entropy of labels given logits.

    logits: (...) floating; labels: same shape, values in [0, 1].
    Returns (loss (0-d array), cache). Stable for |logits| of 1e3 and more.
    """
    check_float_array(logits, "logits")
    check_float_array(labels, "labels")
    if tuple(logits.shape) != tuple(labels.shape):
        raise ValueError(f"logits {tuple(logits.shape)} and labels {tuple(labels.shape)} must have the same shape")
    check_same_dtype(logits=logits, labels=labels)
    xp = array_namespace(logits, labels)
    per_example = xp.maximum(logits, xp.zeros_like(logits)) - logits * labels + xp.log1p(xp.exp(-xp.abs(logits)))
    loss = xp.mean(per_example)
    return loss, BCECache(logits, labels, loss)


def bce_with_logits_backward(dloss, cache):
    """dloss: scalar dL/d(loss) (usually 1.0). Returns dlogits = dloss · (σ(z) − y) / N."""
    n = cache.logits.size
    if isinstance(dloss, bool):
        raise TypeError(f"dloss must be a real number or a 0-d floating array, got {dloss!r}")
    if isinstance(dloss, numbers.Real):
        dloss = float(dloss)  # np.float64(1.0) would turn float32 logits into float64 (NumPy 2 promotion)
    else:  # a 0-d array, e.g. on the GPU: keep it there (no host sync), in the logits' dtype
        check_float_array(dloss, "dloss")
        if dloss.ndim != 0:  # the loss is a scalar, so its upstream gradient is one too
            raise ValueError(f"dloss must be a scalar (0-d) like the loss, got shape {tuple(dloss.shape)}")
        if dloss.dtype != cache.logits.dtype:
            raise TypeError(f"dloss has dtype {dloss.dtype} but the loss had dtype {cache.logits.dtype}")
        array_namespace(dloss, cache.logits)  # one library for both, else TypeError
    return (sigmoid(cache.logits) - cache.labels) * (dloss / n)
