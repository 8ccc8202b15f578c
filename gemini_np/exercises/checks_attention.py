"""Exercises of notebooks 01 and 02: worked_example, softmax, softmax_backward, attention_backward.

Each exercise lists its input cases; each case holds the right answer, computed
by gemini_np's own ops, and the catalogue of typical wrong answers on the same
inputs, each with the hint that names it (see :mod:`.harness`).
"""
from __future__ import annotations

import math

import numpy as np

from .. import article
from .. import functional as F
from .compare import close, describe
from .harness import Case, Exercise, Mistake, Product

# ----------------------------------------------------------------------------- 01: worked_example


def _worked_example_case(about, h, d_k):
    n = h.shape[0]
    _, cache = F.attention_forward(h, h, h, scale=1.0 / math.sqrt(d_k))  # P = softmax(h hᵀ/√d_k)
    s = h @ h.T  # the article's similarities (it gets these right)
    e = np.exp(s / math.sqrt(d_k))
    mistakes = [
        Mistake("identity", "that is the article's claim, the identity. Softmax of a finite row never gives exact "
                            "0s and 1s (the identity is only the zero-temperature limit, a hard max): apply softmax "
                            "to each row of S = h hᵀ / √d_k", np.eye(n)),
        Mistake("softmax-of-scalars", "every weight is 1: that is softmax of each single number (e^s / e^s = 1), "
                                      "the article's procedure taken literally. Softmax normalises a whole row: "
                                      "one distribution over the keys for each query", np.ones((n, n))),
        Mistake("no-scale", "these are the weights of softmax(h hᵀ): the 1/√d_k scaling of the article's own "
                            "formula is missing", F.softmax(s)),
        Mistake("scale-1/d_k", "you divided the similarities by d_k; the formula divides by √d_k",
                F.softmax(s / d_k)),
        Mistake("columns", "your columns sum to 1, not your rows: normalise along the last axis (axis=-1), one "
                           "distribution over the keys for each query", F.softmax(s / math.sqrt(d_k), axis=0)),
        Mistake("whole-matrix", "you divided by the sum of the whole matrix; divide each row by its own sum "
                                "(axis=-1, keepdims=True)", e / e.sum()),
        Mistake("scores", "you returned the scaled similarities S = h hᵀ / √d_k themselves: apply the row-wise "
                          "softmax to them", s / math.sqrt(d_k)),
        Mistake("no-exp", "you divided each row by its sum without exponentiating: softmax is "
                          "e^(s_j) / Σ_l e^(s_l)", (s / math.sqrt(d_k)) / (s / math.sqrt(d_k)).sum(-1, keepdims=True)),
        Mistake("features", "P compares words with words: h hᵀ is (n, n), one similarity per pair of words; "
                            "hᵀ h is (d, d) and compares features", F.softmax(h.T @ h / math.sqrt(d_k))),
    ]
    if d_k != article.D_MODEL:
        mistakes.append(Mistake("hard-coded-d_k", f"you divided by √{article.D_MODEL} for every input: use the "
                                                  f"d_k argument", F.softmax(s / math.sqrt(article.D_MODEL))))
    shapes = {"h": h.shape, "h hᵀ and P": (n, n)}
    products = (Product("S", "h hᵀ", ("h", h.shape), ("h", h.shape), (n, n)),)
    return Case(about, (h, d_k), np.array(cache.weights), mistakes, shapes=shapes, products=products)


def _worked_example_cases():
    rng = np.random.default_rng(20)
    return [  # random words first: with the article's one-hot h several mistakes give the same numbers
        _worked_example_case("h (4, 6), d_k = 6", 1.5 * rng.standard_normal((4, 6)), 6),
        _worked_example_case("the article's one-hot h (3, 5), d_k = 5", article.embeddings(), article.D_MODEL),
    ]


WORKED_EXAMPLE = Exercise(
    name="worked_example",
    params=("h", "d_k"),
    outputs=("P",),
    cases=_worked_example_cases,
    allowed=frozenset({"softmax"}),
    passed="your weights are the row-wise softmax of h hᵀ / √d_k, for the article's words and for random ones",
    explanation="Softmax normalises each row of S = h hᵀ/√d_k: one distribution over the keys per query.\n"
                "It never returns exact 0s and 1s, so the article's identity matrix is wrong; the identity is\n"
                "only the limit of softmax(S / T) as the temperature T → 0 (a hard max).",
)

