"""Reference solutions to the tutorials' "your turn" exercises.

Teachers: delete this file before handing the repository to a class; nothing in
the package imports it (the checkers compute the right answers from gemini_np's
own ops), and the notebooks' optional "reveal" cells that do are tagged
``solution`` and dropped from student copies. The tests skip when it is gone.

Each solution is written the way a student would: plain NumPy, one formula per
line, the same signature as the placeholder in the notebook.
"""
from __future__ import annotations

import numpy as np


def worked_example(h, d_k):
    """h: (n, d) word vectors -> P (n, n) = row-wise softmax(h hᵀ / √d_k) (notebook 01)."""
    s = h @ h.T / np.sqrt(d_k)  # one similarity per pair of words, scaled
    return softmax(s)  # normalise each row: one distribution over the keys per query


def softmax(x):
    """x: (..., n) -> softmax along the last axis; max-subtracted so exp never overflows (02)."""
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))  # every exponent <= 0
    return e / np.sum(e, axis=-1, keepdims=True)


def softmax_backward(dy, y):
    """dy, y: (..., n) -> dx = y ∘ (dy − Σ_j dy_j y_j), per row (02)."""
    return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))


def attention_backward(dout, q, k, v):
    """dout: (n_q, d_v), q: (n_q, d_k), k: (n_k, d_k), v: (n_k, d_v) -> (dq, dk, dv); scale 1/√d_k (02)."""
    scale = 1.0 / np.sqrt(q.shape[-1])
    p = softmax(q @ k.T * scale)  # recompute the forward: P = softmax(Q Kᵀ · scale)
    dv = p.T @ dout  # dV = Pᵀ dO
    dp = dout @ v.T  # dP = dO Vᵀ
    ds = p * (dp - np.sum(dp * p, axis=-1, keepdims=True))  # dS = P ∘ (dP − rowsum(dP ∘ P))
    dq = scale * ds @ k  # dQ = scale · dS K
    dk = scale * ds.T @ q  # dK = scale · dSᵀ Q
    return dq, dk, dv


def patchify(x, p):
    """x: (..., H, W, C) -> (..., H/p, W/p, p·p, C), pixels row-major inside a patch (03)."""
    *batch, h, w, c = x.shape
    x = x.reshape(*batch, h // p, p, w // p, p, c)  # split rows and columns
    x = np.moveaxis(x, -4, -3)  # (..., H/p, W/p, p, p, C): patch grid first
    return x.reshape(*batch, h // p, w // p, p * p, c)


def unpatchify(patches, p):
    """The inverse of patchify: (..., H/p, W/p, p·p, C) -> (..., H, W, C) (a helper of patch_attention)."""
    *batch, hp, wp, _, c = patches.shape
    x = patches.reshape(*batch, hp, wp, p, p, c)
    x = np.moveaxis(x, -3, -4)  # (..., H/p, p, W/p, p, C)
    return x.reshape(*batch, hp * p, wp * p, c)


def patch_attention(q, k, v, p):
    """q, k: (..., H, W, d_k), v: (..., H, W, d_v) -> (..., H, W, d_v); attention inside each p×p patch (03)."""
    q_ij, k_ij, v_ij = patchify(q, p), patchify(k, p), patchify(v, p)  # (..., H/p, W/p, p·p, d)
    s = q_ij @ np.swapaxes(k_ij, -1, -2) / np.sqrt(q.shape[-1])  # S = Q_ij K_ijᵀ / √d_k, per patch
    return unpatchify(softmax(s) @ v_ij, p)


def fusion_backward(dout, q_t, k_t, q_i, k_i, v):
    """Gradients of softmax((q_t k_tᵀ + q_i k_iᵀ)/√d_k) v; both branches share one dS (04)."""
    scale = 1.0 / np.sqrt(q_t.shape[-1])
    p = softmax((q_t @ k_t.T + q_i @ k_i.T) * scale)
    dv = p.T @ dout
    dp = dout @ v.T
    ds = p * (dp - np.sum(dp * p, axis=-1, keepdims=True))  # one dS for the summed logits
    return scale * ds @ k_t, scale * ds.T @ q_t, scale * ds @ k_i, scale * ds.T @ q_i, dv


def split_heads(x, n_heads):
    """x: (B, n, d) -> (B, h, n, d/h); head j gets features j·d/h ... (j+1)·d/h − 1 (05)."""
    b, n, d = x.shape
    x = x.reshape(b, n, n_heads, d // n_heads)  # cut each token's features into h blocks
    return x.transpose(0, 2, 1, 3)  # (B, h, n, d/h): heads in front of the tokens


def sinusoidal_positions(n, d):
    """-> pe (n, d): pe[pos, i] = sin(pos / 10000^(2i/d)), pe[pos, d/2 + i] = cos(same), i < d/2 (05)."""
    pos = np.arange(n)[:, None]  # (n, 1)
    i = np.arange(d // 2)[None, :]  # (1, d/2)
    angle = pos / 10000 ** (2 * i / d)
    return np.concatenate([np.sin(angle), np.cos(angle)], axis=-1)


def bce_backward(logits, labels):
    """dL/dz of the mean binary cross-entropy over N logits: (σ(z) − y) / N (06)."""
    p = 1 / (1 + np.exp(-logits))  # σ(z)
    return (p - labels) / logits.size


def masked_mean_backward(dout, mask):
    """dout: (B, d), mask: bool (B, n), True = real token -> dx (B, n, d) (06)."""
    count = np.maximum(1, mask.sum(axis=-1, keepdims=True))  # (B, 1) real tokens, at least 1
    return (dout / count)[:, None, :] * mask[:, :, None]  # dout / count at real tokens, 0 at padding


def fusion_logits(text, patches, w_qt, w_kt, w_qi, w_ki):
    """text: (n, d), patches: (m, d), each w: (d, d_k) -> S (n+m, n+m), the fixed erratum 3 (07)."""
    z = np.concatenate([text, patches], axis=0)  # one joint sequence Z = [text; patches]
    s_text = (z @ w_qt) @ (z @ w_kt).T  # text view, (n+m, n+m)
    s_image = (z @ w_qi) @ (z @ w_ki).T  # image view, the same shape
    return (s_text + s_image) / np.sqrt(w_qt.shape[1])
