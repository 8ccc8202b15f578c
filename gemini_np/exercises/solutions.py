"""Reference solutions to the tutorials' "your turn" exercises.

Teachers: delete this file before handing the repository to a class; nothing
in the package or the notebooks imports it (only the tests do, and they skip
when it is gone).

Each solution is written the way a student would: plain NumPy, one formula per
line, the same signatures as the placeholders in the notebooks.
"""
from __future__ import annotations

import numpy as np


def softmax(x):
    """x: (..., n) -> softmax along the last axis; max-subtracted so exp never overflows."""
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def softmax_backward(dy, y):
    """dy, y: (..., n) -> dx = y ∘ (dy − Σ_j dy_j y_j)."""
    return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))


def attention_backward(dout, q, k, v):
    """dout: (n_q, d_v), q: (n_q, d_k), k: (n_k, d_k), v: (n_k, d_v) -> (dq, dk, dv); scale 1/√d_k."""
    scale = 1.0 / np.sqrt(q.shape[-1])
    p = softmax(q @ k.T * scale)  # recompute the forward: P = softmax(Q Kᵀ · scale)
    dv = p.T @ dout  # dV = Pᵀ dO
    dp = dout @ v.T  # dP = dO Vᵀ
    ds = p * (dp - np.sum(dp * p, axis=-1, keepdims=True))  # dS = P ∘ (dP − rowsum(dP ∘ P))
    dq = scale * ds @ k  # dQ = scale · dS K
    dk = scale * ds.T @ q  # dK = scale · dSᵀ Q
    return dq, dk, dv


def patchify(x, p):
    """x: (..., H, W, C) -> (..., H/p, W/p, p·p, C), pixels row-major inside a patch."""
    *batch, h, w, c = x.shape
    x = x.reshape(*batch, h // p, p, w // p, p, c)  # split rows and columns
    x = np.moveaxis(x, -4, -3)  # (..., H/p, W/p, p, p, C): patch grid first
    return x.reshape(*batch, h // p, w // p, p * p, c)


def fusion_backward(dout, q_t, k_t, q_i, k_i, v):
    """Gradients of softmax((q_t k_tᵀ + q_i k_iᵀ)/√d_k) v; both branches share one dS."""
    scale = 1.0 / np.sqrt(q_t.shape[-1])
    p = softmax((q_t @ k_t.T + q_i @ k_i.T) * scale)
    dv = p.T @ dout
    dp = dout @ v.T
    ds = p * (dp - np.sum(dp * p, axis=-1, keepdims=True))  # one dS for the summed logits
    return scale * ds @ k_t, scale * ds.T @ q_t, scale * ds @ k_i, scale * ds.T @ q_i, dv
