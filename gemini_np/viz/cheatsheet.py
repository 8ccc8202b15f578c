"""The one-page cheat sheet: every formula on it, each with the code that checks it.

    SECTIONS          the sheet's content: (title, [Line]) in reading order; a Line is a
                      mathtext formula (or plain text) and, for a formula, ``check``: a
                      function that evaluates the formula as written with NumPy on random
                      inputs and compares it with the library's op
    check_all()       run every check; returns {formula: max difference}
    fingerprint()     a hash of the sheet's text, stored in the PDF and PNG it makes
    cheatsheet_figure()  the page (A4 landscape), drawn with matplotlib's mathtext

tools/make_cheatsheet.py writes docs/cheatsheet.pdf and docs/cheatsheet.png from
here; tests/test_tools.py runs every check, and checks that the committed files
carry the fingerprint of this text, so the sheet cannot drift from the code.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .style import PALETTE, styled


@dataclass(frozen=True)
class Line:
    text: str  # mathtext ($...$) and/or plain text
    check: Callable[[], float] | None = None  # max |formula − library| on random inputs


def _rng():
    return np.random.default_rng(0)


def _qkv(n_q=4, n_k=5, d_k=3, d_v=2):
    r = _rng()
    return r.standard_normal((n_q, d_k)), r.standard_normal((n_k, d_k)), r.standard_normal((n_k, d_v))


def _rowsum(a):
    return a.sum(axis=-1, keepdims=True)


def _softmax_formula(x):
    m = x.max(axis=-1, keepdims=True)
    e = np.exp(x - m)
    return e / _rowsum(e)


# ----------------------------------------------------------------------------- the checks


def _check_softmax():
    from .. import softmax

    x = _rng().standard_normal((3, 5)) * 100
    return float(np.abs(_softmax_formula(x) - softmax(x)).max())


def _check_softmax_backward():
    from .. import softmax, softmax_backward

    r = _rng()
    y, dy = softmax(r.standard_normal((3, 5))), r.standard_normal((3, 5))
    return float(np.abs(y * (dy - _rowsum(dy * y)) - softmax_backward(dy, y)).max())


def _check_attention_forward():
    from .. import attention_forward

    q, k, v = _qkv()
    scale = 1 / math.sqrt(q.shape[-1])
    S = q @ k.T * scale
    P = _softmax_formula(S)
    return float(np.abs(P @ v - attention_forward(q, k, v)[0]).max())


def _attention_grads(q, k, v, dO, scale, P):
    dV = P.T @ dO
    dP = dO @ v.T
    dS = P * (dP - _rowsum(dP * P))
    return scale * dS @ k, scale * dS.T @ q, dV


def _check_attention_backward():
    from .. import attention_backward, attention_forward

    q, k, v = _qkv()
    out, cache = attention_forward(q, k, v)
    dO = _rng().standard_normal(out.shape)
    mine = _attention_grads(q, k, v, dO, cache.scale, cache.weights)
    return max(float(np.abs(a - b).max()) for a, b in zip(mine, attention_backward(dO, cache)))


def _check_masked_row():
    from .. import attention_backward, attention_forward

    q, k, v = _qkv()
    mask = np.ones((4, 5), dtype=bool)
    mask[1] = False  # query 1 may attend to nothing
    out, cache = attention_forward(q, k, v, mask=mask)
    dq, _, _ = attention_backward(np.ones_like(out), cache)
    return float(max(np.abs(out[1]).max(), np.abs(dq[1]).max()))


def _check_patch():
    from .. import patch_attention_backward, patch_attention_forward, patchify, unpatchify

    r = _rng()
    q, k, v, dO = (r.standard_normal((4, 6, 3)) for _ in range(4))
    p = 2
    qp, kp, vp, dp = (patchify(a, p) for a in (q, k, v, dO))
    scale = 1 / math.sqrt(3)
    P = _softmax_formula(qp @ np.swapaxes(kp, -1, -2) * scale)
    out = unpatchify(P @ vp, p)
    dV = np.swapaxes(P, -1, -2) @ dp
    dP = dp @ np.swapaxes(vp, -1, -2)
    dS = P * (dP - _rowsum(dP * P))
    grads = [unpatchify(g, p) for g in (scale * dS @ kp, scale * np.swapaxes(dS, -1, -2) @ qp, dV)]
    lib_out, cache = patch_attention_forward(q, k, v, p)
    errors = [np.abs(out - lib_out).max()] + [np.abs(a - b).max() for a, b in
                                              zip(grads, patch_attention_backward(dO, cache))]
    return float(max(errors))


def _check_fusion():
    from .. import fusion_attention_backward, fusion_attention_forward

    r = _rng()
    q_t, k_t, q_i, k_i = (r.standard_normal((5, 3)) for _ in range(4))
    v, dO = r.standard_normal((5, 2)), r.standard_normal((5, 2))
    scale = 1 / math.sqrt(q_t.shape[-1])
    P = _softmax_formula((q_t @ k_t.T + q_i @ k_i.T) * scale)
    dP = dO @ v.T
    dS = P * (dP - _rowsum(dP * P))
    mine = (scale * dS @ k_t, scale * dS.T @ q_t, scale * dS @ k_i, scale * dS.T @ q_i, P.T @ dO)
    out, cache = fusion_attention_forward(q_t, k_t, q_i, k_i, v)
    errors = [np.abs(P @ v - out).max()] + [np.abs(a - b).max() for a, b in
                                            zip(mine, fusion_attention_backward(dO, cache))]
    return float(max(errors))


def _check_online():
    from .. import attention_forward

    q, k, v = _qkv(n_q=4, n_k=7)
    scale, b = 1 / math.sqrt(q.shape[-1]), 3
    m, l, acc = np.full((4, 1), -np.inf), np.zeros((4, 1)), np.zeros((4, 2))
    for start in range(0, k.shape[0], b):
        S_b = q @ k[start:start + b].T * scale
        m_new = np.maximum(m, S_b.max(axis=-1, keepdims=True))
        P_b = np.exp(S_b - m_new)
        l = np.exp(m - m_new) * l + _rowsum(P_b)
        acc = np.exp(m - m_new) * acc + P_b @ v[start:start + b]
        m = m_new
    out, cache = attention_forward(q, k, v, block_size=b)
    return float(max(np.abs(acc / l - out).max(), np.abs(m + np.log(l) - cache.lse).max()))


def _check_bounds():
    from ..gradcheck import MODEL_BOUND, OP_BOUND

    return float(abs(OP_BOUND - 1e-7) + abs(MODEL_BOUND - 1e-5))


# ----------------------------------------------------------------------------- the sheet

SECTIONS: list[tuple[str, list[Line]]] = [
    ("Notation", [
        Line(r"$dX = \partial L / \partial X$ has the shape of $X$"),
        Line(r"$A \circ B$: element-wise product (A * B)"),
        Line(r"$\mathrm{rowsum}(A)$: column of row sums, A.sum(-1, keepdims=True)"),
        Line(r"$\mathrm{scale} = 1/\sqrt{d_k}$;   $Q\ (n_q, d_k)$, $K\ (n_k, d_k)$, $V\ (n_k, d_v)$"),
        Line(r"$S, P\ (n_q, n_k)$,   $O\ (n_q, d_v)$;   each row of $P$ sums to 1"),
    ]),
    ("Softmax, row by row", [
        Line(r"$y_j = e^{x_j - m} / \Sigma_l\, e^{x_l - m}$,   $m = \mathrm{max}_l\, x_l$", _check_softmax),
        Line(r"$dx = y \circ (dy - \mathrm{rowsum}(dy \circ y))$", _check_softmax_backward),
        Line(r"(Jacobian $\partial y_j / \partial x_l = y_j (\delta_{jl} - y_l)$)"),
    ]),
    ("Scaled dot-product attention", [
        Line(r"$S = Q K^\top \cdot \mathrm{scale} + M$,   $P = \mathrm{softmax}(S)$,   $O = P V$",
             _check_attention_forward),
        Line(r"$dV = P^\top dO$,   $dP = dO\, V^\top$", _check_attention_backward),
        Line(r"$dS = P \circ (dP - \mathrm{rowsum}(dP \circ P))$"),
        Line(r"$dQ = \mathrm{scale} \cdot dS\, K$,   $dK = \mathrm{scale} \cdot dS^\top Q$"),
        Line(r"($\mathrm{rowsum}(dP \circ P) = \mathrm{rowsum}(dO \circ O)$)"),
    ]),
    ("Masks", [
        Line(r"bool $M$: True = may attend (False $\to -\infty$, weight 0)"),
        Line(r"float $M$: added to the scaled logits"),
        Line(r"fully masked row: $O_i = 0$, $dQ_i = 0$, never NaN", _check_masked_row),
    ]),
    ("Per-patch attention (image encoder)", [
        Line(r"patchify $Q, K, V$: $(H, W, d) \to (H/p, W/p, p^2, d)$", _check_patch),
        Line(r"attention inside each patch, then unpatchify"),
        Line(r"backward: patchify $dO$, attention backward, unpatchify"),
    ]),
    ("Summed-logit fusion (joint sequence, two views)", [
        Line(r"$S = (Q_t K_t^\top + Q_i K_i^\top) \cdot \mathrm{scale} + M$,   $d_k$ = width of $Q_t$",
             _check_fusion),
        Line(r"$P = \mathrm{softmax}(S)$,   $O = P V$;   one $dS$ for both branches:"),
        Line(r"$dQ_t = \mathrm{scale}\, dS K_t$,   $dK_t = \mathrm{scale}\, dS^\top Q_t$"),
        Line(r"$dQ_i = \mathrm{scale}\, dS K_i$,   $dK_i = \mathrm{scale}\, dS^\top Q_i$"),
    ]),
    ("Online softmax (block_size = b)", [
        Line(r"$m' = \max(m, \mathrm{rowmax}\, S_b)$,   $\tilde P_b = e^{S_b - m'}$", _check_online),
        Line(r"$l \leftarrow e^{m - m'}\, l + \mathrm{rowsum}\, \tilde P_b$"),
        Line(r"$\mathrm{acc} \leftarrow e^{m - m'}\, \mathrm{acc} + \tilde P_b V_b$,   $m \leftarrow m'$"),
        Line(r"$O = \mathrm{acc} / l$;   $\mathrm{lse} = m + \log l$;   backward: $P_b = e^{S_b - \mathrm{lse}}$"),
    ]),
    ("Gradient check (float64, random upstream gradient)", [
        Line(r"$\partial L/\partial x_i \approx (L(x + h e_i) - L(x - h e_i)) / 2h$,   $h = 10^{-5}$"),
        Line(r"rel_error $< 10^{-7}$ per op,   $< 10^{-5}$ per model", _check_bounds),
    ]),
]
#: The sheet's two columns: the sections before this index on the left, the rest on the right.
LEFT_COLUMN = 4

TITLE = "gemini_np cheat sheet: attention, forward and backward"
FOOTER = ("Generated by tools/make_cheatsheet.py from gemini_np/viz/cheatsheet.py, whose every formula is "
          "checked against the library by the tests.")


def check_all() -> dict[str, float]:
    """{formula: max |formula − library|} for every line that has a check."""
    return {line.text: line.check() for _, lines in SECTIONS for line in lines if line.check is not None}


def text() -> str:
    """The sheet's whole text, in order (what the fingerprint covers)."""
    parts = [TITLE]
    for title, lines in SECTIONS:
        parts.append(title)
        parts.extend(line.text for line in lines)
    parts.append(FOOTER)
    return "\n".join(parts)


def fingerprint() -> str:
    """sha256 of :func:`text`, first 16 hex digits: written into the PDF and PNG."""
    return "cheatsheet-" + hashlib.sha256(text().encode("utf-8")).hexdigest()[:16]


@styled
def cheatsheet_figure():
    """The page: A4 landscape, one section after the other. Returns the Figure."""
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(11.69, 8.27), dpi=150)
    fig.text(0.03, 0.96, TITLE, fontsize=18, fontweight="bold", va="top")
    step = 0.034
    for x, sections in ((0.03, SECTIONS[:LEFT_COLUMN]), (0.52, SECTIONS[LEFT_COLUMN:])):
        y = 0.89
        for title, lines in sections:
            fig.text(x, y, title, fontsize=13.5, fontweight="bold", color=PALETTE[0], va="top")
            y -= step * 1.1
            for line in lines:
                fig.text(x + 0.015, y, line.text, fontsize=12.5, va="top")
                y -= step
            y -= step * 0.6
    fig.text(0.03, 0.03, FOOTER, fontsize=10, color="#444444")
    return fig
