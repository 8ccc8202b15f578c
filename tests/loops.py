"""Independent slow references, written from the math with explicit Python loops.

Nothing here calls gemini_np: every formula is re-derived per element (per
query, per patch, per pixel) with ``math`` on Python floats, so that a bug in a
vectorised kernel cannot be reproduced by accident. The arrays are only used
as containers; results are float64 NumPy arrays.

Backward references use per-element derivatives written out below (not the
vectorised shortcut such as rowsum(dO ∘ O)), and :func:`numeric_grad` is a
central-difference loop that does not share code with ``gemini_np.gradcheck``
(nor does :func:`rel_error`). This is rung 2 of the verification ladder: the
textbook kernels of ``gemini_np.reference`` are vectorised, these are loops.
"""
from __future__ import annotations

import itertools
import math

import numpy as np


# --------------------------------------------------------------------------- helpers
def _f64(a):
    return None if a is None else np.array(a, dtype=np.float64)


def _batch_indices(shape):
    """Every index tuple of the leading (batch) dims ``shape``; one empty tuple when there are none."""
    return list(itertools.product(*(range(n) for n in shape)))


def _dot(a, b):
    return math.fsum(float(x) * float(y) for x, y in zip(a, b))


def numeric_grad(f, x, h=1e-5, order=2):
    """Finite differences of the scalar function ``f`` at ``x``, one element at a time.

    Written independently of ``gemini_np.numerical_gradient``: works on a float64
    copy, indexes with ``np.ndindex``, and never touches the caller's array.

    order=2: central differences (f(x+h) − f(x−h)) / 2h, error O(h²) + O(ε/h).
    order=4: the five-point stencil (−f(x+2h) + 8f(x+h) − 8f(x−h) + f(x−2h)) / 12h,
    error O(h⁴) + O(ε/h); with h = 1e-3 it resolves gradient entries about ten
    times smaller than order 2 can (about 1e-12 absolute instead of 1e-11).
    """
    x = np.array(x, dtype=np.float64)
    stencil = {2: [(1, 0.5), (-1, -0.5)], 4: [(2, -1 / 12), (1, 8 / 12), (-1, -8 / 12), (-2, 1 / 12)]}[order]
    grad = np.empty_like(x)
    for idx in np.ndindex(*x.shape):
        saved = x[idx]
        terms = []
        for steps, weight in stencil:
            x[idx] = saved + steps * h
            terms.append(weight * float(f(x.copy())))
        x[idx] = saved
        grad[idx] = math.fsum(terms) / h
    return grad


