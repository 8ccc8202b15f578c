"""The catalogue of typical wrong answers: each mistake, written the way a student would
write it, must get ``fail`` with a hint that names *that* mistake (asserted on its
words and on the catalogue key the checker reports), never a bare relative error.

These tests need no reference solution: every function here is a student's wrong attempt.
"""
import numpy as np
import pytest

from gemini_np.exercises import check

CATALOGUE = []


def mistake(exercise, key, *words, absent=()):
    """Register a wrong function: check(fn, exercise) must fail with ``details["mistake"] == key``
    and a message containing every one of ``words`` (and none of ``absent``)."""

    def register(fn):
        CATALOGUE.append(pytest.param(exercise, fn, key, words, absent, id=f"{exercise}-{fn.__name__}"))
        return fn

    return register


def row_softmax(s):
    """The student's own working softmax from exercise 2 (used inside later exercises)."""
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ----------------------------------------------------------------------------- 01 worked_example

@mistake("worked_example", "identity", "identity", "each row")
def article_identity(h, d_k):
    return np.eye(h.shape[0])  # what the article prints


@mistake("worked_example", "softmax-of-scalars", "single number", "whole row")
def softmax_of_each_score(h, d_k):
    s = h @ h.T / np.sqrt(d_k)
    return np.exp(s) / np.exp(s)  # softmax of every entry on its own


@mistake("worked_example", "no-scale", "1/√d_k", "missing")
def worked_example_unscaled(h, d_k):
    e = np.exp(h @ h.T)
    return e / e.sum(axis=1, keepdims=True)


@mistake("worked_example", "columns", "columns", "axis=-1")
def worked_example_columns(h, d_k):
    e = np.exp(h @ h.T / np.sqrt(d_k))
    return e / e.sum(axis=0, keepdims=True)


@mistake("worked_example", "scale-1/d_k", "divided the similarities by d_k", "√d_k")
def worked_example_over_d(h, d_k):
    e = np.exp(h @ h.T / d_k)
    return e / e.sum(axis=1, keepdims=True)


@mistake("worked_example", "whole-matrix", "sum of the whole matrix")
def worked_example_one_distribution(h, d_k):
    e = np.exp(h @ h.T / np.sqrt(d_k))
    return e / e.sum()


@mistake("worked_example", "scores", "similarities", "apply the row-wise softmax")
def worked_example_scores_only(h, d_k):
    return h @ h.T / np.sqrt(d_k)


@mistake("worked_example", "no-exp", "without exponentiating")
def worked_example_no_exp(h, d_k):
    s = h @ h.T / np.sqrt(d_k)
    return s / s.sum(axis=1, keepdims=True)


@mistake("worked_example", "features", "hᵀ h", "(d, d)")
def worked_example_feature_similarities(h, d_k):
    e = np.exp(h.T @ h / np.sqrt(d_k))
    return e / e.sum(axis=1, keepdims=True)


@mistake("worked_example", "hard-coded-d_k", "√5", "d_k argument")
def worked_example_hard_coded(h, d_k):
    e = np.exp(h @ h.T / np.sqrt(5))  # the article's d_k, for every input
    return e / e.sum(axis=1, keepdims=True)


# ----------------------------------------------------------------------------- 02 softmax

