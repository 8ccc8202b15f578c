"""The Module base class: parameters, their gradients, and child modules.

A Module is a thin stateful wrapper over the pure functions of
``gemini_np.functional``: ``forward`` calls ``*_forward`` and keeps the cache,
``backward`` calls ``*_backward`` with that cache, stores the parameter
gradients and returns the input gradient. There is no autograd: each module's
backward is written by hand, in reverse order of its forward.

Parameters are named with flat dotted keys built from the module tree, so
``model.params`` and ``model.grads`` are two dicts with identical keys such as
``text.blocks.0.attn.w_q``. Optimizers update ``params`` in place.
"""
from __future__ import annotations

import numpy

from ..backend import array_namespace, from_numpy, to_numpy
from ..validation import check_dtype, is_int


def dtype_name(x) -> str:
    """``"float32"``/``"float64"``/... for an array of any library (array-API dtypes print as ``lib.float32``)."""
    return str(x.dtype).split(".")[-1]


def resolve_rng(rng) -> numpy.random.Generator:
    """A host random generator from a seed (int), a Generator, or None (seed 0).

    Random numbers are always drawn on the host, so one seed gives the same
    initial weights on every backend.
    """
    if isinstance(rng, numpy.random.Generator):
        return rng
    if rng is None:
        return numpy.random.default_rng(0)
    if not is_int(rng):
        raise TypeError(f"rng must be an int seed or a numpy.random.Generator, got {type(rng).__name__}")
    if rng < 0:
        raise ValueError(f"rng seed must be a non-negative int, got {rng}")
    return numpy.random.default_rng(int(rng))


class Module:
    """Base class. Subclasses call :meth:`add_param` and :meth:`add_module` in
    ``__init__``, and implement ``forward(...)`` and ``backward(dout)``.

    ``params`` / ``grads``: flat dicts {dotted name: array} over the whole tree.
    Gradients start at zero and are *overwritten* (not accumulated) by each
    backward, because every module is used once per forward pass.
    """

    def __init__(self, dtype="float64"):
        self.dtype = check_dtype(dtype)
        self._params: dict = {}
        self._grads: dict = {}
        self._modules: dict = {}

    # -- building -------------------------------------------------------
    def add_param(self, name: str, host_value) -> None:
        """Register a parameter from a host NumPy array; it is moved to the current backend."""
        value = from_numpy(numpy.asarray(host_value, dtype=self.dtype))
        self._params[name] = value
        self._grads[name] = array_namespace(value).zeros_like(value)

    def add_module(self, name: str, module: "Module") -> "Module":
        self._modules[name] = module
        return module

    # -- the parameter tree ------------------------------------------------
    def named_modules(self, prefix: str = ""):
        """Yield (dotted prefix, module) for this module and every descendant."""
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}{name}.")

    @property
    def params(self) -> dict:
        """{dotted name: parameter array}, every trainable array of the tree."""
        return {f"{prefix}{k}": v for prefix, m in self.named_modules() for k, v in m._params.items()}

    @property
    def grads(self) -> dict:
        """{dotted name: gradient array} from the last backward; same keys as ``params``."""
        return {f"{prefix}{k}": v for prefix, m in self.named_modules() for k, v in m._grads.items()}

    def num_params(self) -> int:
        return sum(int(p.size) for p in self.params.values())

    def _owner(self, name: str):
        """The module that owns the dotted parameter ``name``, and the local key."""
        module, *path = self, *name.split(".")
        for part in path[:-1]:
            if part not in module._modules:
                raise KeyError(f"no parameter named {name!r}")
            module = module._modules[part]
        key = path[-1]
        if key not in module._params:
            raise KeyError(f"no parameter named {name!r}")
        return module, key

    def set_param(self, name: str, value) -> None:
        """Replace one parameter (same shape and dtype required), e.g. for a finite-difference probe."""
        module, key = self._owner(name)
        old = module._params[key]
        if tuple(value.shape) != tuple(old.shape):
            raise ValueError(f"parameter {name!r} has shape {tuple(old.shape)}, got {tuple(value.shape)}")
        if dtype_name(value) != module.dtype:
            raise TypeError(f"parameter {name!r} has dtype {module.dtype}, got {value.dtype}")
        module._params[key] = value
        module._grads[key] = array_namespace(value).zeros_like(value)

    def load_params(self, params: dict) -> None:
        """Replace every parameter from {dotted name: array}; the key sets must match exactly.

        Arrays may come from any library (host NumPy from a checkpoint, CuPy, an
        array-API library); each keeps its own library and device.
        """
        expected, given = set(self.params), set(params)
        if expected != given:
            missing, extra = sorted(expected - given), sorted(given - expected)
            raise ValueError(f"parameter names do not match: missing {missing[:5]}, unexpected {extra[:5]}")
        for name in sorted(expected):
            self.set_param(name, params[name])

    def to(self, xp) -> "Module":
        """Move every parameter to the array library ``xp`` (e.g. ``array_api_strict``); returns self."""
        self.load_params({k: xp.asarray(to_numpy(v)) for k, v in self.params.items()})
        return self

    def zero_grad(self) -> None:
        for _, m in self.named_modules():
            for k, v in m._params.items():
                m._grads[k] = array_namespace(v).zeros_like(v)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def backward(self, dout):  # pragma: no cover
        raise NotImplementedError


class ModuleList(Module):
    """An ordered list of modules, named "0", "1", ... in the dotted keys (``blocks.0.attn.w_q``)."""

    def __init__(self, modules, dtype="float64"):
        super().__init__(dtype)
        for i, m in enumerate(modules):
            self.add_module(str(i), m)

    def __iter__(self):
        return iter(self._modules.values())

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]
