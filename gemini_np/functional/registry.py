"""The registry of differentiable ops: every op declared once, every checker iterating over it.

Each :class:`OpSpec` says how to call an op's forward and backward, which of its
inputs get gradients, and how to build valid example inputs of any size. These
consumers loop over :data:`OPS`, so none of them lists the ops itself:

    gemini_np.gradcheck.op_gradcheck_table   finite differences (``python -m gemini_np gradcheck``)
    benchmarks/gpu_check.py                  CuPy against NumPy on a GPU
    tests/test_array_api.py                  every op on array_api_strict (the CPU proof of the GPU path)
    tests/test_validation.py                 bad inputs of every kind, for every op

**Adding an op**: write ``functional/<topic>.py`` with its ``*_forward`` / ``*_backward``
pair, export both from ``functional/__init__.py``, and append one ``OpSpec`` below.
``tests/functional/test_registry.py`` fails while a public function of ``functional.__all__``
is covered by no entry.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy

from . import (
    attention_backward,
    attention_forward,
    bce_with_logits_backward,
    bce_with_logits_forward,
    embedding_backward,
    embedding_forward,
    fusion_attention_backward,
    fusion_attention_forward,
    gelu_backward,
    gelu_forward,
    grouped_linear_backward,
    grouped_linear_forward,
    layer_norm_backward,
    layer_norm_forward,
    linear_backward,
    linear_forward,
    masked_mean_backward,
    masked_mean_forward,
    patch_attention_backward,
    patch_attention_forward,
    patchify,
    relu_backward,
    relu_forward,
    sigmoid,
    softmax,
    softmax_backward,
    unpatchify,
)


@dataclass(frozen=True)
class Sizes:
    """How big the example inputs are: batch, queries, keys, features; images H × W in p × p patches."""

    batch: int = 2
    n_q: int = 4
    n_k: int = 5
    d: int = 3
    image: tuple = (4, 6)
    patch: int = 2


#: Finite differences (every entry costs two forward passes, and every entry must be large
#: enough to resolve, see gemini_np.gradcheck.well_conditioned_example): as small as still meaningful.
TINY = Sizes(batch=2, n_q=3, n_k=4, d=3, image=(2, 4), patch=2)
#: Large enough for a GPU to run real kernels (benchmarks/gpu_check.py).
LARGE = Sizes(batch=4, n_q=48, n_k=64, d=32, image=(8, 12), patch=2)


@dataclass(frozen=True)
class Example:
    """Valid inputs for one call: ``forward(**inputs, **static)``.

    inputs: the differentiable arrays (host float64), in the order in which
    ``backward`` returns their gradients. static: everything else (masks, ids,
    labels, sizes); NumPy arrays among them move to a backend like ``inputs``.
    """

    inputs: dict
    static: dict = field(default_factory=dict)


@dataclass(frozen=True)
class OpSpec:
    """One differentiable op: how to call it and how to make inputs for it."""

    name: str  # as printed in tables: "attention (causal mask)"
    forward: Callable  # forward(**inputs, **static) -> (out, cache)
    backward: Callable  # backward(dout, cache) -> the gradient of each input (one array, or a tuple)
    example: Callable  # example(rng, sizes) -> Example
    covers: tuple  # the public functions of gemini_np.functional this entry exercises
    checks_dout: bool = True  # backward rejects a dout of the wrong shape or dtype

    def make_example(self, sizes: Sizes = TINY, seed: int = 0) -> Example:
        """Example inputs from this entry's own generator: the same whatever the other entries are."""
        return self.example(generator(self.name, seed), sizes)


def generator(name: str, seed: int = 0) -> numpy.random.Generator:
    """A host generator seeded by (seed, the entry's name): no entry's draws depend on another's."""
    return numpy.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


# ----------------------------------------------------------------------------- adapters
# Ops whose public signature is not forward(...) -> (out, cache) get a thin adapter.


def _softmax_forward(x, axis=-1):
    y = softmax(x, axis)
    return y, (y, axis)


def _softmax_backward(dy, cache):
    y, axis = cache
    return softmax_backward(dy, y, axis)


def _patchify_forward(x, patch_size):
    return patchify(x, patch_size), patch_size


