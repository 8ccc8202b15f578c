"""Per-patch image attention, the article's ``softmax(Q_ij K_ijᵀ / √d_k) V_ij``.

The image (H, W) is cut into non-overlapping p×p patches; patch (i, j) holds
p·p pixels and each pixel attends only to the pixels of its own patch. Done
with reshapes, so the attention itself is the ordinary batched op:

    (..., H, W, C) --patchify--> (..., H/p, W/p, p·p, C)    pixels in row-major order
    attention over the last two dims, batched over (..., H/p, W/p)
    (..., H/p, W/p, p·p, C) --unpatchify--> (..., H, W, C)

In the patch layout (..., H/p, W/p, p·p, d) the article's formula *is* plain
attention, batched over the patch grid; that is how the image encoder of
:mod:`gemini_np.model` runs it, patchifying the image once at its entrance.

Cost: H·W·p² logits instead of (H·W)² for attention over the whole image.
Textbook version: :func:`gemini_np.reference.patch_attention_forward` / ``_backward``.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from ..backend import array_namespace, private_copy
from ..validation import (
    check_array,
    check_dout,
    check_float_array,
    check_positive_int,
    check_same_dtype,
    check_scale,
)
from .attention import AttentionCache, _attention_backward, _attention_forward


def patchify(x, patch_size):
    """Cut images into non-overlapping square patches.

    x: (..., H, W, C) with H and W divisible by p = patch_size.
    Returns (..., H/p, W/p, p·p, C): element [..., i, j, r·p + c, :] is pixel
    x[..., i·p + r, j·p + c, :] (row-major inside a patch).

    Textbook version: :func:`gemini_np.reference.patchify`.
    """
    check_array(x, "x")
    p = check_positive_int(patch_size, "patch_size")
    if x.ndim < 3:
        raise ValueError(f"x must be (..., H, W, C) with at least 3 dims, got shape {tuple(x.shape)}")
    h, w = x.shape[-3], x.shape[-2]
    if h % p or w % p:
        raise ValueError(f"patch_size {p} must divide the image height and width, got H={h}, W={w} (x {tuple(x.shape)})")
    return _patchify(x, p)


def unpatchify(patches, patch_size):
    """Inverse of :func:`patchify`.

    patches: (..., H/p, W/p, p·p, C) -> (..., H, W, C).

    Textbook version: :func:`gemini_np.reference.unpatchify`.
    """
    check_array(patches, "patches")
    p = check_positive_int(patch_size, "patch_size")
    if patches.ndim < 4:
        raise ValueError(f"patches must be (..., H/p, W/p, p·p, C) with at least 4 dims, got shape {tuple(patches.shape)}")
    if patches.shape[-2] != p * p:
        raise ValueError(f"patches {tuple(patches.shape)} hold {patches.shape[-2]} pixels per patch, "
                         f"but patch_size {p} needs p·p = {p * p}")
    return _unpatchify(patches, p)


def _patchify(x, p):
    """:func:`patchify` without input checks."""
    xp = array_namespace(x)
    *batch, h, w, c = x.shape
    nb = len(batch)
    x = xp.reshape(x, (*batch, h // p, p, w // p, p, c))  # split rows and columns
    x = xp.permute_dims(x, (*range(nb), nb, nb + 2, nb + 1, nb + 3, nb + 4))  # (.., H/p, W/p, p, p, C)
    return xp.reshape(x, (*batch, h // p, w // p, p * p, c))


def _unpatchify(patches, p):
    """:func:`unpatchify` without input checks."""
    xp = array_namespace(patches)
    *batch, hp, wp, _, c = patches.shape
    nb = len(batch)
    x = xp.reshape(patches, (*batch, hp, wp, p, p, c))
    x = xp.permute_dims(x, (*range(nb), nb, nb + 2, nb + 1, nb + 3, nb + 4))  # (.., H/p, p, W/p, p, C)
    return xp.reshape(x, (*batch, hp * p, wp * p, c))


class PatchAttentionCache(NamedTuple):
    patch_size: int
    attention: AttentionCache  # the batched attention over patches (its own copy of out, P read-only)
    out: Any  # the returned output (..., H, W, d_v); only its shape and dtype are read (to check dout)

    @property
    def weights(self):
        """P per patch, (..., H/p, W/p, p·p, p·p)."""
        return self.attention.weights


def patch_attention_forward(q, k, v, patch_size, scale=None):
    """Each pixel attends to the pixels of its own p×p patch.

    q, k: (..., H, W, d_k); v: (..., H, W, d_v); patch_size p divides H and W.
    Returns (out (..., H, W, d_v), cache); cache.weights is (..., H/p, W/p, p·p, p·p).

    Textbook version: :func:`gemini_np.reference.patch_attention_forward`.
    """
    for name, a in (("q", q), ("k", k), ("v", v)):
        check_float_array(a, name, min_ndim=3)
    array_namespace(q, k, v)
    check_same_dtype(q=q, k=k, v=v)
    if tuple(q.shape) != tuple(k.shape) or tuple(q.shape[:-1]) != tuple(v.shape[:-1]):
        raise ValueError(
            f"q and k must have the same shape (..., H, W, d_k) and v the same (..., H, W): "
            f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}"
        )
    p = check_positive_int(patch_size, "patch_size")
    h, w = q.shape[-3], q.shape[-2]
    if h % p or w % p:
        raise ValueError(f"patch_size {p} must divide the image height and width, got H={h}, W={w} (q {tuple(q.shape)})")
    scale = check_scale(scale, q.shape[-1])
    q_ij, k_ij, v_ij = (_patchify(a, p) for a in (q, k, v))  # (..., H/p, W/p, p·p, d)
    out_ij, attn_cache = _attention_forward(q_ij, k_ij, v_ij, None, scale)  # softmax(Q_ij K_ijᵀ/√d_k) V_ij
    out = _unpatchify(out_ij, p)
    return out, PatchAttentionCache(p, attn_cache._replace(out=private_copy(out_ij)), out)


def patch_attention_backward(dout, cache):
    """Exact gradients of :func:`patch_attention_forward`.

    dout: (..., H, W, d_v). Returns (dq, dk, dv) shaped like q, k, v.
    Patchify is a pure rearrangement, so its backward is unpatchify.

    Textbook version: :func:`gemini_np.reference.patch_attention_backward`.
    """
    p = cache.patch_size
    check_dout(dout, cache.out)
    grads = _attention_backward(_patchify(dout, p), cache.attention)
    return tuple(_unpatchify(g, p) for g in grads)