def rel_error(a, b):
    """CS231n's measure, element by element: max over i of |a_i − b_i| / max(1e-8, |a_i| + |b_i|).

    Written independently of ``gemini_np.rel_error``; 0.0 for empty arrays.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    worst = 0.0
    for x, y in zip(a.ravel().tolist(), b.ravel().tolist()):
        worst = max(worst, abs(x - y) / max(1e-8, abs(x) + abs(y)))
    return worst


# --------------------------------------------------------------------------- softmax
def softmax_row(values):
    """softmax of one list of floats; -inf entries get weight 0; an all -inf row gives zeros."""
    finite = [v for v in values if v != -math.inf]
    if not finite:
        return [0.0] * len(values)
    top = max(finite)
    exps = [0.0 if v == -math.inf else math.exp(v - top) for v in values]
    total = math.fsum(exps)
    return [e / total for e in exps]


def softmax(x, axis=-1):
    x = np.moveaxis(_f64(x), axis, -1)
    y = np.empty_like(x)
    for idx in np.ndindex(*x.shape[:-1]):
        y[idx] = softmax_row(list(x[idx]))
    return np.moveaxis(y, -1, axis)


def softmax_backward(dy, y, axis=-1):
    """dx_j = Σ_i dy_i ∂y_i/∂x_j with the Jacobian ∂y_i/∂x_j = y_i (δ_ij − y_j), written out."""
    dy = np.moveaxis(_f64(dy), axis, -1)
    y = np.moveaxis(_f64(y), axis, -1)
    dx = np.empty_like(y)
    n = y.shape[-1]
    for idx in np.ndindex(*y.shape[:-1]):
        row, drow = y[idx], dy[idx]
        for j in range(n):
            dx[idx + (j,)] = math.fsum(drow[i] * row[i] * ((1.0 if i == j else 0.0) - row[j]) for i in range(n))
    return np.moveaxis(dx, -1, axis)


# --------------------------------------------------------------------------- attention
def _row_logits(dots, mask_row, scale):
    """Scaled logits of one query with its mask applied (bool: False -> -inf; float: added)."""
    logits = []
    for j, d in enumerate(dots):
        s = d * scale
        if mask_row is not None:
            m = mask_row[j]
            if isinstance(m, (bool, np.bool_)):
                s = s if m else -math.inf
            else:
                s = s + float(m)
        logits.append(s)
    return logits


def _full_mask(mask, logits_shape):
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.dtype != bool:
        mask = mask.astype(np.float64)
    return np.broadcast_to(mask, logits_shape)


def attention(q, k, v, mask=None, scale=None):
    """Per query: P_i = softmax_j(scale · q_i · k_j + mask_ij), out_i = Σ_j P_ij v_j.

    Returns (out, P) as float64 arrays.
    """
    return fusion_attention([q], [k], v, mask, scale, d_k=np.shape(q)[-1])


def fusion_attention(qs, ks, v, mask=None, scale=None, d_k=None):
    """Summed logits over several (q, k) views: S_ij = scale · Σ_views q_i · k_j."""
    qs, ks, v = [_f64(q) for q in qs], [_f64(k) for k in ks], _f64(v)
    if scale is None:
        scale = 1.0 / math.sqrt(d_k if d_k is not None else qs[0].shape[-1])
    batch = qs[0].shape[:-2]
    n_q, n_k, d_v = qs[0].shape[-2], ks[0].shape[-2], v.shape[-1]
    mask = _full_mask(mask, batch + (n_q, n_k))
    out = np.zeros(batch + (n_q, d_v))
    weights = np.zeros(batch + (n_q, n_k))
    for b in _batch_indices(batch):
        for i in range(n_q):
            dots = [math.fsum(_dot(q[b + (i,)], k[b + (j,)]) for q, k in zip(qs, ks)) for j in range(n_k)]
            mask_row = None if mask is None else [mask[b + (i, j)] for j in range(n_k)]
            p = softmax_row(_row_logits(dots, mask_row, scale))
            weights[b + (i,)] = p
            for e in range(d_v):
                out[b + (i, e)] = math.fsum(p[j] * v[b + (j, e)] for j in range(n_k))
    return out, weights


def attention_backward(dout, q, k, v, mask=None, scale=None):
    """(dq, dk, dv) by the chain rule, element by element.

    dP_ij = Σ_e dO_ie V_je
    dS_ij = Σ_l dP_il ∂P_il/∂S_ij = P_ij (dP_ij − Σ_l P_il dP_il)
    dQ_i  = scale Σ_j dS_ij K_j,  dK_j = scale Σ_i dS_ij Q_i,  dV_j = Σ_i P_ij dO_i
    """
    dqs, dks, dv = fusion_attention_backward(dout, [q], [k], v, mask, scale, d_k=np.shape(q)[-1])
    return dqs[0], dks[0], dv


def fusion_attention_backward(dout, qs, ks, v, mask=None, scale=None, d_k=None):
    """Gradients of :func:`fusion_attention`: every view gets the same dS."""
    qs, ks, v, dout = [_f64(q) for q in qs], [_f64(k) for k in ks], _f64(v), _f64(dout)
    if scale is None:
        scale = 1.0 / math.sqrt(d_k if d_k is not None else qs[0].shape[-1])
    _, weights = fusion_attention(qs, ks, v, mask, scale)
    batch = qs[0].shape[:-2]
    n_q, n_k, d_v = qs[0].shape[-2], ks[0].shape[-2], v.shape[-1]
    dqs = [np.zeros_like(q) for q in qs]
    dks = [np.zeros_like(k) for k in ks]
    dv = np.zeros_like(v)
    for b in _batch_indices(batch):
        for i in range(n_q):
            p = weights[b + (i,)]
            dp = [_dot(dout[b + (i,)], v[b + (j,)]) for j in range(n_k)]
            p_dot_dp = math.fsum(p[l] * dp[l] for l in range(n_k))
            for j in range(n_k):
                ds = p[j] * (dp[j] - p_dot_dp)
                for q, k, dq, dk in zip(qs, ks, dqs, dks):
                    dq[b + (i,)] += scale * ds * k[b + (j,)]
                    dk[b + (j,)] += scale * ds * q[b + (i,)]
                for e in range(d_v):
                    dv[b + (j, e)] += p[j] * dout[b + (i, e)]
    return dqs, dks, dv


# --------------------------------------------------------------------------- patches
def patchify(x, p):
    """out[..., i, j, r·p + c, :] = x[..., i·p + r, j·p + c, :], pixel by pixel."""
    x = np.asarray(x)
    *batch, h, w, c = x.shape
    out = np.empty((*batch, h // p, w // p, p * p, c), dtype=x.dtype)
    for b in _batch_indices(batch):
        for y_pix in range(h):
            for x_pix in range(w):
                i, r = divmod(y_pix, p)
                j, col = divmod(x_pix, p)
                out[b + (i, j, r * p + col)] = x[b + (y_pix, x_pix)]
    return out


def unpatchify(patches, p):
    patches = np.asarray(patches)
    *batch, hp, wp, pp, c = patches.shape
    out = np.empty((*batch, hp * p, wp * p, c), dtype=patches.dtype)
    for b in _batch_indices(batch):
        for i, j, t in itertools.product(range(hp), range(wp), range(pp)):
            r, col = divmod(t, p)
            out[b + (i * p + r, j * p + col)] = patches[b + (i, j, t)]
    return out


def _patch_pixels(y_pix, x_pix, p):
    """The pixels (row-major) of the p×p patch containing pixel (y_pix, x_pix)."""
    top, left = (y_pix // p) * p, (x_pix // p) * p
    return [(top + r, left + c) for r in range(p) for c in range(p)]


def patch_attention(q, k, v, p, scale=None):
    """Per pixel: attend to the pixels of its own patch. Returns (out, weights per patch)."""
    q, k, v = _f64(q), _f64(k), _f64(v)
    *batch, h, w, d_k = q.shape
    if scale is None:
        scale = 1.0 / math.sqrt(d_k)
    out = np.zeros((*batch, h, w, v.shape[-1]))
    weights = np.zeros((*batch, h // p, w // p, p * p, p * p))
    for b in _batch_indices(batch):
        for y_pix in range(h):
            for x_pix in range(w):
                keys = _patch_pixels(y_pix, x_pix, p)
                dots = [_dot(q[b + (y_pix, x_pix)], k[b + key]) for key in keys]
                pw = softmax_row([d * scale for d in dots])
                weights[b + (y_pix // p, x_pix // p, (y_pix % p) * p + x_pix % p)] = pw
                out[b + (y_pix, x_pix)] = sum(pw[t] * v[b + key] for t, key in enumerate(keys))
    return out, weights


def patch_attention_backward(dout, q, k, v, p, scale=None):
    """Loop over patches: gather its pixels, apply the attention reference backward, scatter back."""
    q, k, v, dout = _f64(q), _f64(k), _f64(v), _f64(dout)
    *batch, h, w, d_k = q.shape
    dq, dk, dv = np.zeros_like(q), np.zeros_like(k), np.zeros_like(v)
    for b in _batch_indices(batch):
        for top in range(0, h, p):
            for left in range(0, w, p):
                pixels = _patch_pixels(top, left, p)
                gather = lambda a: np.array([a[b + px] for px in pixels])  # noqa: E731
                gq, gk, gv = attention_backward(gather(dout), gather(q), gather(k), gather(v), scale=scale)
                for t, px in enumerate(pixels):
                    dq[b + px], dk[b + px], dv[b + px] = gq[t], gk[t], gv[t]
    return dq, dk, dv


# --------------------------------------------------------------------------- building blocks
def linear(x, w, b=None):
    x, w, b = _f64(x), _f64(w), _f64(b)
    d_in, d_out = w.shape
    y = np.zeros(x.shape[:-1] + (d_out,))
    for n in np.ndindex(*x.shape[:-1]):
        for o in range(d_out):
            y[n + (o,)] = math.fsum(x[n + (i,)] * w[i, o] for i in range(d_in)) + (0.0 if b is None else b[o])
    return y


def linear_backward(dy, x, w):
    """dx_ni = Σ_o dy_no w_io;  dw_io = Σ_n x_ni dy_no;  db_o = Σ_n dy_no."""
    dy, x, w = _f64(dy), _f64(x), _f64(w)
    d_in, d_out = w.shape
    rows = list(np.ndindex(*x.shape[:-1]))
    dx = np.zeros_like(x)
    for n in rows:
        for i in range(d_in):
            dx[n + (i,)] = math.fsum(dy[n + (o,)] * w[i, o] for o in range(d_out))
    dw = np.array([[math.fsum(x[n + (i,)] * dy[n + (o,)] for n in rows) for o in range(d_out)] for i in range(d_in)])
    db = np.array([math.fsum(dy[n + (o,)] for n in rows) for o in range(d_out)])
    return dx, dw, db


def layer_norm(x, gamma, beta, eps=1e-5):
    x, gamma, beta = _f64(x), _f64(gamma), _f64(beta)
    d = x.shape[-1]
    y = np.empty_like(x)
    for n in np.ndindex(*x.shape[:-1]):
        row = list(x[n])
        mu = math.fsum(row) / d
        var = math.fsum((r - mu) ** 2 for r in row) / d
        sigma = math.sqrt(var + eps)
        y[n] = [(r - mu) / sigma * gamma[i] + beta[i] for i, r in enumerate(row)]
    return y


def layer_norm_backward(dy, x, gamma, eps=1e-5):
    """Through the explicit Jacobian of xhat_j = (x_j − μ)/σ:

    ∂xhat_j/∂x_i = (δ_ij − 1/d)/σ − xhat_j xhat_i / (d σ)
    """
    dy, x, gamma = _f64(dy), _f64(x), _f64(gamma)
    d = x.shape[-1]
    dx = np.empty_like(x)
    dgamma = np.zeros(d)
    dbeta = np.zeros(d)
    for n in np.ndindex(*x.shape[:-1]):
        row = list(x[n])
        mu = math.fsum(row) / d
        sigma = math.sqrt(math.fsum((r - mu) ** 2 for r in row) / d + eps)
        xhat = [(r - mu) / sigma for r in row]
        g = [dy[n + (j,)] * gamma[j] for j in range(d)]
        for i in range(d):
            jac = [((1.0 if i == j else 0.0) - 1.0 / d) / sigma - xhat[j] * xhat[i] / (d * sigma) for j in range(d)]
            dx[n + (i,)] = math.fsum(g[j] * jac[j] for j in range(d))
        for j in range(d):
            dgamma[j] += dy[n + (j,)] * xhat[j]
            dbeta[j] += dy[n + (j,)]
    return dx, dgamma, dbeta


def _elementwise(f, x):
    x = _f64(x)
    return np.vectorize(lambda t: f(float(t)), otypes=[np.float64])(x)


def relu(x):
    return _elementwise(lambda t: t if t > 0 else 0.0, x)


def relu_grad(x):
    return _elementwise(lambda t: 1.0 if t > 0 else 0.0, x)


_C = math.sqrt(2.0 / math.pi)


def gelu(x):
    """0.5 x (1 + tanh(√(2/π)(x + 0.044715 x³)))."""
    return _elementwise(lambda t: 0.5 * t * (1.0 + math.tanh(_C * (t + 0.044715 * t**3))), x)


def gelu_grad(x):
    """d/dx [x Φ(x)] with Φ = (1 + tanh u)/2, u = √(2/π)(x + 0.044715 x³): Φ + x sech²(u) u' / 2."""

    def grad(t):
        u = _C * (t + 0.044715 * t**3)
        du = _C * (1.0 + 3 * 0.044715 * t**2)
        return 0.5 * (1.0 + math.tanh(u)) + 0.5 * t * du / math.cosh(u) ** 2

    return _elementwise(grad, x)


