"""Basic layers: Linear, LayerNorm, Embedding, FeedForward, GroupedLinear.

Each one only stores parameters and a cache; the math is in
``gemini_np.functional`` (one place for each formula).
"""
from __future__ import annotations

import math

from ..functional import (
    embedding_backward,
    embedding_forward,
    gelu_backward,
    gelu_forward,
    layer_norm_backward,
    layer_norm_forward,
    linear_backward,
    linear_forward,
)
from ..functional.grouped_linear import grouped_linear_backward, grouped_linear_forward
from ..validation import check_positive_int
from .module import Module, resolve_rng


class Linear(Module):
    """y = x W + b.

    x: (..., d_in) -> y: (..., d_out). Parameters ``w`` (d_in, d_out) drawn from
    N(0, 1/d_in) (so y has about the variance of x), and ``b`` (d_out,) = 0
    unless ``bias=False``.
    """

    def __init__(self, d_in, d_out, bias=True, rng=None, dtype="float64", std=None):
        super().__init__(dtype)
        d_in, d_out = check_positive_int(d_in, "d_in"), check_positive_int(d_out, "d_out")
        rng = resolve_rng(rng)
        std = 1.0 / math.sqrt(d_in) if std is None else std
        self.add_param("w", rng.standard_normal((d_in, d_out)) * std)
        if bias:
            self.add_param("b", [0.0] * d_out)
        self._cache = None

    def forward(self, x):
        y, self._cache = linear_forward(x, self._params["w"], self._params.get("b"))
        return y

    def backward(self, dy):
        """dy: (..., d_out). Stores dW, db; returns dx (..., d_in)."""
        dx, dw, db = linear_backward(dy, self._cache)
        self._grads["w"] = dw
        if db is not None:
            self._grads["b"] = db
        return dx


class LayerNorm(Module):
    """Normalise each feature vector: (x − mean) / √(var + eps) · gamma + beta.

    x: (..., d). ``gamma`` starts at 1 and ``beta`` at 0 (the identity on normalised x).
    """

    def __init__(self, d, eps=1e-5, dtype="float64"):
        super().__init__(dtype)
        d = check_positive_int(d, "d")
        self.eps = eps
        self.add_param("gamma", [1.0] * d)
        self.add_param("beta", [0.0] * d)
        self._cache = None

    def forward(self, x):
        y, self._cache = layer_norm_forward(x, self._params["gamma"], self._params["beta"], self.eps)
        return y

    def backward(self, dy):
        dx, dgamma, dbeta = layer_norm_backward(dy, self._cache)
        self._grads["gamma"], self._grads["beta"] = dgamma, dbeta
        return dx


class Embedding(Module):
    """Token ids -> vectors, with a padding id whose vector is always 0.

    ids: int (...) -> (..., d). ``table`` (vocab_size, d) drawn from N(0, 1).
    The ids carry no gradient, so backward returns None.
    """

    def __init__(self, vocab_size, d, padding_id=0, rng=None, dtype="float64"):
        super().__init__(dtype)
        vocab_size, d = check_positive_int(vocab_size, "vocab_size"), check_positive_int(d, "d")
        self.padding_id = padding_id
        self.add_param("table", resolve_rng(rng).standard_normal((vocab_size, d)))
        self._cache = None

    def forward(self, ids):
        out, self._cache = embedding_forward(ids, self._params["table"], self.padding_id)
        return out

    def backward(self, dout):
        self._grads["table"] = embedding_backward(dout, self._cache)
        return None


class FeedForward(Module):
    """Position-wise MLP: y = GELU(x W_1 + b_1) W_2 + b_2.

    x: (..., d_model) -> (..., d_model); hidden width d_ff.
    """

    def __init__(self, d_model, d_ff, rng=None, dtype="float64"):
        super().__init__(dtype)
        rng = resolve_rng(rng)
        self.fc1 = self.add_module("fc1", Linear(d_model, d_ff, rng=rng, dtype=dtype))
        self.fc2 = self.add_module("fc2", Linear(d_ff, d_model, rng=rng, dtype=dtype))
        self._gelu_cache = None

    def forward(self, x):
        h = self.fc1.forward(x)  # x W_1 + b_1
        a, self._gelu_cache = gelu_forward(h)  # GELU
        return self.fc2.forward(a)  # ... W_2 + b_2

    def backward(self, dy):
        da = self.fc2.backward(dy)
        dh = gelu_backward(da, self._gelu_cache)
        return self.fc1.backward(dh)


class GroupedLinear(Module):
    """y[..., r, :] = x[..., r, :] W_r + b: one weight matrix per group r.

    x: (..., g, d_in) -> (..., g, d_out). ``w`` (g, d_in, d_out) drawn from
    N(0, 1/d_in); ``b`` (d_out,) = 0, shared by the groups.
    """

    def __init__(self, groups, d_in, d_out, rng=None, dtype="float64"):
        super().__init__(dtype)
        groups, d_in, d_out = (check_positive_int(v, n) for v, n in ((groups, "groups"), (d_in, "d_in"), (d_out, "d_out")))
        self.add_param("w", resolve_rng(rng).standard_normal((groups, d_in, d_out)) / math.sqrt(d_in))
        self.add_param("b", [0.0] * d_out)
        self._cache = None

    def forward(self, x):
        y, self._cache = grouped_linear_forward(x, self._params["w"], self._params["b"])
        return y

    def backward(self, dy):
        dx, self._grads["w"], self._grads["b"] = grouped_linear_backward(dy, self._cache)
        return dx
