"""Exercises of notebook 03: patchify, patch_attention."""
from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from .harness import Case, Exercise, Mistake, Product

# ----------------------------------------------------------------------------- patchify

_BATCH_HINT = ("The input may have any number of leading batch dims (..., H, W, C): take the last three sizes, "
               "*batch, h, w, c = x.shape, and keep *batch in front in every reshape")


def _in_patch_column_major(patches, p):
    """Patches whose pixels are listed column by column (pixel (r, c) at position c·p + r)."""
    *lead, pp, c = patches.shape
    return patches.reshape(*lead, p, p, c).swapaxes(-3, -2).reshape(*lead, pp, c)


def _patchify_mistakes(x, p, want):
    *batch, h, w, c = x.shape
    grid_swapped = np.swapaxes(want, -4, -3)  # (..., W/p, H/p, p·p, C)
    return [
        Mistake("plain-reshape", "a plain reshape mixes pixels of different patches: split H into (H/p, p) and W into "
                                 "(W/p, p), move the two patch-grid axes in front of the two in-patch axes (a "
                                 "transpose), then merge the in-patch axes",
                x.reshape(*batch, h // p, w // p, p * p, c)),
        Mistake("column-major-in-patch", "each patch holds the right pixels, but column by column: inside a patch go "
                                         "row by row, pixel (r, c) of the patch at position r·p + c",
                _in_patch_column_major(want, p)),
        Mistake("grid-swapped", "the patch grid axes are swapped: the result is (..., H/p, W/p, p·p, C), rows of "
                                "patches first", grid_swapped),
        Mistake("grid-column-major", "the patches are numbered column by column: patch (i, j) must hold the pixels "
                                     "of rows i·p … i·p + p − 1 and columns j·p … j·p + p − 1 (row-major grid)",
                grid_swapped.reshape(want.shape)),
        Mistake("channels-merged", "you merged the pixels and the channels: keep C as its own last axis, "
                                   "(..., H/p, W/p, p·p, C)", want.reshape(*want.shape[:-2], -1)),
        Mistake("grid-flattened", "you flattened the patch grid into one axis: keep it as two, (..., H/p, W/p, p·p, C)",
                want.reshape(*batch, -1, p * p, c)),
        Mistake("batch-merged", f"the batch dims were merged into the rows of patches. {_BATCH_HINT}",
                want.reshape(-1, *want.shape[len(batch) + 1:])),
    ]


def _patchify_case(shape, p):
    x = np.arange(math.prod(shape), dtype=np.float64).reshape(shape)  # distinct values: every pixel can be traced
    want = F.patchify(x, p)
    batch = tuple(shape[:-3])
    return Case(f"x {tuple(shape)}, p = {p}", (x, p), want, _patchify_mistakes(x, p, want),
                shapes={"x": x.shape}, batch=batch)


def _patchify_cases():
    return [_patchify_case((2, 4, 6, 3), 2), _patchify_case((6, 3, 2), 3), _patchify_case((2, 1, 4, 4, 1), 2)]


def _pixel(x_shape, value):
    """(row, column, channel) of the entry of x = arange(...) holding ``value``, or None when there is none."""
    if not float(value).is_integer() or not 0 <= value < math.prod(x_shape):
        return None
    *_, row, col, channel = np.unravel_index(int(value), x_shape)
    return int(row), int(col), int(channel)


def _patchify_diagnose(got, case):
    (patches,), x, p = got, case.args[0], case.args[1]
    want = case.want
    same_pixels = np.array_equal(np.sort(patches, axis=-2), np.sort(want, axis=-2))  # per patch and channel
    if same_pixels:
        return ("each patch holds the right pixels, in the wrong order: inside a patch go row by row, pixel (r, c) "
                "of the patch at position r·p + c")
    index = tuple(int(i) for i in np.argwhere(patches != want)[0])
    i, j, k, channel = index[-4:]
    yours = _pixel(x.shape, patches[index])
    where = (f"patch ({i}, {j}), position {k}, channel {channel} should hold pixel (row {i * p + k // p}, "
             f"column {j * p + k % p}), channel {channel}")
    if yours is None:
        return f"wrong values in the patches: {where}, yours holds {patches[index]:.4g}, which is no value of x"
    return (f"wrong pixels in the patches: {where}; yours holds pixel (row {yours[0]}, column {yours[1]}), "
            f"channel {yours[2]}. Element [..., i, j, r·p + c, :] is pixel x[..., i·p + r, j·p + c, :]")


PATCHIFY = Exercise(
    name="patchify",
    params=("x", "p"),
    outputs=("patches",),
    cases=_patchify_cases,
    diagnose=_patchify_diagnose,
    batch_hint=_BATCH_HINT,
    passed="every pixel lands in the right patch and position, with 0, 1 and 2 batch dims",
    explanation="reshape (..., H, W, C) -> (..., H/p, p, W/p, p, C) only *names* the axes; the transpose\n"
                "(..., H/p, W/p, p, p, C) brings the two pixel axes of a patch together, and the last reshape\n"
                "merges them row-major. A reshape alone never moves data, so it cannot cut patches.",
)

# ----------------------------------------------------------------------------- patch_attention


def _attention_rows(q, k, v, scale, axis=-1):
    """softmax(q kᵀ · scale, axis) v over the last two axes (batched)."""
    weights = F.softmax(q @ np.swapaxes(k, -1, -2) * scale, axis=axis)
    return weights @ v


def _patch_attention_mistakes(q, k, v, p, want):
    *batch, h, w, d_k = q.shape
    d_v = v.shape[-1]
    scale = 1.0 / math.sqrt(d_k)

    def plain(a):  # the wrong "patches" of a plain reshape
        return a.reshape(*batch, h // p, w // p, p * p, a.shape[-1])

    def flat(a):  # every pixel of the image in one sequence
        return a.reshape(*batch, h * w, a.shape[-1])

    q_ij, k_ij, v_ij = (F.patchify(a, p) for a in (q, k, v))
    out_ij = _attention_rows(q_ij, k_ij, v_ij, scale)
    return [
        Mistake("whole-image", "every pixel attended to the whole image: each pixel may only attend to the p×p "
                               "pixels of its own patch. Patchify q, k and v, attend inside each patch, unpatchify",
                _attention_rows(flat(q), flat(k), flat(v), scale).reshape(*batch, h, w, d_v)),
        Mistake("plain-reshape-patches", "your patches were cut with a plain reshape, which groups pixels of "
                                         "different patches: patchify q, k and v properly (split H and W, "
                                         "transpose, merge)",
                _attention_rows(plain(q), plain(k), plain(v), scale).reshape(*batch, h, w, d_v)),
        Mistake("plain-reshape-back", "the attention per patch is right, but you put the pixels back with a plain "
                                      "reshape: use the inverse of patchify (unpatchify)",
                out_ij.reshape(*batch, h, w, d_v)),
        Mistake("patch-layout", "you returned the patch layout (..., H/p, W/p, p·p, d_v): unpatchify it back to the "
                                "image grid (..., H, W, d_v)", out_ij),
        Mistake("no-scale", f"the scale 1/√d_k = {scale:.4g} is missing: softmax(Q_ij K_ijᵀ / √d_k) V_ij",
                F.patch_attention_forward(q, k, v, p, scale=1.0)[0]),
        Mistake("scale-1/d_k", f"you divided the logits by d_k; the scale is 1/√d_k = {scale:.4g}",
                F.patch_attention_forward(q, k, v, p, scale=1.0 / d_k)[0]),
        Mistake("softmax-over-queries", "your softmax ran over the queries (axis -2): each query's weights over the "
                                        "keys of its patch must sum to 1 (axis=-1)",
                F.unpatchify(_attention_rows(q_ij, k_ij, v_ij, scale, axis=-2), p)),
    ]


def _patch_attention_case(seed, batch, h, w, d_k, d_v, p):
    rng = np.random.default_rng(seed)
    q, k = rng.standard_normal((*batch, h, w, d_k)), rng.standard_normal((*batch, h, w, d_k))
    v = rng.standard_normal((*batch, h, w, d_v))
    want = F.patch_attention_forward(q, k, v, p)[0]
    pp = p * p
    products = (
        Product("S", "Q_ij K_ijᵀ, per patch", ("Q_ij", (pp, d_k)), ("K_ij", (pp, d_k)), (pp, pp)),
        Product("O", "P V_ij, per patch", ("P", (pp, pp)), ("V_ij", (pp, d_v)), (pp, d_v)),
    )
    shapes = {"q and k": q.shape, "v": v.shape, "q, k after patchify": (*batch, h // p, w // p, pp, d_k)}
    return Case(f"q, k {q.shape}, v {v.shape}, p = {p}", (q, k, v, p), want,
                _patch_attention_mistakes(q, k, v, p, want), shapes=shapes, products=products, batch=tuple(batch))


def _patch_attention_cases():
    return [_patch_attention_case(30, (2,), 4, 6, 3, 2, 2), _patch_attention_case(31, (), 4, 4, 5, 3, 2)]


def _patch_attention_diagnose(got, case):
    (out,), want = got, case.want
    wrong = ~np.all(np.isclose(out, want, rtol=1e-8, atol=1e-11), axis=-1)
    if wrong.any() and not wrong.all():
        return (f"{int(wrong.sum())} of {wrong.size} pixels are wrong: check which pixels share a patch "
                f"(patch (i, j) holds rows i·p … i·p + p − 1 and columns j·p … j·p + p − 1)")
    return None


PATCH_ATTENTION = Exercise(
    name="patch_attention",
    params=("q", "k", "v", "p"),
    outputs=("out",),
    cases=_patch_attention_cases,
    allowed=frozenset({"softmax", "patchify", "unpatchify", "attention_forward"}),
    diagnose=_patch_attention_diagnose,
    batch_hint=_BATCH_HINT.replace("x.shape", "q.shape").replace("h, w, c", "h, w, d"),
    passed="each pixel attends exactly to the pixels of its own patch, with and without a batch dim",
    explanation="In the patch layout (..., H/p, W/p, p·p, d) the article's softmax(Q_ij K_ijᵀ/√d_k) V_ij is plain\n"
                "attention batched over the patch grid: patchify, attend, unpatchify. It costs H·W·p² logits\n"
                "instead of (H·W)² for attention over the whole image.",
)
