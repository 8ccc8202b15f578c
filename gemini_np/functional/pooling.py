"""Masked mean pooling: the average of the valid positions of a sequence."""
from __future__ import annotations

from ..backend import array_namespace, device_kwargs, is_array
from ..validation import check_dout, check_float_array, is_bool


def masked_mean_forward(x, mask=None):
    """out = Σ_i mask_i x_i / max(1, Σ_i mask_i)  over the sequence axis.

    x: (..., n, d); mask: bool (..., n), True = a real position (not padding),
    or None for a plain mean. A sequence with no valid position pools to 0.
    Returns (out (..., d), cache).
    """
    check_float_array(x, "x", min_ndim=2)
    if mask is not None and (not is_array(mask) or not is_bool(mask)):
        raise TypeError(f"mask must be a bool array (True = keep), got {getattr(mask, 'dtype', type(mask).__name__)}")
    xp = array_namespace(x, mask)
    if mask is None:
        mask = xp.ones(x.shape[:-1], dtype=xp.bool, **device_kwargs(x))
    if tuple(mask.shape) != tuple(x.shape[:-1]):
        raise ValueError(f"mask must have shape x.shape[:-1] = {tuple(x.shape[:-1])}, got {tuple(mask.shape)}")
    m = xp.astype(mask, x.dtype)[..., None]  # (..., n, 1)
    count = xp.sum(m, axis=-2)  # (..., 1) valid positions per sequence
    count = xp.where(count > 0, count, 1.0)  # an empty sequence divides by 1, not 0
    out = (m.mT @ x)[..., 0, :] / count  # Σ_i m_i x_i as the product mᵀ X (BLAS: 8x NumPy's sum here)
    return out, (m, count, out)


def masked_mean_backward(dout, cache):
    """dout: (..., d). Returns dx (..., n, d): dout / count at valid positions, 0 elsewhere."""
    m, count, out = cache
    check_dout(dout, out)
    return (dout / count)[..., None, :] * m