@mistake("softmax", "wrong-axis", "columns", "axis 0", "last axis")
def softmax_over_columns(x):
    e = np.exp(x - x.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


@mistake("softmax", "wrong-axis", "axis 1", "axis=-1", "right for x (4, 6)")
def softmax_axis_one(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@mistake("softmax", "no-max", "overflow", "max", "inf")
def softmax_without_max(x):
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


@mistake("softmax", "global-max", "whole array", "underflow", "each row's own max")
def softmax_global_max(x):
    e = np.exp(x - np.max(x))
    return e / e.sum(axis=-1, keepdims=True)


@mistake("softmax", "exception", "keepdims=True", "(4, 6)", "(4,)", "(4, 1)")
def softmax_missing_keepdims(x):
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1)


@mistake("softmax", "whole-sum", "sum of the whole array")
def softmax_for_one_row_only(x):
    e = np.exp(x - x.max())
    return e / e.sum()


@mistake("softmax", "column-max", "each column's max", "constant per row")
def softmax_column_max(x):
    e = np.exp(x - x.max(axis=0, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@mistake("softmax", "column-sum", "each column's sum")
def softmax_column_sum(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


@mistake("softmax", "not-normalised", "do not sum to 1")
def softmax_not_normalised(x):
    return np.exp(x - x.max(axis=-1, keepdims=True))


@mistake("softmax", "no-exp", "without exponentiating")
def softmax_without_exp(x):
    return x / x.sum(axis=-1, keepdims=True)


# ----------------------------------------------------------------------------- 02 softmax_backward

@mistake("softmax_backward", "no-rowsum-term", "missing", "Σ_j dy_j y_j")
def softmax_backward_no_rowsum(dy, y):
    return y * dy


@mistake("softmax_backward", "diagonal-jacobian", "diagonal", "off-diagonal")
def softmax_backward_diagonal(dy, y):
    return dy * y * (1 - y)


@mistake("softmax_backward", "sign", "sign")
def softmax_backward_sign(dy, y):
    return y * (np.sum(dy * y, axis=-1, keepdims=True) - dy)


@mistake("softmax_backward", "rowsum-whole-array", "per row", "whole array")
def softmax_backward_sum_everything(dy, y):
    return y * (dy - np.sum(dy * y))


@mistake("softmax_backward", "rowsum-wrong-axis", "axis 0", "per row")
def softmax_backward_sum_over_columns(dy, y):
    return y * (dy - np.sum(dy * y, axis=0, keepdims=True))


@mistake("softmax_backward", "mean-not-weighted", "mean", "weighted")
def softmax_backward_mean(dy, y):
    return y * (dy - np.mean(dy, axis=-1, keepdims=True))


@mistake("softmax_backward", "exception", "keepdims=True", "(3, 5)", "(3,)")
def softmax_backward_missing_keepdims(dy, y):
    return y * (dy - np.sum(dy * y, axis=-1))


@mistake("softmax_backward", "one-row-only", "one row", "batch")
def softmax_backward_full_jacobian(dy, y):
    jacobian = np.diag(y) - np.outer(y, y)  # right for one 1-D row only
    return jacobian @ dy


@mistake("softmax_backward", "missing-y-factor", "multiply by y")
def softmax_backward_without_y(dy, y):
    return dy - np.sum(dy * y, axis=-1, keepdims=True)


@mistake("softmax_backward", "unweighted-sum", "weighted by y")
def softmax_backward_unweighted(dy, y):
    return y * (dy - np.sum(dy, axis=-1, keepdims=True))


# ----------------------------------------------------------------------------- 02 attention_backward

def forward(q, k, scale=None):
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    return scale, row_softmax(q @ k.T * scale)


@mistake("attention_backward", "no-rowsum-term", "row-sum", "rowsum(dP ∘ P)")
def attention_backward_no_rowsum(dout, q, k, v):
    scale, p = forward(q, k)
    ds = p * (dout @ v.T)
    return scale * ds @ k, scale * ds.T @ q, p.T @ dout


@mistake("attention_backward", "diagonal-jacobian", "diagonal")
def attention_backward_diagonal(dout, q, k, v):
    scale, p = forward(q, k)
    ds = p * (1 - p) * (dout @ v.T)
    return scale * ds @ k, scale * ds.T @ q, p.T @ dout


@mistake("attention_backward", "sign", "sign")
def attention_backward_sign(dout, q, k, v):
    scale, p = forward(q, k)
    dp = dout @ v.T
    ds = p * (np.sum(dp * p, axis=-1, keepdims=True) - dp)
    return scale * ds @ k, scale * ds.T @ q, p.T @ dout


@mistake("attention_backward", "rowsum-wrong-axis", "row-sum", "wrong axis", "axis=-1", absent=("dq is wrong",))
def attention_backward_rowsum_axis0(dout, q, k, v):
    scale, p = forward(q, k)
    dp = dout @ v.T
    ds = p * (dp - np.sum(dp * p, axis=0, keepdims=True))
    return scale * ds @ k, scale * ds.T @ q, p.T @ dout


@mistake("attention_backward", "rowsum-whole-array", "row-sum", "whole array", absent=("dq is wrong",))
def attention_backward_rowsum_everything(dout, q, k, v):
    scale, p = forward(q, k)
    dp = dout @ v.T
    ds = p * (dp - np.sum(dp * p))
    return scale * ds @ k, scale * ds.T @ q, p.T @ dout


@mistake("attention_backward", "mean-not-weighted", "mean", "P-weighted")
def attention_backward_mean(dout, q, k, v):
    scale, p = forward(q, k)
    dp = dout @ v.T
    ds = p * (dp - dp.mean(axis=-1, keepdims=True))
    return scale * ds @ k, scale * ds.T @ q, p.T @ dout


@mistake("attention_backward", "no-scale", "scale", "1/√d_k")
def attention_backward_no_scale(dout, q, k, v):
    scale, p = forward(q, k)
    dp = dout @ v.T
    ds = p * (dp - np.sum(dp * p, axis=-1, keepdims=True))
    return ds @ k, ds.T @ q, p.T @ dout  # the scale is forgotten here


@mistake("attention_backward", "scale-1/d_k", "1/d_k", "1/√d_k")
def attention_backward_scale_over_d(dout, q, k, v):
    scale, p = forward(q, k, scale=1 / q.shape[-1])  # 1/d_k instead of 1/√d_k
    dp = dout @ v.T
    ds = p * (dp - np.sum(dp * p, axis=-1, keepdims=True))
    return scale * ds @ k, scale * ds.T @ q, p.T @ dout


@mistake("attention_backward", "exception", "dk: you multiplied dS (4, 5) by Q (4, 3)", "dK needs dSᵀ Q",
         "shape (5, 3)")
def attention_backward_dk_without_transpose(dout, q, k, v):
    scale, p = forward(q, k)
    dp = dout @ v.T
    ds = p * (dp - np.sum(dp * p, axis=-1, keepdims=True))
    dq = scale * ds @ k
    dk = scale * ds @ q
    return dq, dk, p.T @ dout


@mistake("attention_backward", "exception", "dv: you multiplied P (4, 5) by dO (4, 2)", "dV needs Pᵀ dO", "(5, 2)")
def attention_backward_dv_without_transpose(dout, q, k, v):
    scale, p = forward(q, k)
    dv = p @ dout
    dp = dout @ v.T
    ds = p * (dp - np.sum(dp * p, axis=-1, keepdims=True))
    return scale * ds @ k, scale * ds.T @ q, dv


@mistake("attention_backward", "too-few-outputs", "2 arrays", "dv is missing")
def attention_backward_forgot_dv(dout, q, k, v):
    scale, p = forward(q, k)
    dp = dout @ v.T
    ds = p * (dp - np.sum(dp * p, axis=-1, keepdims=True))
    return scale * ds @ k, scale * ds.T @ q


@mistake("attention_backward", "no-return", "forget `return`", "return dq, dk, dv")
def attention_backward_no_return(dout, q, k, v):
    scale, p = forward(q, k)
    dp = dout @ v.T
    ds = p * (dp - np.sum(dp * p, axis=-1, keepdims=True))
    grads = (scale * ds @ k, scale * ds.T @ q, p.T @ dout)  # noqa: F841 (the missing return is the mistake)


@mistake("attention_backward", "order", "wrong order", "(dv, dq, dk)")
def attention_backward_wrong_order(dout, q, k, v):
    scale, p = forward(q, k)
    dp = dout @ v.T
    ds = p * (dp - np.sum(dp * p, axis=-1, keepdims=True))
    return p.T @ dout, scale * ds @ k, scale * ds.T @ q


@mistake("attention_backward", "unweighted-rowsum", "rowsum(dP)", "weighted by P")
def attention_backward_unweighted_rowsum(dout, q, k, v):
    scale, p = forward(q, k)
    dp = dout @ v.T
    ds = p * (dp - dp.sum(axis=-1, keepdims=True))
    return scale * ds @ k, scale * ds.T @ q, p.T @ dout


@mistake("attention_backward", "no-softmax-backward", "dS = dP", "softmax's backward is missing")
def attention_backward_skips_softmax(dout, q, k, v):
    scale, p = forward(q, k)
    ds = dout @ v.T
    return scale * ds @ k, scale * ds.T @ q, p.T @ dout


@mistake("attention_backward", "forward-without-scale", "softmax(Q Kᵀ) without the scale")
def attention_backward_unscaled_forward(dout, q, k, v):
    scale = 1 / np.sqrt(q.shape[-1])
    p = row_softmax(q @ k.T)  # the forward's scale is forgotten
    dp = dout @ v.T
    ds = p * (dp - np.sum(dp * p, axis=-1, keepdims=True))
    return scale * ds @ k, scale * ds.T @ q, p.T @ dout


@mistake("attention_backward", "no-scale-anywhere", "missing everywhere")
def attention_backward_never_scaled(dout, q, k, v):
    p = row_softmax(q @ k.T)
    dp = dout @ v.T
    ds = p * (dp - np.sum(dp * p, axis=-1, keepdims=True))
    return ds @ k, ds.T @ q, p.T @ dout


# ----------------------------------------------------------------------------- 03 patchify

@mistake("patchify", "plain-reshape", "plain reshape", "transpose")
def patchify_plain_reshape(x, p):
    *batch, h, w, c = x.shape
    return x.reshape(*batch, h // p, w // p, p * p, c)


@mistake("patchify", "column-major-in-patch", "column by column", "row by row")
def patchify_column_major(x, p):
    *batch, h, w, c = x.shape
    x = x.reshape(*batch, h // p, p, w // p, p, c)
    x = np.moveaxis(x, -4, -2)  # (..., H/p, W/p, p (column), p (row), C): columns first
    return x.reshape(*batch, h // p, w // p, p * p, c)


@mistake("patchify", "exception", "unpacks 4 values into 3 names", "batch dims", "*batch, h, w, c = x.shape")
def patchify_ignores_batch(x, p):
    h, w, c = x.shape
    x = x.reshape(h // p, p, w // p, p, c)
    return x.transpose(0, 2, 1, 3, 4).reshape(h // p, w // p, p * p, c)


@mistake("patchify", "exception", "leaves out the batch dims (2,)", "*batch")
def patchify_reshape_drops_batch(x, p):
    h, w, c = x.shape[-3:]
    x = x.reshape(h // p, p, w // p, p, c)
    return x.transpose(0, 2, 1, 3, 4).reshape(h // p, w // p, p * p, c)


@mistake("patchify", "exception", "right for x (2, 4, 6, 3)", "batch dims")
def patchify_exactly_one_batch_dim(x, p):
    b, h, w, c = x.shape
    x = x.reshape(b, h // p, p, w // p, p, c)
    return x.transpose(0, 1, 3, 2, 4, 5).reshape(b, h // p, w // p, p * p, c)


@mistake("patchify", "grid-swapped", "grid axes are swapped")
def patchify_grid_swapped(x, p):
    *batch, h, w, c = x.shape
    x = x.reshape(*batch, h // p, p, w // p, p, c)
    x = np.moveaxis(x, -3, -5)  # (..., W/p, H/p, p, p, C): the columns of patches went first
    return x.reshape(*batch, w // p, h // p, p * p, c)


@mistake("patchify", "grid-column-major", "column by column", "row-major grid")
def patchify_grid_column_major(x, p):
    *batch, h, w, c = x.shape
    x = np.moveaxis(x.reshape(*batch, h // p, p, w // p, p, c), -3, -5)  # (..., W/p, H/p, p, p, C)
    return x.reshape(*batch, h // p, w // p, p * p, c)  # numbered down the columns of patches


@mistake("patchify", "channels-merged", "channels", "own last axis")
def patchify_merges_channels(x, p):
    *batch, h, w, c = x.shape
    x = np.moveaxis(x.reshape(*batch, h // p, p, w // p, p, c), -4, -3)
    return x.reshape(*batch, h // p, w // p, p * p * c)


@mistake("patchify", "grid-flattened", "flattened the patch grid")
def patchify_flat_grid(x, p):
    *batch, h, w, c = x.shape
    x = np.moveaxis(x.reshape(*batch, h // p, p, w // p, p, c), -4, -3)
    return x.reshape(*batch, (h // p) * (w // p), p * p, c)


@mistake("patchify", "batch-merged", "batch dims were merged", "*batch")
def patchify_batch_into_rows(x, p):
    h, w, c = x.shape[-3:]
    x = x.reshape(-1, p, w // p, p, c)  # the batch slips into the rows of patches
    return x.transpose(0, 2, 1, 3, 4).reshape(-1, w // p, p * p, c)


# ----------------------------------------------------------------------------- 03 patch_attention

def to_patches(a, p):
    *batch, h, w, d = a.shape
    a = a.reshape(*batch, h // p, p, w // p, p, d)
    return np.moveaxis(a, -4, -3).reshape(*batch, h // p, w // p, p * p, d)


def from_patches(a, p):
    *batch, hp, wp, _, d = a.shape
    a = np.moveaxis(a.reshape(*batch, hp, wp, p, p, d), -3, -4)
    return a.reshape(*batch, hp * p, wp * p, d)


@mistake("patch_attention", "whole-image", "whole image", "own patch")
def patch_attention_whole_image(q, k, v, p):
    *batch, h, w, d = q.shape
    qf, kf, vf = (a.reshape(*batch, h * w, a.shape[-1]) for a in (q, k, v))
    weights = row_softmax(qf @ np.swapaxes(kf, -1, -2) / np.sqrt(d))
    return (weights @ vf).reshape(*batch, h, w, v.shape[-1])


@mistake("patch_attention", "patch-layout", "patch layout", "unpatchify")
def patch_attention_left_in_patches(q, k, v, p):
    qp, kp, vp = (to_patches(a, p) for a in (q, k, v))
    return row_softmax(qp @ np.swapaxes(kp, -1, -2) / np.sqrt(q.shape[-1])) @ vp


@mistake("patch_attention", "no-scale", "1/√d_k", "missing")
def patch_attention_unscaled(q, k, v, p):
    qp, kp, vp = (to_patches(a, p) for a in (q, k, v))
    return from_patches(row_softmax(qp @ np.swapaxes(kp, -1, -2)) @ vp, p)


@mistake("patch_attention", "plain-reshape-patches", "plain reshape")
def patch_attention_plain_reshape(q, k, v, p):
    *batch, h, w, d = q.shape
    qp, kp, vp = (a.reshape(*batch, h // p, w // p, p * p, a.shape[-1]) for a in (q, k, v))
    out = row_softmax(qp @ np.swapaxes(kp, -1, -2) / np.sqrt(d)) @ vp
    return out.reshape(*batch, h, w, v.shape[-1])


@mistake("patch_attention", "plain-reshape-back", "put the pixels back with a plain reshape", "unpatchify")
def patch_attention_plain_reshape_back(q, k, v, p):
    qp, kp, vp = (to_patches(a, p) for a in (q, k, v))
    out = row_softmax(qp @ np.swapaxes(kp, -1, -2) / np.sqrt(q.shape[-1])) @ vp
    return out.reshape(v.shape)


@mistake("patch_attention", "scale-1/d_k", "divided the logits by d_k")
def patch_attention_over_d(q, k, v, p):
    qp, kp, vp = (to_patches(a, p) for a in (q, k, v))
    return from_patches(row_softmax(qp @ np.swapaxes(kp, -1, -2) / q.shape[-1]) @ vp, p)


@mistake("patch_attention", "softmax-over-queries", "over the queries")
def patch_attention_softmax_over_queries(q, k, v, p):
    qp, kp, vp = (to_patches(a, p) for a in (q, k, v))
    s = qp @ np.swapaxes(kp, -1, -2) / np.sqrt(q.shape[-1])
    e = np.exp(s - s.max(axis=-2, keepdims=True))
    return from_patches(e / e.sum(axis=-2, keepdims=True) @ vp, p)


# ----------------------------------------------------------------------------- 04 fusion_backward

def fused(q_t, k_t, q_i, k_i, scale=None):
    scale = 1 / np.sqrt(q_t.shape[-1]) if scale is None else scale
    return scale, row_softmax((q_t @ k_t.T + q_i @ k_i.T) * scale)


def shared_ds(p, dout, v):
    dp = dout @ v.T
    return p * (dp - np.sum(dp * p, axis=-1, keepdims=True))


def one_branch(dout, q, k, v, scale):
    p = row_softmax(q @ k.T * scale)
    ds = shared_ds(p, dout, v)
    return scale * ds @ k, scale * ds.T @ q


@mistake("fusion_backward", "separate-softmax", "ONE softmax", "same dS")
def fusion_separate_softmaxes(dout, q_t, k_t, q_i, k_i, v):
    scale, p = fused(q_t, k_t, q_i, k_i)
    dq_t, dk_t = one_branch(dout, q_t, k_t, v, scale)  # each branch through its own softmax
    dq_i, dk_i = one_branch(dout, q_i, k_i, v, scale)
    return dq_t, dk_t, dq_i, dk_i, p.T @ dout


@mistake("fusion_backward", "wrong-branch", "dq_t uses K_i", "other branch")
def fusion_wrong_branch(dout, q_t, k_t, q_i, k_i, v):
    scale, p = fused(q_t, k_t, q_i, k_i)
    ds = shared_ds(p, dout, v)
    return scale * ds @ k_i, scale * ds.T @ q_i, scale * ds @ k_t, scale * ds.T @ q_t, p.T @ dout


@mistake("fusion_backward", "image-branch-copied", "image branch", "own factors")
def fusion_image_branch_copied(dout, q_t, k_t, q_i, k_i, v):
    scale, p = fused(q_t, k_t, q_i, k_i)
    ds = shared_ds(p, dout, v)
    dq_t, dk_t = scale * ds @ k_t, scale * ds.T @ q_t
    return dq_t, dk_t, dq_t, dk_t, p.T @ dout


@mistake("fusion_backward", "scale-1/sqrt(2d_k)", "1/√(2 d_k)", "concatenated width")
def fusion_scale_of_concatenation(dout, q_t, k_t, q_i, k_i, v):
    scale, p = fused(q_t, k_t, q_i, k_i, scale=1 / np.sqrt(2 * q_t.shape[-1]))
    ds = shared_ds(p, dout, v)
    return scale * ds @ k_t, scale * ds.T @ q_t, scale * ds @ k_i, scale * ds.T @ q_i, p.T @ dout


@mistake("fusion_backward", "no-scale", "miss the factor scale")
def fusion_no_scale(dout, q_t, k_t, q_i, k_i, v):
    scale, p = fused(q_t, k_t, q_i, k_i)
    ds = shared_ds(p, dout, v)
    return ds @ k_t, ds.T @ q_t, ds @ k_i, ds.T @ q_i, p.T @ dout


@mistake("fusion_backward", "too-few-outputs", "3 arrays", "returns 5", "dq_i, dk_i")
def fusion_like_plain_attention(dout, q_t, k_t, q_i, k_i, v):
    scale, p = fused(q_t, k_t, q_i, k_i)
    ds = shared_ds(p, dout, v)
    return scale * ds @ k_t, scale * ds.T @ q_t, p.T @ dout


@mistake("fusion_backward", "exception", "dv: you multiplied P (4, 5) by dO (4, 2)", "Pᵀ dO")
def fusion_dv_without_transpose(dout, q_t, k_t, q_i, k_i, v):
    scale, p = fused(q_t, k_t, q_i, k_i)
    dv = p @ dout
    ds = shared_ds(p, dout, v)
    return scale * ds @ k_t, scale * ds.T @ q_t, scale * ds @ k_i, scale * ds.T @ q_i, dv


@mistake("fusion_backward", "scale-1/d_k", "1/d_k")
def fusion_scale_over_d(dout, q_t, k_t, q_i, k_i, v):
    scale, p = fused(q_t, k_t, q_i, k_i, scale=1 / q_t.shape[-1])
    ds = shared_ds(p, dout, v)
    return scale * ds @ k_t, scale * ds.T @ q_t, scale * ds @ k_i, scale * ds.T @ q_i, p.T @ dout


@mistake("fusion_backward", "no-rowsum-term", "row-sum term", "same dS")
def fusion_no_rowsum(dout, q_t, k_t, q_i, k_i, v):
    scale, p = fused(q_t, k_t, q_i, k_i)
    ds = p * (dout @ v.T)
    return scale * ds @ k_t, scale * ds.T @ q_t, scale * ds @ k_i, scale * ds.T @ q_i, p.T @ dout


@mistake("fusion_backward", "sign", "wrong sign")
def fusion_sign(dout, q_t, k_t, q_i, k_i, v):
    scale, p = fused(q_t, k_t, q_i, k_i)
    ds = -shared_ds(p, dout, v)
    return scale * ds @ k_t, scale * ds.T @ q_t, scale * ds @ k_i, scale * ds.T @ q_i, p.T @ dout


@mistake("fusion_backward", "rowsum-wrong-axis", "row-sum runs over the wrong axis")
def fusion_rowsum_axis0(dout, q_t, k_t, q_i, k_i, v):
    scale, p = fused(q_t, k_t, q_i, k_i)
    dp = dout @ v.T
    ds = p * (dp - np.sum(dp * p, axis=0, keepdims=True))
    return scale * ds @ k_t, scale * ds.T @ q_t, scale * ds @ k_i, scale * ds.T @ q_i, p.T @ dout


@mistake("fusion_backward", "text-only-p", "summed* logits", "text logits alone")
def fusion_dv_from_text(dout, q_t, k_t, q_i, k_i, v):
    scale, p = fused(q_t, k_t, q_i, k_i)
    ds = shared_ds(p, dout, v)
    p_text = row_softmax(q_t @ k_t.T * scale)
    return scale * ds @ k_t, scale * ds.T @ q_t, scale * ds @ k_i, scale * ds.T @ q_i, p_text.T @ dout


# ----------------------------------------------------------------------------- 05 split_heads

@mistake("split_heads", "no-transpose", "head axis", "before the tokens")
def split_heads_no_transpose(x, n_heads):
    b, n, d = x.shape
    return x.reshape(b, n, n_heads, d // n_heads)


@mistake("split_heads", "plain-reshape", "plain reshape", "mixes tokens and heads")
def split_heads_plain_reshape(x, n_heads):
    b, n, d = x.shape
    return x.reshape(b, n_heads, n, d // n_heads)


@mistake("split_heads", "interleaved", "interleaved", "contiguous")
def split_heads_interleaved(x, n_heads):
    b, n, d = x.shape
    return x.reshape(b, n, d // n_heads, n_heads).transpose(0, 3, 1, 2)


@mistake("split_heads", "heads-and-size-swapped", "heads of n_heads", "n_heads first")
def split_heads_swapped_sizes(x, n_heads):
    b, n, d = x.shape
    return x.reshape(b, n, d // n_heads, n_heads).transpose(0, 2, 1, 3)


@mistake("split_heads", "features-before-tokens", "tokens, then the features")
def split_heads_features_first(x, n_heads):
    b, n, d = x.shape
    return x.reshape(b, n, n_heads, d // n_heads).transpose(0, 2, 3, 1)


# ----------------------------------------------------------------------------- 05 sinusoidal_positions

@mistake("sinusoidal_positions", "interleaved", "interleaved", "first half")
def sinusoidal_interleaved(n, d):
    pe = np.zeros((n, d))
    pos = np.arange(n)[:, None]
    i = np.arange(d // 2)[None, :]
    pe[:, 0::2] = np.sin(pos / 10000 ** (2 * i / d))
    pe[:, 1::2] = np.cos(pos / 10000 ** (2 * i / d))
    return pe


@mistake("sinusoidal_positions", "exponent-i/d", "wrong exponent", "10000^(2i/d)")
def sinusoidal_wrong_exponent(n, d):
    pos = np.arange(n)[:, None]
    i = np.arange(d // 2)[None, :]
    angle = pos / 10000 ** (i / d)
    return np.concatenate([np.sin(angle), np.cos(angle)], axis=1)


@mistake("sinusoidal_positions", "positions-from-1", "start at 0")
def sinusoidal_from_one(n, d):
    pos = np.arange(1, n + 1)[:, None]
    i = np.arange(d // 2)[None, :]
    angle = pos / 10000 ** (2 * i / d)
    return np.concatenate([np.sin(angle), np.cos(angle)], axis=1)


def code(pos, rate, first=np.sin, second=np.cos):
    return np.concatenate([first(pos / rate), second(pos / rate)], axis=1)


@mistake("sinusoidal_positions", "cos-first", "cosines come first")
def sinusoidal_cos_first(n, d):
    pos, i = np.arange(n)[:, None], np.arange(d // 2)[None, :]
    return code(pos, 10000 ** (2 * i / d), np.cos, np.sin)


@mistake("sinusoidal_positions", "exponent-doubled", "10000^(4i/d)")
def sinusoidal_even_i_doubled(n, d):
    pos, i = np.arange(n)[:, None], np.arange(0, d, 2)[None, :]  # i = 0, 2, 4, ... already "2i"
    return code(pos, 10000 ** (2 * i / d))


@mistake("sinusoidal_positions", "multiplied", "a division")
def sinusoidal_multiplied(n, d):
    pos, i = np.arange(n)[:, None], np.arange(d // 2)[None, :]
    angle = pos * 10000 ** (2 * i / d)
    return np.concatenate([np.sin(angle), np.cos(angle)], axis=1)


@mistake("sinusoidal_positions", "d-frequencies", "2d features", "d/2")
def sinusoidal_d_frequencies(n, d):
    pos, i = np.arange(n)[:, None], np.arange(d)[None, :]
    return code(pos, 10000 ** (2 * i / d))


@mistake("sinusoidal_positions", "transposed", "one row per position")
def sinusoidal_transposed(n, d):
    i, pos = np.arange(d // 2)[:, None], np.arange(n)[None, :]
    angle = pos / 10000 ** (2 * i / d)
    return np.concatenate([np.sin(angle), np.cos(angle)], axis=0)


# ----------------------------------------------------------------------------- 06 bce_backward

def sigmoid(z):
    return 1 / (1 + np.exp(-z))


@mistake("bce_backward", "no-mean", "1/N", "N = 8")
def bce_backward_without_mean(logits, labels):
    return sigmoid(logits) - labels


@mistake("bce_backward", "sign", "sign is flipped")
def bce_backward_sign(logits, labels):
    return (labels - sigmoid(logits)) / logits.size


@mistake("bce_backward", "batch-size-not-n", "logits.shape[0] = 2", "logits.size = 6", "right for 8 logits")
def bce_backward_divides_by_batch(logits, labels):
    return (sigmoid(logits) - labels) / len(logits)


@mistake("bce_backward", "times-sigmoid-derivative", "σ'(z)", "cancels")
def bce_backward_extra_derivative(logits, labels):
    p = sigmoid(logits)
    return (p - labels) * p * (1 - p) / logits.size


@mistake("bce_backward", "sign-and-no-mean", "sign is flipped and the 1/N is missing")
def bce_backward_sign_no_mean(logits, labels):
    return labels - sigmoid(logits)


@mistake("bce_backward", "no-sigmoid", "apply σ to the logits")
def bce_backward_no_sigmoid(logits, labels):
    return (logits - labels) / logits.size


@mistake("bce_backward", "gradient-wrt-probability", "dL/dp")
def bce_backward_wrt_probability(logits, labels):
    p = sigmoid(logits)
    return (p - labels) / (p * (1 - p)) / logits.size


# ----------------------------------------------------------------------------- 06 masked_mean_backward

@mistake("masked_mean_backward", "divide-by-n", "n = 5", "real tokens")
def masked_mean_backward_divides_by_n(dout, mask):
    n = mask.shape[1]
    return dout[:, None, :] / n * mask[:, :, None]


@mistake("masked_mean_backward", "padding-not-zeroed", "padding", "0")
def masked_mean_backward_keeps_padding(dout, mask):
    count = np.maximum(1, mask.sum(axis=1, keepdims=True))
    return np.repeat((dout / count)[:, None, :], mask.shape[1], axis=1)


@mistake("masked_mean_backward", "empty-sequence-nan", "max(1, count)", "NaN", "right for dout (3, 2)")
def masked_mean_backward_empty_row_nan(dout, mask):
    count = mask.sum(axis=1, keepdims=True)
    return (dout / count)[:, None, :] * mask[:, :, None]


@mistake("masked_mean_backward", "exception", "keepdims=True", "(3, 2)", "(3,)")
def masked_mean_backward_no_keepdims(dout, mask):
    count = np.maximum(1, mask.sum(axis=1))
    return (dout / count)[:, None, :] * mask[:, :, None]


@mistake("masked_mean_backward", "plain-mean", "plain mean")
def masked_mean_backward_plain_mean(dout, mask):
    return np.repeat(dout[:, None, :] / mask.shape[1], mask.shape[1], axis=1)


@mistake("masked_mean_backward", "no-division", "forgot to divide")
def masked_mean_backward_sum(dout, mask):
    return dout[:, None, :] * mask[:, :, None]


# ----------------------------------------------------------------------------- 07 fusion_logits

@mistake("fusion_logits", "exception", "erratum 3", "text logits (3, 3)", "image logits (4, 4)", "Z = [text; patches]")
def fusion_logits_per_modality_blocks(text, patches, w_qt, w_kt, w_qi, w_ki):
    s_text = (text @ w_qt) @ (text @ w_kt).T  # (n, n)
    s_image = (patches @ w_qi) @ (patches @ w_ki).T  # (m, m)
    return (s_text + s_image) / np.sqrt(w_qt.shape[1])


@mistake("fusion_logits", "scale-1/sqrt(2d_k)", "1/√(2 d_k)", "√d_k")
def fusion_logits_scale_of_concatenation(text, patches, w_qt, w_kt, w_qi, w_ki):
    z = np.concatenate([text, patches])
    s = (z @ w_qt) @ (z @ w_kt).T + (z @ w_qi) @ (z @ w_ki).T
    return s / np.sqrt(2 * w_qt.shape[1])


@mistake("fusion_logits", "block-diagonal", "diagonal block", "across")
def fusion_logits_block_diagonal(text, patches, w_qt, w_kt, w_qi, w_ki):
    n, m = len(text), len(patches)
    s = np.zeros((n + m, n + m))
    s[:n, :n] = (text @ w_qt) @ (text @ w_kt).T
    s[n:, n:] = (patches @ w_qi) @ (patches @ w_ki).T
    return s / np.sqrt(w_qt.shape[1])


@mistake("fusion_logits", "exception", "sequence axis", "axis=0")
def fusion_logits_concatenate_features(text, patches, w_qt, w_kt, w_qi, w_ki):
    z = np.concatenate([text, patches], axis=1)
    s = (z @ w_qt) @ (z @ w_kt).T + (z @ w_qi) @ (z @ w_ki).T
    return s / np.sqrt(w_qt.shape[1])


def joint(text, patches, w_qt, w_kt, w_qi, w_ki):
    z = np.concatenate([text, patches])
    return (z @ w_qt) @ (z @ w_kt).T + (z @ w_qi) @ (z @ w_ki).T


@mistake("fusion_logits", "no-scale", "is missing")
def fusion_logits_unscaled(text, patches, w_qt, w_kt, w_qi, w_ki):
    return joint(text, patches, w_qt, w_kt, w_qi, w_ki)


@mistake("fusion_logits", "scale-1/d_k", "divided by d_k")
def fusion_logits_over_d(text, patches, w_qt, w_kt, w_qi, w_ki):
    return joint(text, patches, w_qt, w_kt, w_qi, w_ki) / w_qt.shape[1]


@mistake("fusion_logits", "patches-first", "text tokens first")
def fusion_logits_patches_first(text, patches, w_qt, w_kt, w_qi, w_ki):
    return joint(patches, text, w_qt, w_kt, w_qi, w_ki) / np.sqrt(w_qt.shape[1])


@mistake("fusion_logits", "views-crossed", "its own view")
def fusion_logits_views_crossed(text, patches, w_qt, w_kt, w_qi, w_ki):
    return joint(text, patches, w_qt, w_ki, w_qi, w_kt) / np.sqrt(w_qt.shape[1])


@mistake("fusion_logits", "transposed", "transpose", "a row per query")
def fusion_logits_transposed(text, patches, w_qt, w_kt, w_qi, w_ki):
    return joint(text, patches, w_kt, w_qt, w_ki, w_qi) / np.sqrt(w_qt.shape[1])  # K Qᵀ


@mistake("fusion_logits", "softmax-applied", "softmax(S)", "logits S themselves")
def fusion_logits_softmaxed(text, patches, w_qt, w_kt, w_qi, w_ki):
    return row_softmax(joint(text, patches, w_qt, w_kt, w_qi, w_ki) / np.sqrt(w_qt.shape[1]))


# ----------------------------------------------------------------------------- the test


@pytest.mark.parametrize("exercise, fn, key, words, absent", CATALOGUE)
def test_typical_wrong_answer_is_named(exercise, fn, key, words, absent):
    result = check(fn, exercise)
    assert result.status == "fail", result
    assert result.details.get("mistake") == key, result
    for word in words:
        assert word in result.message, f"{word!r} not in: {result}"
    for word in absent:
        assert word not in result.message, f"{word!r} in: {result}"
    assert "relative error 1.0e+00" not in result.message


def test_the_catalogue_is_large_and_covers_every_exercise():
    from gemini_np.exercises import EXERCISES

    assert len(CATALOGUE) >= 25
    assert {param.values[0] for param in CATALOGUE} == set(EXERCISES)


def test_every_catalogued_mistake_has_a_student_written_test():
    """Each typical wrong answer the checker knows is exercised above by a function a student could write."""
    from gemini_np.exercises.checkers import SPECS

    tested = {(param.values[0], param.values[2]) for param in CATALOGUE}
    with np.errstate(all="ignore"):
        known = {(name, m.key) for name, spec in SPECS.items() for case in spec.cases() for m in case.mistakes}
    assert known - tested == set()


def test_every_catalogued_mistake_differs_from_the_right_answer_somewhere():
    """A catalogue entry equal to the right answer on every case could never be reported."""
    from gemini_np.exercises.checkers import SPECS
    from gemini_np.exercises.compare import close

    with np.errstate(all="ignore"):
        for name, spec in SPECS.items():
            differs = {}
            for case in spec.cases():
                wants = case.want if isinstance(case.want, tuple) else (case.want,)
                for m in case.mistakes:
                    answers = m.answer if isinstance(m.answer, tuple) else (m.answer,)
                    wrong = not all(close(a, w) for a, w in zip(answers, wants))
                    differs[m.key] = differs.get(m.key, False) or wrong
            assert all(differs.values()), (name, [k for k, v in differs.items() if not v])
