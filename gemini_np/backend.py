"""Which array library the arrays live in: NumPy by default, CuPy when asked.

Two separate questions, two separate answers:

* **Kernels** (everything in ``gemini_np.functional``) never ask the global
  setting. They take the array module from their inputs with
  :func:`array_namespace`, so the same function runs on NumPy, CuPy or any
  library that follows the Python array API standard.
* **Creators of new arrays** (model initialisation, data loading) ask
  :func:`get_backend` where to put them. Random numbers are always drawn on the
  host with ``numpy.random.default_rng(seed)`` and then moved with
  :func:`from_numpy`, so a seed means the same numbers on every backend.

>>> import gemini_np as gnp
>>> gnp.get_backend().__name__
'numpy'
>>> with gnp.use_backend("numpy"):
...     pass
"""
from __future__ import annotations

import contextlib
import os
import types

import numpy

__all__ = [
    "BackendError",
    "array_namespace",
    "from_numpy",
    "get_backend",
    "set_backend",
    "to_numpy",
    "use_backend",
]

_NAMES = ("numpy", "cupy")
_CUPY_HINT = (
    "install the CuPy wheel that matches your CUDA driver: "
    "`pip install cupy-cuda12x` (CUDA 12) or `pip install cupy-cuda13x` (CUDA 13), "
    "or from this repository `pip install -e \".[cuda12]\"` / `pip install -e \".[cuda13]\"`"
)


class BackendError(RuntimeError):
    """The requested backend cannot be used on this machine."""


def _load_cupy() -> types.ModuleType:
    """Import CuPy and make sure a GPU answers; raise BackendError saying what is missing."""
    try:
        import cupy
    except ImportError as exc:  # not installed, or installed for another CUDA
        raise BackendError(f"CuPy is not installed ({exc}); {_CUPY_HINT}") from None
    try:
        n_gpus = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # driver missing, CUDA version mismatch, ...
        raise BackendError(
            f"CuPy is installed but no GPU is usable ({type(exc).__name__}: {exc}); "
            f"check `nvidia-smi`, then {_CUPY_HINT}"
        ) from None
    if n_gpus < 1:
        raise BackendError(f"CuPy is installed but found no GPU; check `nvidia-smi`, then {_CUPY_HINT}")
    return cupy


def _module(name: str) -> types.ModuleType:
    if not isinstance(name, str) or name.lower() not in _NAMES:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(_NAMES)}")
    return numpy if name.lower() == "numpy" else _load_cupy()


_current: types.ModuleType | None = None


def get_backend() -> types.ModuleType:
    """The array module new arrays are created in (``numpy`` or ``cupy``).

    The first call honours the environment variable ``GEMINI_NP_BACKEND``.
    """
    global _current
    if _current is None:
        _current = _module(os.environ.get("GEMINI_NP_BACKEND", "numpy"))
    return _current


def set_backend(name: str) -> types.ModuleType:
    """Select ``"numpy"`` or ``"cupy"`` for newly created arrays; returns the module.

    Raises BackendError (with the ``pip install`` command that fixes it) when CuPy
    or a GPU is missing, and ValueError for an unknown name.
    """
    global _current
    _current = _module(name)
    return _current


@contextlib.contextmanager
def use_backend(name: str):
    """``with use_backend("cupy"): ...`` selects a backend for the block, then restores the old one."""
    global _current
    previous = get_backend()
    module = set_backend(name)
    try:
        yield module
    finally:
        _current = previous


def array_namespace(*arrays) -> types.ModuleType:
    """The array module (``xp``) that all of ``arrays`` belong to.

    ``None`` entries are skipped. Raises TypeError for non-arrays and for a mix
    of libraries (say a NumPy mask with CuPy queries).
    """
    spaces = []
    for a in arrays:
        if a is None:
            continue
        get_ns = getattr(a, "__array_namespace__", None)
        if get_ns is None:
            raise TypeError(f"expected an array, got {type(a).__name__}")
        spaces.append(get_ns())
    if not spaces:
        return get_backend()
    if any(s is not spaces[0] for s in spaces):
        names = sorted({s.__name__ for s in spaces})
        raise TypeError(f"arrays from different libraries cannot be mixed: {', '.join(names)}")
    return spaces[0]


def to_numpy(x):
    """A host NumPy copy (or view) of ``x``, from any backend. Non-arrays pass through ``numpy.asarray``."""
    if isinstance(x, numpy.ndarray):
        return x
    get = getattr(x, "get", None)  # CuPy: explicit device -> host copy
    if callable(get) and type(x).__module__.startswith("cupy"):
        return get()
    try:
        return numpy.asarray(x)
    except (TypeError, ValueError, RuntimeError):
        return numpy.from_dlpack(x)  # array-API libraries that refuse __array__


def from_numpy(x, like=None, xp=None):
    """Move a host array to the backend of ``like`` (same library and device), or to ``xp``.

    With neither given, the current :func:`get_backend` is used.
    """
    if like is not None:
        xp = array_namespace(like)
        if xp is numpy:
            return numpy.asarray(x)
        if xp.__name__ == "cupy":
            return xp.asarray(x)
        return xp.asarray(x, device=like.device)
    xp = get_backend() if xp is None else xp
    return xp.asarray(x)


def device_kwargs(like) -> dict:
    """Keyword arguments that put a new array on the same device as ``like``.

    NumPy has one device and CuPy creates arrays on the current GPU, so both
    need nothing; other array-API libraries get ``device=like.device``.
    """
    name = array_namespace(like).__name__
    return {} if name in ("numpy", "cupy") else {"device": like.device}
