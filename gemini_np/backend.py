"""Which array library the arrays live in: NumPy by default, CuPy when asked.

Two separate questions, two separate answers:

* **Kernels** (everything in ``gemini_np.functional``) never ask the global
  setting. They take the array module from their inputs with
  :func:`array_namespace`, so the same function runs on NumPy, CuPy or any
  library that follows the Python array API standard, and every array they
  create goes to the device of their inputs (:func:`device_kwargs`).
* **Creators of new arrays** (model initialisation, data loading) ask
  :func:`get_backend` where to put them. Random numbers are always drawn on the
  host with ``numpy.random.default_rng(seed)`` and then moved with
  :func:`from_numpy`, so a seed means the same numbers on every backend.

Moving data between host and device is always explicit: :func:`from_numpy`
(host -> backend) and :func:`to_numpy` (anything -> host NumPy). Checkpoints,
metrics and plots go through :func:`to_numpy`.

>>> import gemini_np as gnp
>>> gnp.get_backend().__name__
'numpy'
>>> with gnp.use_backend("numpy"):
...     pass

The backend can also be chosen with the environment variable
``GEMINI_NP_BACKEND=cupy`` (read on the first :func:`get_backend` call).
Tests may pass any array-API namespace module instead of a name, e.g.
``use_backend(array_api_strict, device=array_api_strict.Device("device1"))``,
so that the creation paths are checked on a library that refuses hidden NumPy
conversions and cross-device mixing.
"""
from __future__ import annotations

import contextlib
import os
import sys
import types

import numpy

__all__ = [
    "BackendError",
    "array_namespace",
    "device_kwargs",
    "from_numpy",
    "private_copy",
    "read_only",
    "get_backend",
    "get_device",
    "is_array",
    "set_backend",
    "to_numpy",
    "use_backend",
]

_NAMES = ("numpy", "cupy")
ENV_VAR = "GEMINI_NP_BACKEND"
_CUPY_HINT = (
    "install the CuPy wheel that matches your CUDA driver: "
    "`pip install cupy-cuda12x` (CUDA 12) or `pip install cupy-cuda13x` (CUDA 13), "
    "or from this repository `pip install -e \".[cuda12]\"` / `pip install -e \".[cuda13]\"`"
)


class BackendError(RuntimeError):
    """The requested backend cannot be used on this machine."""


def _check_cupy_api(cupy) -> None:
    """CuPy < 14 lacks the array-API names the kernels use (``x.mT``, ``cupy.astype``, ...)."""
    missing = [name for name in ("astype", "permute_dims", "isdtype", "bool") if not hasattr(cupy, name)]
    if not hasattr(cupy.ndarray, "mT"):
        missing.append("ndarray.mT")
    if missing:
        version = getattr(cupy, "__version__", "?")
        raise BackendError(
            f"CuPy {version} is too old: gemini_np needs CuPy >= 14 (missing {', '.join(missing)}); "
            f"upgrade with `pip install -U \"cupy-cuda12x>=14\"` (CUDA 12) or "
            f"`pip install -U \"cupy-cuda13x>=14\"` (CUDA 13)"
        )


def _load_cupy() -> types.ModuleType:
    """Import CuPy and make sure a GPU answers; raise BackendError saying what is missing."""
    try:
        import cupy
    except ImportError as exc:  # not installed, or installed for another CUDA
        raise BackendError(f"CuPy is not installed ({exc}); {_CUPY_HINT}") from None
    _check_cupy_api(cupy)
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


def _module(name) -> types.ModuleType:
    if isinstance(name, types.ModuleType):  # an array-API namespace, e.g. array_api_strict (tests)
        if name is numpy or _is_cupy_module(name):
            return name if name is numpy else _load_cupy()
        if not hasattr(name, "__array_api_version__"):
            raise ValueError(f"module {name.__name__!r} is not an array-API namespace (no __array_api_version__)")
        return name
    if not isinstance(name, str) or name.strip().lower() not in _NAMES:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(_NAMES)}")
    return numpy if name.strip().lower() == "numpy" else _load_cupy()


_current: types.ModuleType | None = None
_device = None  # where new arrays go; None = the library's default (NumPy: the host; CuPy: the current GPU)


def get_backend() -> types.ModuleType:
    """The array module new arrays are created in (``numpy`` or ``cupy``).

    The first call honours the environment variable ``GEMINI_NP_BACKEND``
    (``numpy`` or ``cupy``); a bad value raises ValueError / BackendError.
    """
    global _current
    if _current is None:
        _current = _module(os.environ.get(ENV_VAR, "numpy") or "numpy")
    return _current


def get_device():
    """The device new arrays are created on; None means the library's default."""
    return _device


def set_backend(name, device=None) -> types.ModuleType:
    """Select ``"numpy"`` or ``"cupy"`` for newly created arrays; returns the module.

    name: ``"numpy"``, ``"cupy"``, or (for tests) an array-API namespace module.
    device: only for such a module, e.g. ``array_api_strict.Device("device1")``.
    Raises BackendError (with the ``pip install`` command that fixes it) when CuPy
    or a GPU is missing, and ValueError for an unknown name.
    """
    global _current, _device
    module = _module(name)
    if device is not None and (module is numpy or _is_cupy_module(module)):
        raise ValueError(
            "device= is only for array-API test namespaces; NumPy has one device, and CuPy uses "
            "the current GPU (select it with `with cupy.cuda.Device(i): ...`)"
        )
    _current, _device = module, device
    return _current


