"""Layer normalisation over the last axis:

    μ    = mean(x)                       per row, over the d features
    σ²   = mean((x − μ)²)                biased variance, as in the LayerNorm paper
    xhat = (x − μ) / √(σ² + eps)         zero mean, unit variance per row
    y    = xhat ∘ gamma + beta

The code computes these lines with as few temporary arrays as it can (the model
normalises 8192 pixel vectors per batch, so each temporary costs): the variance as
a row-wise dot product of x − μ with itself, and xhat written into x − μ's buffer.
"""
from __future__ import annotations

from ..backend import array_namespace
from ..validation import check_dout, check_float_array, check_real, check_same_dtype
from .sums import rowsum, rowsum_product, sum_rows


def layer_norm_forward(x, gamma, beta, eps=1e-5):
    """x: (..., d); gamma, beta: (d,). Returns (y (..., d), cache)."""
    check_float_array(x, "x", min_ndim=1)
    d = x.shape[-1]
    if d == 0:
        raise ValueError(f"layer norm needs at least one feature to normalise, but x has shape {tuple(x.shape)}")
    for name, p in (("gamma", gamma), ("beta", beta)):
        check_float_array(p, name)
        if tuple(p.shape) != (d,):
            raise ValueError(f"{name} must have shape (d,) = ({d},) to match x {tuple(x.shape)}, got {tuple(p.shape)}")
    check_same_dtype(x=x, gamma=gamma, beta=beta)
    eps = check_real(eps, "eps", positive=True)  # a Python float: a NumPy float64 would make float32 x float64
    xp = array_namespace(x, gamma, beta)
    d = x.shape[-1]
    xhat = x - rowsum(x) / d  # x − μ (a new array: the buffer of xhat below)
    var = rowsum_product(xhat, xhat) / d  # σ² = mean((x − μ)²), without the temporary (x − μ)²
    inv_std = 1.0 / xp.sqrt(var + eps)  # 1 / √(σ² + eps)
    xhat *= inv_std  # xhat = (x − μ) / √(σ² + eps)
    y = xhat * gamma
    y += beta  # y = xhat ∘ gamma + beta
    return y, (xhat, inv_std, gamma, y)


def layer_norm_backward(dy, cache):
    """dy: (..., d). Returns (dx, dgamma, dbeta).

    With g = dy · gamma, the backward of xhat = (x − μ)/σ is
    dx = (g − mean(g) − xhat · mean(g · xhat)) / σ.
    """
    xhat, inv_std, gamma, y = cache
    check_dout(dy, y, "dy")
    array_namespace(dy, xhat)  # one library for both, else TypeError
    d = xhat.shape[-1]
    dgamma = sum_rows(dy * xhat)  # from y = xhat ∘ gamma
    dbeta = sum_rows(dy)  # from y = ... + beta
    dx = dy * gamma  # g = dL/dxhat, in the buffer that becomes dx
    g_mean = rowsum(dx) / d  # mean(g)
    gx_mean = rowsum_product(dx, xhat) / d  # mean(g ∘ xhat)
    dx -= g_mean
    dx -= xhat * gx_mean
    dx *= inv_std  # dx = (g − mean(g) − xhat ∘ mean(g ∘ xhat)) / √(σ² + eps)
    return dx, dgamma, dbeta