def embedding(ids, table, padding_id=0):
    ids, table = np.asarray(ids), _f64(table)
    out = np.zeros(ids.shape + (table.shape[1],))
    for n in np.ndindex(*ids.shape):
        if padding_id is None or ids[n] != padding_id:
            out[n] = table[ids[n]]
    return out


def embedding_backward(dout, ids, vocab, padding_id=0):
    dout, ids = _f64(dout), np.asarray(ids)
    dtable = np.zeros((vocab, dout.shape[-1]))
    for n in np.ndindex(*ids.shape):
        if padding_id is None or ids[n] != padding_id:
            dtable[ids[n]] += dout[n]
    return dtable


def masked_mean(x, mask=None):
    x = _f64(x)
    mask = np.ones(x.shape[:-1], dtype=bool) if mask is None else np.asarray(mask)
    out = np.zeros(x.shape[:-2] + x.shape[-1:])
    for b in np.ndindex(*x.shape[:-2]):
        kept = [i for i in range(x.shape[-2]) if mask[b + (i,)]]
        for e in range(x.shape[-1]):
            out[b + (e,)] = math.fsum(x[b + (i, e)] for i in kept) / len(kept) if kept else 0.0
    return out


def masked_mean_backward(dout, mask, n):
    dout, mask = _f64(dout), np.asarray(mask)
    dx = np.zeros(dout.shape[:-1] + (n, dout.shape[-1]))
    for b in np.ndindex(*dout.shape[:-1]):
        kept = [i for i in range(n) if mask[b + (i,)]]
        for i in kept:
            dx[b + (i,)] = dout[b] / len(kept)
    return dx


def sigmoid(z):
    """1 / (1 + e^(−z)) for moderate z (|z| < 700 so that math.exp does not overflow)."""
    return _elementwise(lambda t: 1.0 / (1.0 + math.exp(-t)), z)


def bce(logits, labels):
    """mean over elements of −y log σ(z) − (1 − y) log(1 − σ(z)), for moderate logits."""
    logits, labels = _f64(logits).ravel(), _f64(labels).ravel()
    terms = []
    for z, y in zip(logits, labels):
        p = 1.0 / (1.0 + math.exp(-z))
        terms.append(-y * math.log(p) - (1.0 - y) * math.log(1.0 - p))
    return math.fsum(terms) / len(terms)


def bce_grad(logits, labels):
    """∂L/∂z_n = (σ(z_n) − y_n) / N."""
    n = np.size(logits)
    return (sigmoid(logits) - _f64(labels)) / n
