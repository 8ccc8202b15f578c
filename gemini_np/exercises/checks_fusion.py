"""Exercises of notebooks 04 and 07: fusion_backward, fusion_logits."""
from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from .compare import close, describe
from .harness import Case, Exercise, Mistake, Product

# ----------------------------------------------------------------------------- 04: fusion_backward

_NAMES = ("dq_t", "dk_t", "dq_i", "dk_i", "dv")
_SHARED_DS = "both branches receive the same dS = P ∘ (dP − rowsum(dP ∘ P))"
_SCALE_2DK = ("1/√(2 d_k): the concatenated width 2·d_k suggests it, but the article's formula divides each term "
              "by √d_k, so the scale is 1/√d_k = {s:.4g}")


def _fusion_case(about, seed, n_q, n_k, d, d_v):
    rng = np.random.default_rng(seed)
    q_t, k_t = rng.standard_normal((n_q, d)), rng.standard_normal((n_k, d))
    q_i, k_i = rng.standard_normal((n_q, d)), rng.standard_normal((n_k, d))
    v, dout = rng.standard_normal((n_k, d_v)), rng.standard_normal((n_q, d_v))
    _, cache = F.fusion_attention_forward(q_t, k_t, q_i, k_i, v)
    want = F.fusion_attention_backward(dout, cache)
    s, p = cache.scale, np.array(cache.weights)
    dp = dout @ v.T

    def grads(ds, p=p, scale=s):  # what a given dS (and P) make of the five gradients
        return scale * ds @ k_t, scale * ds.T @ q_t, scale * ds @ k_i, scale * ds.T @ q_i, p.T @ dout

    def ds_of(p):
        return p * (dp - np.sum(dp * p, axis=-1, keepdims=True))

    ds = ds_of(p)
    per_branch = []  # the wrong "one attention per branch": each branch through its own softmax
    for q, k in ((q_t, k_t), (q_i, k_i)):
        _, branch = F.attention_forward(q, k, v, scale=s)
        per_branch.append(F.attention_backward(dout, branch))
    (dq_t1, dk_t1, dv_t1), (dq_i1, dk_i1, dv_i1) = per_branch
    separate = ("you back-propagated each branch through its own softmax; there is ONE softmax of the summed "
                f"logits, P = softmax((Q_t K_tᵀ + Q_i K_iᵀ) · scale), so {_SHARED_DS}")
    p_2dk = F.softmax((q_t @ k_t.T + q_i @ k_i.T) * (s / math.sqrt(2)))
    p_dk = F.softmax((q_t @ k_t.T + q_i @ k_i.T) * (s * s))
    p_text = F.softmax(q_t @ k_t.T * s)
    mistakes = [
        Mistake("separate-softmax", separate, (dq_t1, dk_t1, dq_i1, dk_i1, want[4])),
        Mistake("separate-softmax", separate, (dq_t1, dk_t1, dq_i1, dk_i1, dv_t1 + dv_i1)),
        Mistake("separate-softmax", separate, (dq_t1, dk_t1, dq_i1, dk_i1, dv_t1)),
        Mistake("wrong-branch", "a query was paired with the other branch's keys (dq_t uses K_i): S contains "
                                "Q_t K_tᵀ and Q_i K_iᵀ, so dQ_t = scale · dS K_t, dK_t = scale · dSᵀ Q_t, and the "
                                "image branch likewise with K_i and Q_i",
                (s * ds @ k_i, s * ds.T @ q_i, s * ds @ k_t, s * ds.T @ q_t, want[4])),
        Mistake("image-branch-copied", "the image branch reuses the text branch's gradients: dQ_i = scale · dS K_i "
                                       "and dK_i = scale · dSᵀ Q_i, with the image branch's own factors",
                (want[0], want[1], want[0], want[1], want[4])),
        Mistake("no-scale", f"the query/key gradients miss the factor scale = 1/√d_k = {s:.4g}: "
                            "S = (Q_t K_tᵀ + Q_i K_iᵀ) · scale, so every dQ and dK carries it", grads(ds, scale=1.0)),
        Mistake("scale-1/sqrt(2d_k)", _SCALE_2DK.format(s=s), grads(ds, scale=s / math.sqrt(2))),
        Mistake("scale-1/sqrt(2d_k)", _SCALE_2DK.format(s=s), grads(ds_of(p_2dk), p=p_2dk, scale=s / math.sqrt(2))),
        Mistake("scale-1/d_k", f"the query/key gradients are scaled by 1/d_k (or by the scale twice); the scale is "
                               f"1/√d_k = {s:.4g}, once", grads(ds, scale=s * s)),
        Mistake("scale-1/d_k", f"you used the scale 1/d_k (in the forward too); the scale is 1/√d_k = {s:.4g}, "
                               f"in P and in every dQ, dK", grads(ds_of(p_dk), p=p_dk, scale=s * s)),
        Mistake("no-rowsum-term", f"dS misses the row-sum term: {_SHARED_DS}, not P ∘ dP", grads(p * dp)),
        Mistake("sign", f"dS has the wrong sign (the four query/key gradients are negated): {_SHARED_DS}",
                grads(-ds)),
        Mistake("rowsum-wrong-axis", "the row-sum runs over the wrong axis: rowsum(dP ∘ P) sums over the keys of "
                                     "each query (axis=-1, keepdims=True), not over the queries (axis 0)",
                grads(p * (dp - np.sum(dp * p, axis=0, keepdims=True)))),
        Mistake("text-only-p", "dv is wrong: dV = Pᵀ dO with P the softmax of the *summed* logits, not of the "
                               "text logits alone", want[:4] + (p_text.T @ dout,)),
    ]
    shapes = {"Q_t and Q_i": q_t.shape, "K_t and K_i": k_t.shape, "V": v.shape, "dO": dout.shape,
              "P, S, dP and dS": p.shape}
    products = (
        Product("dV", "Pᵀ dO", ("P", p.shape), ("dO", dout.shape), v.shape),
        Product("dP", "dO Vᵀ", ("dO", dout.shape), ("V", v.shape), p.shape),
        Product("dQ_t (or dQ_i)", "dS K_t (or dS K_i), times the scale", ("dS", p.shape), ("K", k_t.shape),
                q_t.shape),
        Product("dK_t (or dK_i)", "dSᵀ Q_t (or dSᵀ Q_i), times the scale", ("dS", p.shape), ("Q", q_t.shape),
                k_t.shape),
    )
    return Case(about, (dout, q_t, k_t, q_i, k_i, v), want, mistakes, shapes=shapes, products=products)