def _patchify_backward(dy, patch_size):
    return unpatchify(dy, patch_size)  # patchify only moves numbers: its adjoint is its inverse


# ----------------------------------------------------------------------------- example inputs


def _randn(rng, *shape):
    return rng.standard_normal(shape)


def _qkv(rng, s: Sizes) -> dict:
    return {"q": _randn(rng, s.batch, s.n_q, s.d), "k": _randn(rng, s.batch, s.n_k, s.d),
            "v": _randn(rng, s.batch, s.n_k, s.d + 1)}


def _bool_mask(rng, s: Sizes):
    """True = may attend; query 1 may attend to nothing (zero output and gradients), key 0 is always open."""
    mask = rng.random((s.n_q, s.n_k)) < 0.6
    mask[:, 0] = True
    mask[1, :] = False
    return mask


def _float_mask(rng, s: Sizes):
    """Added to the logits: a bias, -inf on some keys, and a fully masked query 2."""
    mask = numpy.where(rng.random((s.batch, s.n_q, s.n_k)) < 0.7, rng.standard_normal((s.batch, s.n_q, s.n_k)), -numpy.inf)
    mask[..., 0] = 0.0
    mask[..., 2, :] = -numpy.inf
    return mask


def _attention_example(mask=None, **static):
    def example(rng, s: Sizes) -> Example:
        extra = {} if mask is None else {"mask": mask(rng, s)}
        return Example(_qkv(rng, s), {**extra, **static})

    return example


def _causal(rng, s: Sizes):
    return numpy.tril(numpy.ones((s.n_q, s.n_k), dtype=bool))


def _fusion_example(rng, s: Sizes) -> Example:
    inputs = {"q_text": _randn(rng, s.batch, s.n_q, s.d), "k_text": _randn(rng, s.batch, s.n_k, s.d),
              "q_image": _randn(rng, s.batch, s.n_q, s.d + 1), "k_image": _randn(rng, s.batch, s.n_k, s.d + 1),
              "v": _randn(rng, s.batch, s.n_k, 2)}
    return Example(inputs, {"mask": _bool_mask(rng, s)})


def _image(rng, s: Sizes, channels: int):
    return _randn(rng, s.batch, *s.image, channels)


def _patch_attention_example(rng, s: Sizes) -> Example:
    inputs = {"q": _image(rng, s, s.d), "k": _image(rng, s, s.d), "v": _image(rng, s, 2)}
    return Example(inputs, {"patch_size": s.patch})


def _linear_example(bias: bool):
    def example(rng, s: Sizes) -> Example:
        inputs = {"x": _randn(rng, s.batch, s.n_q, s.d), "w": _randn(rng, s.d, s.d + 2)}
        if bias:
            inputs["b"] = _randn(rng, s.d + 2)
        return Example(inputs)

    return example


def _grouped_linear_example(rng, s: Sizes) -> Example:
    groups = s.patch * s.patch
    return Example({"x": _randn(rng, s.batch, s.n_q, groups, s.d), "w": _randn(rng, groups, s.d, 2),
                    "b": _randn(rng, 2)})


def _layer_norm_example(rng, s: Sizes) -> Example:
    return Example({"x": _randn(rng, s.batch, s.n_q, 2 * s.d) * 3 + 1, "gamma": _randn(rng, 2 * s.d),
                    "beta": _randn(rng, 2 * s.d)})


def _away_from_zero(rng, *shape):
    """Normal draws pushed at least 0.1 away from 0: ReLU's kink there has no derivative."""
    x = _randn(rng, *shape)
    return x + numpy.sign(x) * 0.1


def _embedding_example(rng, s: Sizes) -> Example:
    vocab = s.d + 4
    ids = rng.integers(0, vocab, size=(s.batch, s.n_q))
    ids[0, -1], ids[-1, 0] = 0, ids[-1, 1]  # padding, and a repeated id (the scatter-add must add)
    return Example({"table": _randn(rng, vocab, s.d)}, {"ids": ids})


def _masked_mean_example(rng, s: Sizes) -> Example:
    mask = rng.random((s.batch, s.n_q)) < 0.6
    mask[0] = False  # a sequence without a valid position pools to 0
    mask[-1, 0] = True
    return Example({"x": _randn(rng, s.batch, s.n_q, s.d)}, {"mask": mask})


