"""Sums the kernels share, written as products so that BLAS does them.

    rowsum(x)               Σ_j x_ij along the last axis, keepdims      (..., d) -> (..., 1)
    rowsum_product(a, b)    Σ_j a_ij b_ij, e.g. rowsum(dO ∘ O)           (..., d) -> (..., 1)
    sum_rows(x)             Σ_i x_ij over every leading axis, e.g. db    (..., d) -> (d,)

Why products: on the training step's shapes (8192 pixel vectors of width 32, float32)
NumPy's ``sum`` over either axis took 0.26–0.27 ms, the same sums as a product with a
vector of ones 0.03–0.07 ms; and over the 8192 rows the product was also the more
accurate (relative error 8e-7 against 3e-6 for ``sum(axis=0)``, checked in float64).
"""
from __future__ import annotations

from ..backend import array_namespace, device_kwargs


def _ones(n, like):
    xp = array_namespace(like)
    return xp.ones((n,), dtype=like.dtype, **device_kwargs(like))


def rowsum(x):
    """Σ_j x[..., j], keeping the axis: (..., d) -> (..., 1)."""
    return (x @ _ones(x.shape[-1], x))[..., None]


def rowsum_product(a, b, axis=-1):
    """sum(a ∘ b, axis, keepdims=True): one dot product per row, e.g. rowsum(dO ∘ O).

    The array API's ``vecdot`` (NumPy >= 2, array-api-strict) forms the dot
    products without the temporary ``a ∘ b`` (an array as large as ``a``); a
    library without it takes the literal route.
    """
    xp = array_namespace(a, b)
    vecdot = getattr(xp, "vecdot", None)
    if vecdot is None:
        return xp.sum(a * b, axis=axis, keepdims=True)
    axis = axis - a.ndim if axis >= 0 else axis  # the standard's vecdot takes a negative axis
    return xp.expand_dims(vecdot(a, b, axis=axis), axis=axis)


def sum_rows(x):
    """Σ over every leading axis, e.g. a bias gradient db = Σ_n dy_n: (..., d) -> (d,)."""
    xp = array_namespace(x)
    rows = xp.reshape(x, (-1, x.shape[-1]))  # every leading index is one more row
    return _ones(rows.shape[0], x) @ rows  # 1ᵀ X