def _fusion_cases():
    return [
        _fusion_case("q (4, 3), k (5, 3), v (5, 2)", 40, n_q=4, n_k=5, d=3, d_v=2),
        _fusion_case("q (3, 8), k (6, 8), v (6, 2)", 41, n_q=3, n_k=6, d=8, d_v=2),
    ]


def _fusion_diagnose(got, case):
    wrong = [name for name, g, w in zip(_NAMES, got, case.want) if not close(g, w)]
    first = _NAMES.index(wrong[0])
    detail = f"{wrong[0]} {describe(got[first], case.want[first])}"
    if "dv" in wrong:
        return f"dv is wrong: dV = Pᵀ dO with P = softmax((Q_t K_tᵀ + Q_i K_iᵀ) · scale). {detail}"
    if set(wrong) == {"dq_i", "dk_i"}:
        return ("the text branch is right but the image branch is not: S contains Q_i K_iᵀ exactly as it contains "
                f"Q_t K_tᵀ, so dQ_i = scale · dS K_i and dK_i = scale · dSᵀ Q_i. {detail}")
    if set(wrong) == {"dq_t", "dk_t"}:
        return ("the image branch is right but the text branch is not: dQ_t = scale · dS K_t and "
                f"dK_t = scale · dSᵀ Q_t. {detail}")
    if len(wrong) == 4:
        return ("dv is right, so P and dP are; all four query/key gradients are wrong, which points at dS, the one "
                f"thing they share: {_SHARED_DS} (each row sums to 0), times the scale. {detail}")
    return f"{', '.join(wrong)} wrong: each is scale · dS (or dSᵀ) times the other factor of its own term. {detail}"


FUSION_BACKWARD = Exercise(
    name="fusion_backward",
    params=("dout", "q_t", "k_t", "q_i", "k_i", "v"),
    outputs=_NAMES,
    cases=_fusion_cases,
    allowed=frozenset({"softmax", "softmax_backward", "attention_forward", "fusion_attention_forward"}),
    diagnose=_fusion_diagnose,
    passed="all five gradients match: both branches got the same dS",
    explanation="S = (Q_t K_tᵀ + Q_i K_iᵀ) · scale is a sum, and a sum passes its gradient unchanged to each term:\n"
                "one softmax, one dS = P ∘ (dP − rowsum(dP ∘ P)), then each branch as in plain attention,\n"
                "dQ_t = scale · dS K_t, dK_t = scale · dSᵀ Q_t, and the same with K_i, Q_i.",
)

# ----------------------------------------------------------------------------- 07: fusion_logits


def _library_logits(z, w_qt, w_kt, w_qi, w_ki):
    """S of gemini_np's fusion attention over the joint sequence z, (L, L).

    fusion_attention_forward returns only P = softmax(S), which fixes each row of
    S up to a constant. One extra key whose logits are 0 in both views (a zero
    row of K_t and K_i) pins the constant: P_ij / P_i,extra = e^(S_ij − 0), so
    S_ij = log P_ij − log P_i,extra.
    """
    q_t, q_i = z @ w_qt, z @ w_qi
    zero = np.zeros((1, w_kt.shape[1]))
    k_t, k_i = np.concatenate([z @ w_kt, zero]), np.concatenate([z @ w_ki, zero])
    v = np.zeros((k_t.shape[0], 1))
    _, cache = F.fusion_attention_forward(q_t, k_t, q_i, k_i, v)
    log_p = np.log(cache.weights)
    return log_p[:, :-1] - log_p[:, -1:]


