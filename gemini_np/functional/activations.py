"""Element-wise activations: ReLU and GELU (tanh approximation)."""
from __future__ import annotations

import math

from ..validation import check_dout, check_float_array
from ..backend import array_namespace

_GELU_C = math.sqrt(2.0 / math.pi)  # Python floats keep float32 inputs float32
_GELU_A = 0.044715


def relu_forward(x):
    """y = max(x, 0). x: any shape. Returns (y, cache)."""
    check_float_array(x, "x")
    xp = array_namespace(x)
    y = xp.where(x > 0, x, 0.0)
    return y, (x, y)


def relu_backward(dy, cache):
    """dx = dy where x > 0, else 0 (the subgradient at 0 is taken as 0)."""
    x, y = cache
    check_dout(dy, y, "dy")
    xp = array_namespace(dy, x)
    return xp.where(x > 0, dy, 0.0)


def gelu_forward(x):
    """GELU in the tanh form used by BERT and GPT-2 (not the exact erf form):

        y = 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 x³)))

    x: any shape. Returns (y, cache). (The array API has no erf, so the tanh
    form is the one that runs unchanged on every backend.)
    """
    check_float_array(x, "x")
    xp = array_namespace(x)
    t = xp.tanh(_GELU_C * (x + _GELU_A * x * x * x))
    y = 0.5 * x * (1.0 + t)
    return y, (x, t, y)


def gelu_backward(dy, cache):
    """dy/dx = 0.5 (1 + t) + 0.5 x (1 − t²) √(2/π) (1 + 3·0.044715 x²), with t the tanh above."""
    x, t, y = cache
    check_dout(dy, y, "dy")
    dt_dx = (1.0 - t * t) * _GELU_C * (1.0 + 3.0 * _GELU_A * x * x)
    return dy * (0.5 * (1.0 + t) + 0.5 * x * dt_dx)
