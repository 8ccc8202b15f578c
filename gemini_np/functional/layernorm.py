"""Layer normalisation over the last axis:

    y = (x − mean(x)) / sqrt(var(x) + eps) · gamma + beta
"""
from __future__ import annotations

from ..validation import check_dout, check_float_array, check_real, check_same_dtype
from ..backend import array_namespace


def layer_norm_forward(x, gamma, beta, eps=1e-5):
    """x: (..., d); gamma, beta: (d,). Returns (y (..., d), cache)."""
    check_float_array(x, "x", min_ndim=1)
    d = x.shape[-1]
    for name, p in (("gamma", gamma), ("beta", beta)):
        check_float_array(p, name)
        if tuple(p.shape) != (d,):
            raise ValueError(f"{name} must have shape (d,) = ({d},) to match x {tuple(x.shape)}, got {tuple(p.shape)}")
    check_same_dtype(x=x, gamma=gamma, beta=beta)
    eps = check_real(eps, "eps", positive=True)  # a Python float: a NumPy float64 would make float32 x float64
    xp = array_namespace(x, gamma, beta)
    mu = xp.mean(x, axis=-1, keepdims=True)  # mean over features
    xc = x - mu
    var = xp.mean(xc * xc, axis=-1, keepdims=True)  # biased variance, as in the LayerNorm paper
    inv_std = 1.0 / xp.sqrt(var + eps)
    xhat = xc * inv_std  # zero mean, unit variance per row
    y = xhat * gamma + beta
    return y, (xhat, inv_std, gamma, y)


def layer_norm_backward(dy, cache):
    """dy: (..., d). Returns (dx, dgamma, dbeta).

    With g = dy · gamma, the backward of xhat = (x − μ)/σ is
    dx = (g − mean(g) − xhat · mean(g · xhat)) / σ.
    """
    xhat, inv_std, gamma, y = cache
    check_dout(dy, y, "dy")
    xp = array_namespace(dy, xhat)
    d = xhat.shape[-1]
    dgamma = xp.sum(xp.reshape(dy * xhat, (-1, d)), axis=0)  # from y = xhat · gamma
    dbeta = xp.sum(xp.reshape(dy, (-1, d)), axis=0)  # from y = ... + beta
    g = dy * gamma  # dL/dxhat
    g_mean = xp.mean(g, axis=-1, keepdims=True)
    gx_mean = xp.mean(g * xhat, axis=-1, keepdims=True)
    dx = (g - g_mean - xhat * gx_mean) * inv_std
    return dx, dgamma, dbeta
