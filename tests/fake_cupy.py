"""A stand-in for CuPy on a machine without a GPU, for tests only.

It reproduces the parts of CuPy 14 that differ from NumPy and that gemini_np's
dispatch depends on, so the *CuPy code path* (not just the array-API one) runs
in CI:

* arrays of their own type, ``fake_cupy.ndarray``, **without**
  ``__array_namespace__`` (CuPy 14.2 has none), recognised by
  ``gemini_np.backend`` through ``sys.modules["cupy"]``;
* a module named ``cupy`` whose functions return such arrays (creation
  functions included: CuPy puts new arrays on the current GPU);
* ``x.device`` is a context manager (``cupy.cuda.Device``), ``x.get()`` is
  the explicit device -> host copy;
* mixing a NumPy array with a CuPy array in an operation raises TypeError,
  as CuPy does (NumPy *scalars* are fine, as in CuPy);
* ``cuda.runtime.getDeviceCount()`` answers 1.

The numbers are NumPy's, so results must equal NumPy's exactly. Use with
``install(monkeypatch)``, which puts the module in ``sys.modules["cupy"]``.
"""
from __future__ import annotations

import time
import types

import numpy as np


class FakeDevice:
    """Like cupy.cuda.Device: an id and a context manager."""

    id = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def synchronize(self):
        pass

    def __repr__(self):
        return "<fake CUDA Device 0>"


DEVICE = FakeDevice()


def _reject_numpy_arrays(values, what):
    for v in values:
        if isinstance(v, np.ndarray) and not isinstance(v, ndarray):
            raise TypeError(f"fake CuPy: {what} got a NumPy array; CuPy refuses to mix host and device arrays")


def _wrap(out):
    if isinstance(out, ndarray):
        return out
    if isinstance(out, np.ndarray):
        return out.view(ndarray)
    if isinstance(out, np.generic):  # CuPy reductions return 0-d device arrays, never host scalars
        return np.asarray(out).view(ndarray)
    if isinstance(out, tuple):
        return tuple(_wrap(o) for o in out)
    if isinstance(out, list):
        return [_wrap(o) for o in out]
    return out


def _unwrap(value):
    if isinstance(value, ndarray):
        return value.view(np.ndarray)
    if isinstance(value, (tuple, list)):
        return type(value)(_unwrap(v) for v in value)
    return value


class _Absent:
    """A class attribute that does not exist: hides an attribute inherited from numpy.ndarray."""

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, obj, objtype=None):
        raise AttributeError(f"'cupy.ndarray' object has no attribute {self.name!r}")


class ndarray(np.ndarray):  # noqa: N801 - CuPy's name
    """A NumPy array that behaves, for dispatch purposes, like a cupy.ndarray."""

    __array_namespace__ = _Absent()  # CuPy 14.2 has no such method: hasattr() is False
    to_device = _Absent()  # nor this one

    @property
    def device(self):
        return DEVICE

    def get(self):
        """The explicit device -> host copy."""
        return np.array(self.view(np.ndarray), copy=True)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.get("out", ())
        _reject_numpy_arrays(inputs + tuple(out), f"{ufunc.__name__}")
        inputs = _unwrap(inputs)
        if out:
            kwargs["out"] = _unwrap(tuple(out))
        return _wrap(getattr(ufunc, method)(*inputs, **kwargs))

    def __array_function__(self, func, types_, args, kwargs):
        return _wrap(func(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))


_MOVES_HOST_DATA = {"asarray", "array"}  # the explicit host -> device entry points


def _function(name, fn):
    def wrapped(*args, **kwargs):
        if name not in _MOVES_HOST_DATA:
            _reject_numpy_arrays(args, f"cupy.{name}")
            _reject_numpy_arrays(kwargs.values(), f"cupy.{name}")
        return _wrap(fn(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))

    wrapped.__name__ = name
    return wrapped


# Names NumPy 2.4 has and CuPy 14.2 does not (dir(numpy) - dir(cupy), measured with the real
# cupy-cuda13x 14.2.0 wheel): the stand-in must not offer them, or the kernels would take
# code paths (e.g. ``vecdot``) that real CuPy never takes.
NOT_IN_CUPY = frozenset({
    "False_", "ScalarType", "True_", "__array_api_version__", "__array_namespace_info__",
    "asmatrix", "block", "bmat", "busday_count", "busday_offset", "busdaycalendar", "bytes_",
    "char", "character", "clongdouble", "complex256", "core", "ctypeslib", "datetime64",
    "datetime_as_string", "datetime_data", "dtypes", "einsum_path", "emath", "errstate", "f2py",
    "flexible", "float128", "frompyfunc", "fromregex", "geomspace", "get_include", "getbufsize",
    "geterr", "geterrcall", "histogram_bin_edges", "info", "insert", "is_busday", "isnat",
    "little_endian", "longdouble", "ma", "matrix", "matvec", "memmap", "nanpercentile",
    "nanquantile", "ndenumerate", "nditer", "nested_iters", "object_", "polyder", "polydiv",
    "polyint", "rec", "recarray", "record", "sctypeDict", "setbufsize", "seterr", "seterrcall",
    "show_runtime", "spacing", "str_", "strings", "test", "timedelta64", "typecodes", "unstack",
    "vecdot", "vecmat", "void",
})


class _Module(types.ModuleType):
    def __getattr__(self, name):
        if name in NOT_IN_CUPY:
            raise AttributeError(f"module 'cupy' has no attribute {name!r}")
        value = getattr(np, name)
        if callable(value) and not isinstance(value, type):
            value = _function(name, value)
        setattr(self, name, value)
        return value


class FakeEvent:
    """Like cupy.cuda.Event: record() stamps the (host) clock."""

    def record(self):
        self.t = time.perf_counter()

    def synchronize(self):
        pass


class FakeMemoryPool:
    def free_all_blocks(self):
        pass


def make_module() -> types.ModuleType:
    cupy = _Module("cupy")
    cupy.__version__ = "14.2.0+fake"
    cupy.ndarray = ndarray
    runtime = types.SimpleNamespace(
        getDeviceCount=lambda: 1,
        getDeviceProperties=lambda i: {"name": b"Fake GPU (NumPy underneath)"},
        runtimeGetVersion=lambda: 13000,
        driverGetVersion=lambda: 13000,
    )
    cupy.cuda = types.SimpleNamespace(
        Device=lambda *a: DEVICE,
        Event=FakeEvent,
        get_elapsed_time=lambda start, end: (end.t - start.t) * 1e3,  # milliseconds, as CuPy
        runtime=runtime,
    )
    cupy.get_default_memory_pool = FakeMemoryPool
    return cupy


def install(monkeypatch) -> types.ModuleType:
    """Put a fresh fake CuPy in ``sys.modules["cupy"]`` for one test; returns it."""
    import sys

    cupy = make_module()
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    return cupy