@contextlib.contextmanager
def use_backend(name, device=None):
    """``with use_backend("cupy"): ...`` selects a backend for the block, then restores the old one."""
    global _current, _device
    previous = (get_backend(), _device)
    module = set_backend(name, device)
    try:
        yield module
    finally:
        _current, _device = previous


# -- which library does an array belong to ------------------------------------


def _is_cupy_module(module) -> bool:
    return getattr(module, "__name__", None) == "cupy"


def _namespace_of(a):
    """The array module of ``a``, or None when ``a`` is not an array.

    CuPy (up to at least 14.2) has no ``__array_namespace__`` method, so CuPy
    arrays are recognised by type. CuPy needs no import for that: if it has not
    been imported, no CuPy array can exist.
    """
    if type(a) is numpy.ndarray:  # the common case first: every kernel asks, several times per call
        return numpy
    get_ns = getattr(a, "__array_namespace__", None)
    if get_ns is not None:
        return get_ns()
    cupy = sys.modules.get("cupy")
    if cupy is not None and isinstance(a, cupy.ndarray):
        return cupy
    return None


def is_array(x) -> bool:
    """True for a NumPy, CuPy or array-API array (what every kernel accepts)."""
    return _namespace_of(x) is not None


def array_namespace(*arrays) -> types.ModuleType:
    """The array module (``xp``) that all of ``arrays`` belong to.

    ``None`` entries are skipped. Raises TypeError for non-arrays and for a mix
    of libraries (say a NumPy mask with CuPy queries). With no arrays at all,
    returns the current :func:`get_backend`.
    """
    spaces = []
    for a in arrays:
        if a is None:
            continue
        space = _namespace_of(a)
        if space is None:
            raise TypeError(f"expected an array (NumPy, CuPy or array-API), got {type(a).__name__}")
        spaces.append(space)
    if not spaces:
        return get_backend()
    if any(s is not spaces[0] for s in spaces):
        names = sorted({s.__name__ for s in spaces})
        raise TypeError(f"arrays from different libraries cannot be mixed: {', '.join(names)}")
    return spaces[0]


# -- explicit host <-> device moves -------------------------------------------


def to_numpy(x) -> numpy.ndarray:
    """A host NumPy copy (or view) of ``x``, from any backend.

    The only way data leaves a device in this package: an explicit copy (CuPy's
    ``.get()``, or DLPack for other array-API libraries). Python and NumPy
    scalars pass through ``numpy.asarray``.
    """
    if _is_cupy_module(_namespace_of(x)):
        return x.get()  # explicit device -> host copy
    if isinstance(x, numpy.ndarray):
        return x
    try:
        return numpy.asarray(x)
    except (TypeError, ValueError, RuntimeError):
        return numpy.from_dlpack(x)  # array-API libraries that refuse __array__ off their CPU device


def _asarray(xp, x, device):
    """``xp.asarray(x)`` placed on ``device`` (None = the library's default)."""
    if xp is numpy:
        return numpy.asarray(x)
    if _is_cupy_module(xp):
        if device is None:
            return xp.asarray(x)
        with device:  # a cupy.cuda.Device: allocate on that GPU, not the current one
            return xp.asarray(x)
    return xp.asarray(x) if device is None else xp.asarray(x, device=device)


def from_numpy(x, like=None, xp=None):
    """Move a host array to the library and device of ``like``, or to module ``xp``.

    With neither given, the current :func:`get_backend` (and its device) is
    used. This is how random numbers drawn on the host reach the backend.
    """
    if like is not None:
        return _asarray(array_namespace(like), x, like.device)
    if xp is None:
        return _asarray(get_backend(), x, _device)
    return _asarray(xp, x, None)


def device_kwargs(like) -> dict:
    """Keyword arguments that put a new array on the same device as ``like``.

    Use as ``xp.zeros(shape, dtype=..., **device_kwargs(x))``. NumPy has one
    device and CuPy creates arrays on the current GPU (CuPy 14's creation
    functions take no ``device=``), so both need nothing; other array-API
    libraries get ``device=like.device``.
    """
    xp = array_namespace(like)
    return {} if xp is numpy or _is_cupy_module(xp) else {"device": like.device}


# -- caches that a caller cannot corrupt ----------------------------------------


def private_copy(x):
    """A copy of ``x`` that no caller holds: what a forward pass keeps of its output.

    Why: a user may edit the array a forward pass returned (``out += 1``); a cache
    holding that very array would then give wrong gradients without any error.
    The output is (n, d)-sized, far smaller than the n × n attention matrix: the
    copy cost 0–3% of attention's forward + backward (docs/architecture.md).
    """
    xp = array_namespace(x)
    if xp is numpy or _is_cupy_module(xp):
        return x.copy()
    return xp.asarray(x, copy=True)


def read_only(x):
    """``x``, marked read-only where the library supports it (NumPy), returned.

    For the attention matrix P kept in a cache and shown as ``cache.weights``:
    copying it would double the largest array, so instead an in-place edit of it
    (``cache.weights /= 2``) raises NumPy's "assignment destination is read-only".
    """
    if isinstance(x, numpy.ndarray):
        x.flags.writeable = False
    return x
