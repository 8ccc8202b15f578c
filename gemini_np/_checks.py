"""Input validation shared by every public function.

Each check raises TypeError (wrong kind of thing) or ValueError (right kind,
wrong shape or value) with a message that names the argument and the shapes
or values involved, so a student sees "q has d_k=4 but k has d_k=5" instead of
a broadcasting traceback from deep inside NumPy.
"""
from __future__ import annotations

import math
import numbers

import numpy

from .backend import array_namespace, is_array


def is_floating(x) -> bool:
    """True when ``x.dtype`` is a real floating dtype (float16/32/64)."""
    xp = array_namespace(x)
    isdtype = getattr(xp, "isdtype", None)
    if isdtype is not None:
        return bool(isdtype(x.dtype, "real floating"))
    return numpy.issubdtype(x.dtype, numpy.floating)


def is_bool(x) -> bool:
    xp = array_namespace(x)
    return x.dtype == xp.bool


def is_integer(x) -> bool:
    xp = array_namespace(x)
    isdtype = getattr(xp, "isdtype", None)
    if isdtype is not None:
        return bool(isdtype(x.dtype, "integral"))
    return numpy.issubdtype(x.dtype, numpy.integer)


def check_float_array(x, name: str, min_ndim: int = 0):
    """``x`` must be a floating-point array with at least ``min_ndim`` dims."""
    if not is_array(x):
        raise TypeError(f"{name} must be an array (numpy.ndarray or a CuPy / array-API array), got {type(x).__name__}")
    if not is_floating(x):
        raise TypeError(f"{name} must be a floating-point array, got dtype {x.dtype}")
    if x.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dims, got shape {tuple(x.shape)}")
    return x


def check_same_dtype(**arrays) -> None:
    """All arrays share one dtype (so float32 in means float32 out)."""
    dtypes = {name: a.dtype for name, a in arrays.items()}
    if len(set(map(str, dtypes.values()))) > 1:
        listing = ", ".join(f"{n} is {d}" for n, d in dtypes.items())
        raise TypeError(f"inputs must share one dtype: {listing}")


def check_same_batch(**arrays) -> None:
    """All arrays share the leading (batch) dims, everything but the last two."""
    batches = {name: tuple(a.shape[:-2]) for name, a in arrays.items()}
    if len(set(batches.values())) > 1:
        listing = ", ".join(f"{n} {tuple(a.shape)}" for n, a in arrays.items())
        raise ValueError(f"inputs must have the same leading (batch) dims: {listing}")


def check_scale(scale, d_k: int) -> float:
    """Resolve the logit scale: ``1/sqrt(d_k)`` by default, else a positive finite number.

    Returned as a Python float so that ``float32_array * scale`` stays float32.
    """
    if scale is None:
        return 1.0 / math.sqrt(d_k)
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
        raise TypeError(f"scale must be a real number, got {type(scale).__name__}")
    scale = float(scale)
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be positive and finite, got {scale}")
    return scale


def broadcast_shapes(*shapes) -> tuple:
    """NumPy's broadcasting rule on plain tuples; raises ValueError when they do not broadcast."""
    ndim = max(len(s) for s in shapes)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    out = []
    for sizes in zip(*padded):
        big = {n for n in sizes if n != 1}
        if len(big) > 1:
            raise ValueError(f"shapes {', '.join(str(tuple(s)) for s in shapes)} do not broadcast")
        out.append(big.pop() if big else 1)
    return tuple(out)


def check_mask(mask, logits_shape: tuple, like):
    """A boolean (True = may attend) or floating (added to the logits) mask that
    broadcasts to ``logits_shape`` = (..., n_q, n_k). Returns it, or None."""
    if mask is None:
        return None
    if not is_array(mask):
        raise TypeError(f"mask must be an array of bool or float, got {type(mask).__name__}")
    array_namespace(mask, like)  # same library as q/k/v
    if not (is_bool(mask) or is_floating(mask)):
        raise TypeError(f"mask must have dtype bool (True = may attend) or float (added to the logits), got {mask.dtype}")
    try:
        full = broadcast_shapes(tuple(mask.shape), logits_shape)
    except ValueError:
        full = None
    if full != tuple(logits_shape):
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to the logits' shape "
            f"{tuple(logits_shape)} = (..., n_q, n_k)"
        )
    return mask


def check_dout(dout, out, name: str = "dout"):
    """The upstream gradient must look exactly like the forward output."""
    check_float_array(dout, name)
    if tuple(dout.shape) != tuple(out.shape):
        raise ValueError(f"{name} has shape {tuple(dout.shape)} but the forward output had shape {tuple(out.shape)}")
    if dout.dtype != out.dtype:
        raise TypeError(f"{name} has dtype {dout.dtype} but the forward output had dtype {out.dtype}")
    return dout


def check_has_keys(k, name: str = "k") -> None:
    """Attention needs at least one key: softmax over zero keys is undefined."""
    if k.shape[-2] == 0:
        raise ValueError(f"attention needs at least one key, but {name} has shape {tuple(k.shape)} (n_k = 0)")


def check_axis(axis, ndim: int) -> int:
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"axis must be an int, got {type(axis).__name__}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for an array with {ndim} dims")
    return int(axis)