def _fusion_logits_case(about, seed, n, m, d, d_k):
    rng = np.random.default_rng(seed)
    text, patches = 0.5 * rng.standard_normal((n, d)), 0.5 * rng.standard_normal((m, d))
    w_qt, w_kt, w_qi, w_ki = (0.5 * rng.standard_normal((d, d_k)) for _ in range(4))
    z = np.concatenate([text, patches])  # the joint sequence of gemini_np.model.FusionLayer
    want = _library_logits(z, w_qt, w_kt, w_qi, w_ki)
    s = 1.0 / math.sqrt(d_k)
    text_block = (text @ w_qt) @ (text @ w_kt).T * s  # the article's per-modality blocks
    image_block = (patches @ w_qi) @ (patches @ w_ki).T * s
    block_diagonal = np.zeros_like(want)
    block_diagonal[:n, :n], block_diagonal[n:, n:] = text_block, image_block
    blocks = (f"you added per-modality blocks, text logits ({n}, {n}) and image logits ({m}, {m}): that is erratum 3, "
              f"defined only when n = m and even then no word attends to a patch. Stack one joint sequence "
              f"Z = [text; patches] ({n + m}, {d}) and compute both views on it: Z W_qt (Z W_kt)ᵀ and "
              f"Z W_qi (Z W_ki)ᵀ are both ({n + m}, {n + m})")
    swapped = np.concatenate([patches, text])
    scale_2dk = (f"you scaled by 1/√(2 d_k): the concatenated width 2·d_k suggests it, but the article divides "
                 f"each view's logits by √d_k, scale = 1/√d_k = {s:.4g}")
    no_scale = f"the scale 1/√d_k = {s:.4g} is missing: S = (Q_t K_tᵀ + Q_i K_iᵀ) / √d_k"
    mistakes = [
        Mistake("scale-1/sqrt(2d_k)", scale_2dk, want / math.sqrt(2)),
        Mistake("no-scale", no_scale, want * math.sqrt(d_k)),
        Mistake("scale-1/d_k", f"you divided by d_k (or by √d_k twice); the scale is 1/√d_k = {s:.4g}",
                want / math.sqrt(d_k)),
        Mistake("block-diagonal", "you placed each modality's logits in its own diagonal block, so no token attends "
                                  "across modalities (no word to a patch, no patch to a word): compute both views on "
                                  "the whole joint sequence Z = [text; patches]", block_diagonal),
        Mistake("patches-first", "Z = [text; patches], text tokens first: your rows and columns start with the "
                                 "patches", _library_logits(swapped, w_qt, w_kt, w_qi, w_ki)),
        Mistake("views-crossed", "pair each query with the key of its own view: Z W_qt with Z W_kt (text view) and "
                                 "Z W_qi with Z W_ki (image view)",
                ((z @ w_qt) @ (z @ w_ki).T + (z @ w_qi) @ (z @ w_kt).T) * s),
        Mistake("transposed", "S is the transpose of the right one: S = Q Kᵀ, a row per query (K Qᵀ has a row per "
                              "key)", want.T),
        Mistake("softmax-applied", "you returned softmax(S): the exercise asks for the logits S themselves",
                F.softmax(want)),
    ]
    shapes = {"text": text.shape, "patches": patches.shape, "each W": w_qt.shape, "Z": z.shape}
    products = (
        Product("Q_t", "Z W_qt (and likewise K_t, Q_i, K_i)", ("Z", z.shape), ("W", w_qt.shape), (n + m, d_k)),
        Product("S", "Q_t K_tᵀ + Q_i K_iᵀ", ("Q", (n + m, d_k)), ("K", (n + m, d_k)), (n + m, n + m)),
    )
    known = {((n, n), (m, m)): blocks,
             "concatenate": f"Stack text and patches along the sequence axis: Z = np.concatenate([text, patches], "
                            f"axis=0), shape ({n + m}, {d})"}
    return Case(about, (text, patches, w_qt, w_kt, w_qi, w_ki), want, mistakes,
                factors=((1 / math.sqrt(2), scale_2dk), (math.sqrt(d_k), no_scale)),
                shapes=shapes, products=products, known_errors=known)


def _fusion_logits_cases():
    return [
        _fusion_logits_case("text (3, 5), patches (4, 5), d_k = 3", 50, n=3, m=4, d=5, d_k=3),
        _fusion_logits_case("text (2, 4), patches (2, 4), d_k = 4", 51, n=2, m=2, d=4, d_k=4),
    ]


FUSION_LOGITS = Exercise(
    name="fusion_logits",
    params=("text", "patches", "w_qt", "w_kt", "w_qi", "w_ki"),
    outputs=("S",),
    cases=_fusion_logits_cases,
    passed="S is the summed two-view logits over the joint sequence, for n ≠ m and n = m",
    explanation="On the joint sequence Z = [text; patches] both logit matrices are (n+m)×(n+m), so the article's\n"
                "sum is defined for any n and m, and every token can attend across modalities. Summing the\n"
                "logits equals one attention over concatenated features [Q_t, Q_i][K_t, K_i]ᵀ with scale 1/√d_k.",
)
