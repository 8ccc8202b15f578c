"""Finite-difference checks of a Module's parameter gradients (DESIGN ladder, rung 1).

The loss is L = Σ out ∘ G with a random upstream gradient G. For every
parameter tensor, a set of entries (all of them, or a random subset for big
tensors) is nudged by ±h and (L(+h) − L(−h)) / 2h is compared with the
gradient the backward pass stored. Always float64: in float32 the rounding
error of L swamps the O(h²) truncation error.
"""
from __future__ import annotations

from typing import Callable

import numpy

from ..backend import from_numpy, to_numpy
from ..gradcheck import rel_error
from .module import Module


def check_module_gradients(
    module: Module,
    forward: Callable[[], object],
    seed: int = 0,
    max_entries: int | None = 32,
    h: float = 1e-5,
    names=None,
) -> dict:
    """Worst relative error of each parameter's gradient against central differences.

    module: a float64 Module. forward: a no-argument function that runs
    ``module.forward(...)`` on fixed inputs and returns the output array.
    max_entries: check at most this many randomly chosen entries of each
    tensor (None = every entry); every tensor is always checked.
    names: the parameters to check (default: all of ``module.params``).

    Returns {parameter name: rel_error}. The module's parameters are restored.
    """
    if module.dtype != "float64":
        raise TypeError(f"finite differences need a float64 module, got {module.dtype}")
    rng = numpy.random.default_rng(seed)
    out = forward()
    upstream = rng.standard_normal(tuple(out.shape))  # random G: a plain sum() hides softmax bugs
    g = from_numpy(upstream, like=out)
    module.backward(g)
    analytic = {k: to_numpy(v) for k, v in module.grads.items()}

    def loss() -> float:
        return float(numpy.sum(to_numpy(forward()) * upstream))

    errors = {}
    for name in names if names is not None else list(module.params):
        original = module.params[name]
        host = numpy.array(to_numpy(original), dtype=numpy.float64)
        n = host.size
        picked = numpy.arange(n) if max_entries is None or n <= max_entries else rng.choice(n, max_entries, replace=False)
        numeric = numpy.empty(len(picked))
        for i, index in enumerate(picked):
            probe = host.copy()
            probe.flat[index] = host.flat[index] + h
            module.set_param(name, from_numpy(probe, like=original))
            l_plus = loss()
            probe.flat[index] = host.flat[index] - h
            module.set_param(name, from_numpy(probe, like=original))
            l_minus = loss()
            numeric[i] = (l_plus - l_minus) / (2 * h)
        module.set_param(name, original)
        errors[name] = rel_error(analytic[name].reshape(-1)[picked], numeric)
    return errors
