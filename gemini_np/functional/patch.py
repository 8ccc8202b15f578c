"""Per-patch image attention, the article's ``softmax(Q_ij K_ijᵀ / √d_k) V_ij``.

The image (H, W) is cut into non-overlapping p×p patches; patch (i, j) holds
p·p pixels and each pixel attends only to the pixels of its own patch. Done
with reshapes, so the attention itself is the ordinary batched op:

    (..., H, W, C) --patchify--> (..., H/p, W/p, p·p, C)    pixels in row-major order
    attention over the last two dims, batched over (..., H/p, W/p)
    (..., H/p, W/p, p·p, C) --unpatchify--> (..., H, W, C)

Cost: H·W·p² logits instead of (H·W)² for attention over the whole image.
"""
from __future__ import annotations

import numbers
from typing import Any, NamedTuple

from .._checks import check_dout, check_float_array
from ..backend import array_namespace, is_array
from .attention import AttentionCache, attention_backward, attention_forward


def _check_patch_size(patch_size) -> int:
    if isinstance(patch_size, bool) or not isinstance(patch_size, numbers.Integral):
        raise TypeError(f"patch_size must be a positive int, got {patch_size!r} ({type(patch_size).__name__})")
    if patch_size < 1:
        raise ValueError(f"patch_size must be a positive int, got {patch_size}")
    return int(patch_size)


def patchify(x, patch_size):
    """Cut images into non-overlapping square patches.

    x: (..., H, W, C) with H and W divisible by p = patch_size.
    Returns (..., H/p, W/p, p·p, C): element [..., i, j, r·p + c, :] is pixel
    x[..., i·p + r, j·p + c, :] (row-major inside a patch).
    """
    if not is_array(x):
        raise TypeError(f"x must be an array, got {type(x).__name__}")
    p = _check_patch_size(patch_size)
    if x.ndim < 3:
        raise ValueError(f"x must be (..., H, W, C) with at least 3 dims, got shape {tuple(x.shape)}")
    *batch, h, w, c = x.shape
    if h % p or w % p:
        raise ValueError(f"patch_size {p} must divide the image height and width, got H={h}, W={w} (x {tuple(x.shape)})")
    xp = array_namespace(x)
    nb = len(batch)
    x = xp.reshape(x, (*batch, h // p, p, w // p, p, c))  # split rows and columns
    x = xp.permute_dims(x, (*range(nb), nb, nb + 2, nb + 1, nb + 3, nb + 4))  # (.., H/p, W/p, p, p, C)
    return xp.reshape(x, (*batch, h // p, w // p, p * p, c))


def unpatchify(patches, patch_size):
    """Inverse of :func:`patchify`.

    patches: (..., H/p, W/p, p·p, C) -> (..., H, W, C).
    """
    if not is_array(patches):
        raise TypeError(f"patches must be an array, got {type(patches).__name__}")
    p = _check_patch_size(patch_size)
    if patches.ndim < 4:
        raise ValueError(f"patches must be (..., H/p, W/p, p·p, C) with at least 4 dims, got shape {tuple(patches.shape)}")
    *batch, hp, wp, pp, c = patches.shape
    if pp != p * p:
        raise ValueError(f"patches {tuple(patches.shape)} hold {pp} pixels per patch, but patch_size {p} needs p·p = {p * p}")
    xp = array_namespace(patches)
    nb = len(batch)
    x = xp.reshape(patches, (*batch, hp, wp, p, p, c))
    x = xp.permute_dims(x, (*range(nb), nb, nb + 2, nb + 1, nb + 3, nb + 4))  # (.., H/p, p, W/p, p, C)
    return xp.reshape(x, (*batch, hp * p, wp * p, c))


class PatchAttentionCache(NamedTuple):
    patch_size: int
    attention: AttentionCache  # the batched attention over patches
    out: Any  # (..., H, W, d_v), the returned output

    @property
    def weights(self):
        """P per patch, (..., H/p, W/p, p·p, p·p)."""
        return self.attention.weights


def patch_attention_forward(q, k, v, patch_size, scale=None):
    """Each pixel attends to the pixels of its own p×p patch.

    q, k: (..., H, W, d_k); v: (..., H, W, d_v); patch_size p divides H and W.
    Returns (out (..., H, W, d_v), cache); cache.weights is (..., H/p, W/p, p·p, p·p).
    """
    for name, a in (("q", q), ("k", k), ("v", v)):
        check_float_array(a, name, min_ndim=3)
    if tuple(q.shape) != tuple(k.shape) or tuple(q.shape[:-1]) != tuple(v.shape[:-1]):
        raise ValueError(
            f"q and k must have the same shape (..., H, W, d_k) and v the same (..., H, W): "
            f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}"
        )
    p = _check_patch_size(patch_size)
    q_ij, k_ij, v_ij = (patchify(a, p) for a in (q, k, v))  # (..., H/p, W/p, p·p, d)
    out_ij, attn_cache = attention_forward(q_ij, k_ij, v_ij, scale=scale)  # softmax(Q_ij K_ijᵀ/√d_k) V_ij
    out = unpatchify(out_ij, p)
    return out, PatchAttentionCache(p, attn_cache, out)


def patch_attention_backward(dout, cache):
    """Exact gradients of :func:`patch_attention_forward`.

    dout: (..., H, W, d_v). Returns (dq, dk, dv) shaped like q, k, v.
    Patchify is a pure rearrangement, so its backward is unpatchify.
    """
    p = cache.patch_size
    check_dout(dout, cache.out)
    grads = attention_backward(patchify(dout, p), cache.attention)
    return tuple(unpatchify(g, p) for g in grads)