def _bce_example(rng, s: Sizes) -> Example:
    n = s.batch * s.n_q
    return Example({"logits": _randn(rng, n) * 1.5}, {"labels": (rng.random(n) < 0.5).astype(numpy.float64)})


# ----------------------------------------------------------------------------- the registry

OPS = (
    OpSpec("softmax", _softmax_forward, _softmax_backward,
           lambda rng, s: Example({"x": _randn(rng, s.batch, s.n_q, s.n_k) * 2}), (softmax, softmax_backward)),
    OpSpec("attention", attention_forward, attention_backward, _attention_example(),
           (attention_forward, attention_backward)),
    OpSpec("attention (causal mask)", attention_forward, attention_backward, _attention_example(_causal),
           (attention_forward, attention_backward)),
    OpSpec("attention (bool mask, a fully masked row)", attention_forward, attention_backward,
           _attention_example(_bool_mask), (attention_forward, attention_backward)),
    OpSpec("attention (float mask, scale 0.3)", attention_forward, attention_backward,
           _attention_example(_float_mask, scale=0.3), (attention_forward, attention_backward)),
    OpSpec("attention (blocked, b=3)", attention_forward, attention_backward,
           _attention_example(_causal, block_size=3), (attention_forward, attention_backward)),
    OpSpec("attention (blocked, b=2, bool mask)", attention_forward, attention_backward,
           _attention_example(_bool_mask, block_size=2), (attention_forward, attention_backward)),
    OpSpec("fusion attention", fusion_attention_forward, fusion_attention_backward, _fusion_example,
           (fusion_attention_forward, fusion_attention_backward)),
    OpSpec("patch attention", patch_attention_forward, patch_attention_backward, _patch_attention_example,
           (patch_attention_forward, patch_attention_backward)),
    OpSpec("patchify / unpatchify", _patchify_forward, _patchify_backward,
           lambda rng, s: Example({"x": _image(rng, s, 3)}, {"patch_size": s.patch}), (patchify, unpatchify),
           checks_dout=False),
    OpSpec("linear", linear_forward, linear_backward, _linear_example(bias=True), (linear_forward, linear_backward)),
    OpSpec("linear (no bias)", linear_forward, lambda dy, cache: linear_backward(dy, cache)[:2],
           _linear_example(bias=False), (linear_forward, linear_backward)),
    OpSpec("grouped linear", grouped_linear_forward, grouped_linear_backward, _grouped_linear_example,
           (grouped_linear_forward, grouped_linear_backward)),
    OpSpec("layer norm", layer_norm_forward, layer_norm_backward, _layer_norm_example,
           (layer_norm_forward, layer_norm_backward)),
    OpSpec("relu", relu_forward, relu_backward,
           lambda rng, s: Example({"x": _away_from_zero(rng, s.batch, s.n_q, s.d)}), (relu_forward, relu_backward)),
    OpSpec("gelu", gelu_forward, gelu_backward,
           lambda rng, s: Example({"x": _randn(rng, s.batch, s.n_q, s.d) * 1.5}), (gelu_forward, gelu_backward)),
    OpSpec("embedding (padding id 0)", embedding_forward, embedding_backward, _embedding_example,
           (embedding_forward, embedding_backward)),
    OpSpec("masked mean", masked_mean_forward, masked_mean_backward, _masked_mean_example,
           (masked_mean_forward, masked_mean_backward)),
    OpSpec("sigmoid + BCE", bce_with_logits_forward, bce_with_logits_backward, _bce_example,
           (bce_with_logits_forward, bce_with_logits_backward, sigmoid)),
)


def public_ops() -> set:
    """The public functions of ``gemini_np.functional`` (everything in ``__all__`` that is not a class)."""
    from .. import functional

    return {getattr(functional, name) for name in functional.__all__ if not isinstance(getattr(functional, name), type)}


def uncovered_ops() -> list:
    """Names of public functions that no registry entry covers (the test of the registry wants none)."""
    covered = {f for op in OPS for f in op.covers}
    return sorted(f.__name__ for f in public_ops() - covered)
