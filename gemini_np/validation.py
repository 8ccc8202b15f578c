"""Input validation: the one home of every check a public function or the CLI makes.

One rule decides the exception type:

    TypeError    the argument is the wrong *kind* of object: a list where an array
                 goes, a str or a float where an int goes, integers where floats go
    ValueError   the right kind of object with a bad *value*: a negative size,
                 shapes that do not fit, NaN or infinity where a finite number goes

Every message names the argument and the values or shapes involved, so a student
sees "q has d_k=4 but k has d_k=5" instead of a broadcasting traceback from deep
inside NumPy.

Public functions validate once, at the boundary. Internal callers that have
already validated their inputs call the unchecked cores (the ``_``-prefixed
functions next to each public op), so no hot path checks the same array twice.
"""
from __future__ import annotations

import dataclasses
import math
import numbers

import numpy

from .backend import array_namespace, is_array

# ----------------------------------------------------------------------------- Python scalars


def _kind(value) -> str:
    """``2.0 (float)``: a value and its type, for messages."""
    return f"{_short_repr(value)} ({type(value).__name__})"


def _short_repr(value) -> str:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and abs(int(value)) > 10**15:
        return f"an integer of {len(str(abs(int(value))))} digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def is_int(value) -> bool:
    """A Python or NumPy integer, but not a bool (True is an int to Python, never a size to us)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(value, name: str, *, minimum: int | None = None) -> int:
    """An int (not a bool, float or str) that is at least ``minimum``; returned as a Python int."""
    if not is_int(value):
        raise TypeError(f"{name} must be an int, got {_kind(value)}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value}")
    return value


def check_positive_int(value, name: str) -> int:
    """An int >= 1 (sizes, counts, patch sizes, block sizes)."""
    if not is_int(value):
        raise TypeError(f"{name} must be a positive int, got {_kind(value)}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {int(value)}")
    return int(value)


def check_real(value, name: str, *, positive: bool = False, minimum: float | None = None,
               maximum: float | None = None) -> float:
    """A finite real number (int or float, not a bool, str or array), optionally > 0 or in
    [minimum, maximum]; returned as a Python float (so ``float32_array * value`` stays float32)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float's range, such as 10**400
        raise ValueError(f"{name} must be finite, got {_short_repr(value)}, beyond float's range") from None
    condition = "positive and finite" if positive else "finite"
    if not math.isfinite(number) or (positive and number <= 0):
        raise ValueError(f"{name} must be {condition}, got {number}")
    if minimum is not None and number < minimum or maximum is not None and number > maximum:
        low = "-inf" if minimum is None else f"{minimum:g}"
        high = "inf" if maximum is None else f"{maximum:g}"
        raise ValueError(f"{name} must lie in [{low}, {high}], got {number:g}")
    return number


def check_choice(value, name: str, choices) -> object:
    """One of ``choices`` (compared with ==)."""
    if value not in choices:
        listing = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {listing}; got {_short_repr(value)}")
    return value


#: The float dtypes a model can be built in.
DTYPES = ("float64", "float32")


def check_dtype(dtype) -> str:
    """``"float64"`` (None gives this default, for gradient checks) or ``"float32"``; returns the name."""
    if dtype is None:
        return "float64"
    try:
        name = numpy.dtype(dtype).name
    except TypeError:
        raise TypeError(f"dtype must be 'float64' or 'float32', got {_kind(dtype)}") from None
    if name not in DTYPES:
        raise ValueError(f"dtype must be 'float64' or 'float32', got {_short_repr(dtype)}")
    return name


def check_fields(config_class, fields, what: str) -> dict:
    """``fields`` is a dict whose keys all name fields of the dataclass ``config_class``.

    For configs read back from a file (a checkpoint's JSON): a typo or an unknown key is a
    ValueError naming it, not a TypeError from deep inside the constructor, which then
    validates every value as strictly as the command line does.
    """
    if not isinstance(fields, dict):
        raise TypeError(f"a {what} must be a dict of fields, got {type(fields).__name__}")
    unknown = sorted(set(fields) - {f.name for f in dataclasses.fields(config_class)})
    if unknown:
        raise ValueError(f"unknown {what} fields: {', '.join(map(str, unknown))}")
    return fields


