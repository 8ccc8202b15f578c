"""Softmax and its backward pass.

    y_i = exp(x_i − max(x)) / Σ_j exp(x_j − max(x))

Subtracting the max changes nothing mathematically (softmax is shift-invariant)
but keeps exp() from overflowing: the largest exponent is exp(0) = 1.
Textbook version: :func:`gemini_np.reference.softmax`.
"""
from __future__ import annotations

from ..backend import array_namespace
from ..validation import check_axis, check_dout, check_float_array
from .masking import finite_shift, nonzero
from .sums import rowsum, rowsum_product


def softmax(x, axis=-1):
    """Numerically stable softmax along ``axis``.

    x: (..., n) floating array -> y, same shape and dtype; every slice along
    ``axis`` sums to 1. A slice that is entirely ``-inf`` (every key masked
    out) gives all zeros instead of NaN.

    Textbook version: :func:`gemini_np.reference.softmax`.
    """
    check_float_array(x, "x", min_ndim=1)
    axis = check_axis(axis, x.ndim)
    if x.shape[axis] == 0:
        raise ValueError(f"softmax over an empty axis is undefined: x has shape {tuple(x.shape)}, axis {axis}")
    e = exp_inplace(x - _row_max(x, axis))  # x − max(x) is a new array, so exp may overwrite it
    return _normalise_inplace(e, axis)


def softmax_inplace(s, axis=-1):
    """softmax(s) computed in the buffer of ``s``, which is overwritten and returned.

    For kernels whose ``s`` is a temporary they own (attention's n_q × n_k logits):
    the same steps as :func:`softmax`, but without allocating three more arrays
    the size of ``s`` (allocating a large array costs more than the arithmetic:
    the OS must hand over and zero fresh pages). No input checks.
    """
    s -= _row_max(s, axis)  # s − max(s): the largest exponent is 0
    return _normalise_inplace(exp_inplace(s), axis)


def _row_max(x, axis):
    """max along ``axis`` (keepdims), an all ``-inf`` slice giving 0 (see :mod:`.masking`)."""
    xp = array_namespace(x)
    return finite_shift(xp.max(x, axis=axis, keepdims=True))


def _normalise_inplace(e, axis):
    """e / sum(e, axis), written into ``e``; an all-zero slice (every key masked) stays 0."""
    xp = array_namespace(e)
    total = rowsum(e) if axis in (-1, e.ndim - 1) else xp.sum(e, axis=axis, keepdims=True)
    e /= nonzero(total)
    return e


# Libraries whose exp is a ufunc that can write into its input (``out=``). The array
# API standard has no ``out=``; there exp() returns a new array instead.
_UFUNC_LIBRARIES = ("numpy", "cupy")


def exp_inplace(x):
    """exp(x), overwriting ``x`` where the library allows it (NumPy, CuPy).

    Only call it on a temporary you own. Other array-API libraries get a new
    array (the same numbers); callers must use the return value either way.
    """
    xp = array_namespace(x)
    if xp.__name__ in _UFUNC_LIBRARIES:
        return xp.exp(x, out=x)
    return xp.exp(x)


def softmax_backward(dy, y, axis=-1):
    """Gradient of a loss through ``y = softmax(x, axis)``.

    dy: upstream gradient dL/dy, shape of y; y: the softmax output.
    Returns dx = y ∘ (dy − Σ_j dy_j y_j), summed along ``axis``; same shape and dtype.

    Why: ∂y_i/∂x_j = y_i (δ_ij − y_j), so
    dx_j = Σ_i dy_i y_i (δ_ij − y_j) = y_j (dy_j − Σ_i dy_i y_i).

    Textbook version: :func:`gemini_np.reference.softmax_backward`.
    """
    check_float_array(y, "y", min_ndim=1)
    check_dout(dy, y, "dy")
    axis = check_axis(axis, y.ndim)
    array_namespace(dy, y)  # one library for both, else TypeError
    dx = dy - rowsum_product(dy, y, axis)  # a new array, so ...
    dx *= y  # ... y ∘ (dy − Σ dy ∘ y) can be formed in place
    return dx
