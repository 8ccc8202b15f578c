"""Grouped affine layer: a different weight matrix for each of g groups.

    y[..., r, :] = x[..., r, :] W_r + b        r = 0 … g−1

The image encoder uses it to embed the p·p pixels of a patch, pixel r of every
patch with its own W_r (r = its offset inside the patch). Because W_r depends
on where the pixel sits, the mean of the embeddings of a patch still knows
*which* pixels were lit: it equals one linear map of the whole flattened patch,
ViT's patch embedding, Σ_r x_r W_r / (p·p).

Done as one batched matmul with the groups in front:
(..., g, d_in) -> (g, N, d_in) @ (g, d_in, d_out) -> (g, N, d_out) -> (..., g, d_out).
"""
from __future__ import annotations

from ..backend import array_namespace
from ..validation import check_dout, check_float_array, check_same_dtype
from .sums import sum_rows


def _groups_first(x, g):
    """(..., g, d) -> (g, N, d) with N the product of the leading dims."""
    xp = array_namespace(x)
    return xp.permute_dims(xp.reshape(x, (-1, g, x.shape[-1])), (1, 0, 2))


def _groups_back(y, lead_shape):
    """(g, N, d) -> (..., g, d), the inverse of :func:`_groups_first`."""
    xp = array_namespace(y)
    g, _, d = y.shape
    return xp.reshape(xp.permute_dims(y, (1, 0, 2)), (*lead_shape, g, d))


def grouped_linear_forward(x, w, b=None):
    """y[..., r, :] = x[..., r, :] @ w[r] + b.

    x: (..., g, d_in); w: (g, d_in, d_out); b: (d_out,) shared by every group, or None.
    Returns (y (..., g, d_out), cache).
    """
    check_float_array(x, "x", min_ndim=2)
    check_float_array(w, "w", min_ndim=3)
    if w.ndim != 3 or x.shape[-2] != w.shape[0] or x.shape[-1] != w.shape[1]:
        raise ValueError(
            f"x (..., g, d_in) and w (g, d_in, d_out) do not fit: x {tuple(x.shape)}, w {tuple(w.shape)}"
        )
    if b is not None:
        check_float_array(b, "b", min_ndim=1)
        if tuple(b.shape) != (w.shape[2],):
            raise ValueError(f"b must have shape (d_out,) = ({w.shape[2]},), got {tuple(b.shape)}")
    check_same_dtype(x=x, w=w, **({} if b is None else {"b": b}))
    g = w.shape[0]
    x_g = _groups_first(x, g)  # (g, N, d_in)
    y = _groups_back(x_g @ w, tuple(x.shape[:-2]))  # y_r = x_r W_r
    if b is not None:
        y = y + b
    return y, (x_g, w, b is not None, y)


def grouped_linear_backward(dy, cache):
    """dy: (..., g, d_out). Returns (dx, dw, db); db is None when the forward had no bias.

    dx_r = dy_r W_rᵀ;  dW_r = x_rᵀ dy_r summed over every example;  db = Σ dy.
    """
    x_g, w, has_bias, y = cache
    check_dout(dy, y, "dy")
    array_namespace(dy, x_g)  # one library for both, else TypeError
    g = w.shape[0]
    dy_g = _groups_first(dy, g)  # (g, N, d_out)
    dx = _groups_back(dy_g @ w.mT, tuple(dy.shape[:-2]))  # dx_r = dy_r W_rᵀ
    dw = x_g.mT @ dy_g  # dW_r = x_rᵀ dy_r, (g, d_in, d_out)
    db = sum_rows(dy_g) if has_bias else None
    return dx, dw, db