# ----------------------------------------------------------------------------- arrays


def is_floating(x) -> bool:
    """True when ``x.dtype`` is a real floating dtype (float16/32/64)."""
    if type(x) is numpy.ndarray:  # the common case, answered without the array-API lookup
        return x.dtype.kind == "f"
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


def check_array(x, name: str):
    """Any array of a supported library (NumPy, CuPy, array API), else TypeError."""
    if not is_array(x):
        raise TypeError(f"{name} must be an array (numpy.ndarray or a CuPy / array-API array), got {type(x).__name__}")
    return x


def check_float_array(x, name: str, min_ndim: int = 0):
    """``x`` must be a floating-point array with at least ``min_ndim`` dims."""
    check_array(x, name)
    if not is_floating(x):
        raise TypeError(f"{name} must be a floating-point array, got dtype {x.dtype}")
    if x.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dims, got shape {tuple(x.shape)}")
    return x


def check_same_dtype(**arrays) -> None:
    """All arrays share one dtype (so float32 in means float32 out)."""
    dtypes = {name: a.dtype for name, a in arrays.items()}
    first = next(iter(dtypes.values()))
    if any(d != first for d in dtypes.values()):
        listing = ", ".join(f"{n} is {d}" for n, d in dtypes.items())
        raise TypeError(f"inputs must share one dtype: {listing}")


def check_same_batch(**arrays) -> None:
    """All arrays share the leading (batch) dims, everything but the last two.

    Batch dims must match exactly: they are not broadcast (unlike PyTorch's
    scaled_dot_product_attention), so a shape slip never silently repeats data.
    """
    batches = {name: tuple(a.shape[:-2]) for name, a in arrays.items()}
    if len(set(batches.values())) > 1:
        listing = ", ".join(f"{n} {tuple(a.shape)}" for n, a in arrays.items())
        raise ValueError(f"inputs must have the same leading (batch) dims: {listing}")


def check_scale(scale, d_k: int, name: str = "q") -> float:
    """Resolve the logit scale: ``1/sqrt(d_k)`` by default, else a positive finite number.

    Returned as a Python float so that ``float32_array * scale`` stays float32.
    """
    if scale is None:
        if d_k < 1:
            raise ValueError(f"{name} has d_k = {d_k} (its last dim): the default scale 1/√d_k is undefined; "
                             f"give feature vectors at least one entry, or pass scale= explicitly")
        return 1.0 / math.sqrt(d_k)
    return check_real(scale, "scale", positive=True)


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


def check_key_mask(key_mask, x, token_dims: int = 1):
    """A padding mask for the tokens of ``x``: bool, shape x.shape[:-1] (True = a real token), or None."""
    if key_mask is None:
        return None
    check_array(key_mask, "key_mask")
    array_namespace(key_mask, x)
    if not is_bool(key_mask):
        raise TypeError(f"key_mask must be a bool array (True = a real token), got dtype {key_mask.dtype}")
    if tuple(key_mask.shape) != tuple(x.shape[:-1]):
        raise ValueError(f"key_mask must have shape {tuple(x.shape[:-1])} (one entry per token of x "
                         f"{tuple(x.shape)}), got {tuple(key_mask.shape)}")
    return key_mask


def check_has_keys(k, name: str = "k") -> None:
    """Attention needs at least one key: softmax over zero keys is undefined."""
    if k.shape[-2] == 0:
        raise ValueError(f"attention needs at least one key, but {name} has shape {tuple(k.shape)} (n_k = 0)")


def check_axis(axis, ndim: int) -> int:
    if not is_int(axis):
        raise TypeError(f"axis must be an int, got {type(axis).__name__}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for an array with {ndim} dims")
    return int(axis)
