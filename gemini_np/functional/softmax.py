"""Softmax and its backward pass.

    y_i = exp(x_i - max(x)) / sum_j exp(x_j - max(x))

Subtracting the max changes nothing mathematically (softmax is shift-invariant)
but keeps exp() from overflowing: the largest exponent is exp(0) = 1.
"""
from __future__ import annotations

from .._checks import check_axis, check_dout, check_float_array
from ..backend import array_namespace


def softmax(x, axis=-1):
    """Numerically stable softmax along ``axis``.

    x: (..., n) floating array -> y, same shape and dtype; every slice along
    ``axis`` sums to 1. A slice that is entirely ``-inf`` (every key masked
    out) gives all zeros instead of NaN.
    """
    check_float_array(x, "x", min_ndim=1)
    axis = check_axis(axis, x.ndim)
    return _softmax(x, axis)


def _softmax(x, axis=-1):
    """softmax without input checks, for kernels that have already checked."""
    xp = array_namespace(x)
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.where(m == -xp.inf, 0.0, m)  # all -inf slice: avoid (-inf) - (-inf) = nan
    e = xp.exp(x - m)
    total = xp.sum(e, axis=axis, keepdims=True)
    return e / xp.where(total == 0, 1.0, total)  # all -inf slice: 0 / 1 = 0


def softmax_backward(dy, y, axis=-1):
    """Gradient of a loss through ``y = softmax(x, axis)``.

    dy: upstream gradient dL/dy, shape of y; y: the softmax output.
    Returns dx = y * (dy - sum(dy * y, axis)), same shape and dtype.

    Why: dy_i/dx_j = y_i (δ_ij - y_j), so
    dx_j = Σ_i dy_i y_i (δ_ij - y_j) = y_j (dy_j - Σ_i dy_i y_i).
    """
    check_float_array(y, "y", min_ndim=1)
    check_dout(dy, y, "dy")
    axis = check_axis(axis, y.ndim)
    xp = array_namespace(dy, y)
    return y * (dy - xp.sum(dy * y, axis=axis, keepdims=True))