# ----------------------------------------------------------------------------- 02: softmax


def _softmax_axis_hint(axis, ndim):
    if axis == 0 and ndim == 2:
        return ("you normalised down the columns (axis 0): softmax runs along the last axis (axis=-1), one "
                "distribution per row")
    return (f"you normalised along axis {axis}, which is the last axis only for {axis + 1}-D arrays: use axis=-1 "
            f"so that any (..., n) input works")


def _softmax_mistakes(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    e_raw = np.exp(x)  # overflows for x > ~709
    e_global = np.exp(x - x.max())
    e_column = np.exp(x - x.max(axis=0, keepdims=True))
    mistakes = [Mistake("wrong-axis", _softmax_axis_hint(axis, x.ndim), F.softmax(x, axis=axis))
                for axis in range(x.ndim - 1)]
    mistakes += [
        Mistake("no-max", "exp overflowed: e^800 and e^10000 are inf in float64, and inf / inf is NaN. Subtract "
                          "each row's max first, softmax(x) = softmax(x − max(x)): nothing changes mathematically, "
                          "and every exponent is ≤ 0", e_raw / e_raw.sum(axis=-1, keepdims=True)),
        Mistake("global-max", "you subtracted the max of the whole array: a row far below that max underflows, "
                              "e^(−9200) = 0 for every entry, and 0 / 0 is NaN. Subtract each row's own max "
                              "(axis=-1, keepdims=True)", e_global / e_global.sum(axis=-1, keepdims=True)),
        Mistake("column-max", "you subtracted each column's max (axis 0): only a constant per row cancels between "
                              "numerator and denominator. Subtract each row's max (axis=-1, keepdims=True)",
                e_column / e_column.sum(axis=-1, keepdims=True)),
        Mistake("whole-sum", "you divided by the sum of the whole array: divide each row by its own sum "
                             "(axis=-1, keepdims=True)", e / e.sum()),
        Mistake("whole-sum", "you divided by the sum of the whole array: divide each row by its own sum "
                             "(axis=-1, keepdims=True)", e_raw / e_raw.sum()),
        Mistake("column-sum", "you divided by each column's sum (axis 0): divide each row by its own sum "
                              "(axis=-1, keepdims=True)", e / e.sum(axis=0, keepdims=True)),
        Mistake("not-normalised", "your rows do not sum to 1: divide the exponentials by their row sum", e),
        Mistake("not-normalised", "your rows do not sum to 1: divide the exponentials by their row sum", e_raw),
        Mistake("no-exp", "you divided x by its row sum without exponentiating: softmax(x)_j = e^(x_j) / Σ_l e^(x_l)",
                x / x.sum(axis=-1, keepdims=True)),
    ]
    return mistakes


def _softmax_case(about, x):
    return Case(about, (x,), F.softmax(x), _softmax_mistakes(x), shapes={"x": x.shape})


def _softmax_cases():
    rng = np.random.default_rng(10)
    big = np.array([[1e4, 0.0, -1e4, 5.0], [800.0, 799.0, 0.0, -3.0], [-1e4, -1e4, -1e4, -1e4]])
    return [
        _softmax_case("x (4, 6)", 2.0 * rng.standard_normal((4, 6))),
        _softmax_case("x (2, 3, 5)", 2.0 * rng.standard_normal((2, 3, 5))),
        _softmax_case("logits of ±1e4 and 800", big),
    ]


def _softmax_one_row():
    x = np.array([0.5, -1.0, 2.0, 0.0, 1.5])
    return _softmax_case("x (5,)", x)


def _softmax_diagnose(got, case):
    (y,) = got
    if not np.all(np.isfinite(y)) and np.max(np.abs(case.args[0])) > 700:
        return ("right on small inputs, but logits such as 800 or ±1e4 give NaN or inf: e^800 overflows float64. "
                "Subtract each row's max first, softmax(x) = softmax(x − max(x))")
    sums = y.sum(axis=-1)
    if not np.allclose(sums, 1.0):
        shown = np.round(sums, 4).ravel()[:6].tolist()
        return (f"each row should sum to 1, yours sum to {shown}: divide e^x by the sum of its own row "
                f"(axis=-1, keepdims=True)")
    return None


SOFTMAX = Exercise(
    name="softmax",
    params=("x",),
    outputs=("softmax(x)",),
    cases=_softmax_cases,
    diagnose=_softmax_diagnose,
    one_row=_softmax_one_row,
    passed="rows sum to 1, the values match for 2-D and 3-D inputs, and logits of ±1e4 stay finite",
    explanation="softmax(x − c) = softmax(x) for any c constant along a row: e^(−c) cancels between the\n"
                "numerator and the denominator. With c = the row's max every exponent is ≤ 0, so nothing\n"
                "overflows, and the largest term is e^0 = 1, so the denominator is never 0.",
)

# ----------------------------------------------------------------------------- 02: softmax_backward


def _softmax_backward_mistakes(dy, y):
    r = np.sum(dy * y, axis=-1, keepdims=True)  # Σ_j dy_j y_j, per row
    mistakes = [
        Mistake("no-rowsum-term", "you returned y ∘ dy: the term − y ∘ Σ_j dy_j y_j is missing. Every x_j moves "
                                  "every y_i through the shared denominator: dx = y ∘ (dy − Σ_j dy_j y_j)", y * dy),
        Mistake("diagonal-jacobian", "you used only the diagonal of the Jacobian, ∂y_i/∂x_i = y_i(1 − y_i); the "
                                     "off-diagonal terms ∂y_i/∂x_j = −y_i y_j matter too: "
                                     "dx = y ∘ (dy − Σ_j dy_j y_j)", dy * y * (1 - y)),
        Mistake("sign", "the sign is flipped: yours is −(the right dx); dx = y ∘ (dy − Σ_j dy_j y_j)",
                y * (r - dy)),
        Mistake("rowsum-whole-array", "the sum Σ_j dy_j y_j must be taken per row (axis=-1, keepdims=True), not "
                                      "over the whole array", y * (dy - np.sum(dy * y))),
        Mistake("missing-y-factor", "almost: multiply by y, dx = y ∘ (dy − Σ_j dy_j y_j)", dy - r),
        Mistake("mean-not-weighted", "you subtracted the plain mean of dy; the term is the y-weighted sum "
                                     "Σ_j y_j dy_j (the mean weights every entry equally)",
                y * (dy - dy.mean(axis=-1, keepdims=True))),
        Mistake("unweighted-sum", "you subtracted Σ_j dy_j; the term is weighted by y: Σ_j dy_j y_j",
                y * (dy - dy.sum(axis=-1, keepdims=True))),
    ]
    for axis in range(y.ndim - 1):
        mistakes.append(Mistake(
            "rowsum-wrong-axis", f"you summed dy ∘ y over axis {axis}; the sum runs along the softmax's own axis, "
                                 f"the last one: Σ_j dy_j y_j per row (axis=-1, keepdims=True)",
            y * (dy - np.sum(dy * y, axis=axis, keepdims=True))))
    return mistakes


def _softmax_backward_case(about, dy, y):
    want = F.softmax_backward(dy, y)
    return Case(about, (dy, y), want, _softmax_backward_mistakes(dy, y), factors=((-1.0, "the sign is flipped"),),
                shapes={"dy and y": y.shape})


def _softmax_backward_cases():
    rng = np.random.default_rng(11)
    cases = []
    for shape in ((3, 5), (2, 3, 4)):
        y = F.softmax(rng.standard_normal(shape))
        dy = rng.standard_normal(shape)  # a random upstream gradient: a sum() loss would hide the bugs
        cases.append(_softmax_backward_case(f"y {shape}", dy, y))
    return cases


def _softmax_backward_one_row():
    rng = np.random.default_rng(12)
    y = F.softmax(rng.standard_normal(5))
    return _softmax_backward_case("y (5,)", rng.standard_normal(5), y)


SOFTMAX_BACKWARD = Exercise(
    name="softmax_backward",
    params=("dy", "y"),
    outputs=("dx",),
    cases=_softmax_backward_cases,
    allowed=frozenset({"softmax"}),
    one_row=_softmax_backward_one_row,
    passed="dx matches the exact gradient for 2-D and 3-D inputs",
    explanation="∂y_i/∂x_j = y_i (δ_ij − y_j), so dx_j = Σ_i dy_i y_i (δ_ij − y_j) = y_j dy_j − y_j Σ_i dy_i y_i,\n"
                "that is dx = y ∘ (dy − Σ_j dy_j y_j): one dot product per row, never the n×n Jacobian.",
)

# ----------------------------------------------------------------------------- 02: attention_backward


def _attention_case(about, seed, n_q, n_k, d_k, d_v):
    rng = np.random.default_rng(seed)
    q, k = rng.standard_normal((n_q, d_k)), rng.standard_normal((n_k, d_k))
    v, dout = rng.standard_normal((n_k, d_v)), rng.standard_normal((n_q, d_v))
    _, cache = F.attention_forward(q, k, v)
    want = F.attention_backward(dout, cache)
    s, p = cache.scale, np.array(cache.weights)
    dp = dout @ v.T

    def grads(ds, p=p, scale=s):  # what a given dS (and P) make of dq, dk, dv
        return scale * ds @ k, scale * ds.T @ q, p.T @ dout

    r = np.sum(dp * p, axis=-1, keepdims=True)
    p_unscaled, p_over_d = F.softmax(q @ k.T), F.softmax(q @ k.T / d_k)

    def ds_of(p):
        return p * (dp - np.sum(dp * p, axis=-1, keepdims=True))

    row_sum = "the row-sum "
    mistakes = [
        Mistake("no-rowsum-term", "dS misses the row-sum term: dS = P ∘ (dP − rowsum(dP ∘ P)), not P ∘ dP. Every "
                                  "logit of a row moves every weight of that row (one shared denominator), so each "
                                  "row of dS must sum to 0", grads(p * dp)),
        Mistake("diagonal-jacobian", "dS uses only the diagonal of the softmax Jacobian, P(1 − P): the off-diagonal "
                                     "terms −P_ij P_il matter too, which gives dS = P ∘ (dP − rowsum(dP ∘ P))",
                grads(p * (1 - p) * dp)),
        Mistake("sign", "dS has the wrong sign (dq and dk are the negatives of the right ones, dv is right): "
                        "dS = P ∘ (dP − rowsum(dP ∘ P))", grads(p * (r - dp))),
        Mistake("rowsum-wrong-axis", row_sum + "runs over the wrong axis: rowsum(dP ∘ P) sums over the keys of each "
                                               "query (axis=-1, keepdims=True), you summed over the queries (axis 0). "
                                               "dq and dk are wrong only because dS is",
                grads(p * (dp - np.sum(dp * p, axis=0, keepdims=True)))),
        Mistake("rowsum-whole-array", row_sum + "is taken over the whole array: rowsum(dP ∘ P) is one number per "
                                                "query (axis=-1, keepdims=True). dq and dk are wrong only because "
                                                "dS is",
                grads(p * (dp - np.sum(dp * p)))),
        Mistake("mean-not-weighted", "in dS you subtracted the mean of each row of dP; the term is the P-weighted "
                                     "sum rowsum(dP ∘ P) = Σ_j P_ij dP_ij (a mean weights every key equally)",
                grads(p * (dp - dp.mean(axis=-1, keepdims=True)))),
        Mistake("unweighted-rowsum", "in dS you subtracted rowsum(dP); the term is weighted by P: rowsum(dP ∘ P)",
                grads(p * (dp - dp.sum(axis=-1, keepdims=True)))),
        Mistake("no-softmax-backward", "you used dS = dP: the softmax's backward is missing, "
                                       "dS = P ∘ (dP − rowsum(dP ∘ P))", grads(dp)),
        Mistake("no-scale", f"dq and dk miss the factor scale = 1/√d_k = {s:.4g}: S = Q Kᵀ · scale, so "
                            f"dQ = scale · dS K and dK = scale · dSᵀ Q", grads(p * (dp - r), scale=1.0)),
        Mistake("scale-1/d_k", f"dq and dk are scaled by 1/d_k (or by the scale twice); the scale is "
                               f"1/√d_k = {s:.4g}, once", grads(p * (dp - r), scale=s * s)),
        Mistake("forward-without-scale", "the P in your backward is softmax(Q Kᵀ) without the scale: recompute the "
                                         "forward exactly, P = softmax(Q Kᵀ · scale)",
                grads(ds_of(p_unscaled), p=p_unscaled)),
        Mistake("no-scale-anywhere", "the scale is missing everywhere, in P = softmax(Q Kᵀ · scale) and in "
                                     "dQ = scale · dS K, dK = scale · dSᵀ Q",
                grads(ds_of(p_unscaled), p=p_unscaled, scale=1.0)),
        Mistake("scale-1/d_k", f"you used the scale 1/d_k (in the forward too); the scale is 1/√d_k = {s:.4g}, "
                               f"in P = softmax(Q Kᵀ · scale) and in dQ, dK",
                grads(ds_of(p_over_d), p=p_over_d, scale=1.0 / d_k)),
    ]
    shapes = {"Q": q.shape, "K": k.shape, "V": v.shape, "dO": dout.shape, "P, S, dP and dS": p.shape}
    products = (
        Product("dV", "Pᵀ dO", ("P", p.shape), ("dO", dout.shape), v.shape),
        Product("dP", "dO Vᵀ", ("dO", dout.shape), ("V", v.shape), p.shape),
        Product("dQ", "dS K (times the scale)", ("dS", p.shape), ("K", k.shape), q.shape),
        Product("dK", "dSᵀ Q (times the scale)", ("dS", p.shape), ("Q", q.shape), k.shape),
        Product("S", "Q Kᵀ", ("Q", q.shape), ("K", k.shape), p.shape),
    )
    return Case(about, (dout, q, k, v), want, mistakes, shapes=shapes, products=products)


def _attention_cases():
    return [
        _attention_case("q (4, 3), k (5, 3), v (5, 2)", 2, n_q=4, n_k=5, d_k=3, d_v=2),
        _attention_case("q (3, 8), k (6, 8), v (6, 2)", 3, n_q=3, n_k=6, d_k=8, d_v=2),
    ]


def _wrong_weights(q, k):
    """Typical wrong recomputations of P in a backward, and what each one is."""
    d_k = q.shape[-1]
    scale = 1.0 / math.sqrt(d_k)
    logits = q @ k.T
    return [
        (F.softmax(logits), "P was recomputed without the scale: P = softmax(Q Kᵀ · scale)"),
        (scale * F.softmax(logits), "the scale multiplies the weights instead of the logits: "
                                    "P = softmax(Q Kᵀ · scale), the scale inside the softmax"),
        (F.softmax(logits * scale, axis=0), "P was normalised over the queries (axis 0): each row of P, one "
                                            "query's weights over the keys, sums to 1 (axis=-1)"),
        (F.softmax(logits / d_k), "P was recomputed with the scale 1/d_k: the scale is 1/√d_k"),
        (logits * scale, "P is the softmax of the logits, not the logits S = Q Kᵀ · scale themselves"),
    ]


def _attention_diagnose(got, case):
    (dq, dk, dv), (want_dq, want_dk, want_dv) = got, case.want
    dout, q, k, _ = case.args
    if not close(dv, want_dv):
        for p, hint in _wrong_weights(q, k):
            if close(dv, p.T @ dout):
                return f"dv is wrong because P is: {hint}"
        return (f"dv {describe(dv, want_dv)}. dV = Pᵀ dO, with P = softmax(Q Kᵀ · scale) recomputed exactly "
                f"as in the forward")
    if not close(dq, want_dq) and not close(dk, want_dk):
        return ("dv is right, so P and dP are too; dq and dk are both wrong, which points at dS, the one thing they "
                "share: dS = P ∘ (dP − rowsum(dP ∘ P)) (each row of a right dS sums to 0: test it), then "
                f"dQ = scale · dS K and dK = scale · dSᵀ Q. dq {describe(dq, want_dq)}")
    if not close(dq, want_dq):
        return (f"dv and dk are right, so dS is: only the dq line is wrong, dQ = scale · dS K. "
                f"dq {describe(dq, want_dq)}")
    return (f"dv and dq are right, so dS is: only the dk line is wrong, dK = scale · dSᵀ Q (each key gets "
            f"gradient from every query). dk {describe(dk, want_dk)}")


ATTENTION_BACKWARD = Exercise(
    name="attention_backward",
    params=("dout", "q", "k", "v"),
    outputs=("dq", "dk", "dv"),
    cases=_attention_cases,
    allowed=frozenset({"softmax", "softmax_backward", "attention_forward"}),
    diagnose=_attention_diagnose,
    passed="dq, dk and dv match the exact gradients, for two sets of shapes",
    explanation="O = P V gives dV = Pᵀ dO and dP = dO Vᵀ. Each row of P is a softmax of a row of S, so\n"
                "dS = P ∘ (dP − rowsum(dP ∘ P)) (and rowsum(dP ∘ P) = rowsum(dO ∘ O), cheaper). S = Q Kᵀ · scale\n"
                "gives dQ = scale · dS K and dK = scale · dSᵀ Q: each gradient has the shape of its input.",
)
