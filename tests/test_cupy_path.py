"""The CuPy code path, run on the CPU with a stand-in CuPy (``tests/fake_cupy.py``).

array_api_strict proves the kernels use only the array API; this file proves
the *CuPy-specific* dispatch works: CuPy arrays have no ``__array_namespace__``,
are recognised through ``sys.modules["cupy"]``, get new arrays from CuPy's
creation functions (no ``device=``), use ``out=`` ufuncs where the kernels
take that path, and refuse to be mixed with NumPy arrays. The stand-in
computes with NumPy, so every result must match the NumPy run.
"""
from __future__ import annotations

import numpy as np
import pytest

import fake_cupy
from gemini_np.backend import array_namespace, from_numpy, get_backend, to_numpy, use_backend
from test_array_api import CASES, RTOL, assert_close_normwise


@pytest.fixture
def cupy(monkeypatch):
    return fake_cupy.install(monkeypatch)


def _as_tuple(g):
    return g if isinstance(g, tuple) else (g,)


def _to_cupy(cupy, host, dtype):
    if host is None:
        return None
    host = np.asarray(host)
    return cupy.asarray(host.astype(dtype) if host.dtype.kind == "f" else host)


def _check_on_cupy(cupy, x, dtype, what):
    assert isinstance(x, cupy.ndarray), f"{what}: left CuPy ({type(x).__module__}.{type(x).__name__})"
    assert array_namespace(x) is cupy
    assert x.dtype == np.dtype(dtype), f"{what}: dtype {x.dtype}, expected {np.dtype(dtype)}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(CASES))
def test_op_on_the_cupy_path(cupy, name, dtype):
    case = CASES[name](np.random.default_rng(3))
    host = {k: (None if v is None else (np.asarray(v).astype(dtype) if np.asarray(v).dtype.kind == "f" else np.asarray(v)))
            for k, v in case.inputs.items()}
    out_np, cache_np = case.forward(**host)
    dout = np.random.default_rng(4).standard_normal(np.shape(out_np)).astype(dtype)
    grads_np = _as_tuple(case.backward(dout, cache_np))

    out, cache = case.forward(**{k: _to_cupy(cupy, v, dtype) for k, v in case.inputs.items()})
    grads = _as_tuple(case.backward(cupy.asarray(dout), cache))
    _check_on_cupy(cupy, out, dtype, "forward output")
    assert_close_normwise(to_numpy(out), out_np, dtype, "forward output")
    for i, (g, g_np) in enumerate(zip(grads, grads_np)):
        if g_np is None:
            assert g is None
            continue
        _check_on_cupy(cupy, g, dtype, f"gradient {i}")
        assert_close_normwise(to_numpy(g), g_np, dtype, f"gradient {i}")


def test_the_stand_in_behaves_like_cupy_where_it_matters(cupy):
    """If the stand-in were lax, the tests above would prove nothing."""
    x = cupy.asarray(np.ones((2, 3)))
    assert not hasattr(x, "__array_namespace__")
    with pytest.raises(TypeError, match="refuses to mix"):
        x + np.ones(3)
    with pytest.raises(TypeError, match="refuses to mix"):
        cupy.where(x > 0, np.ones((2, 3)), x)
    assert isinstance(cupy.zeros(3), cupy.ndarray) and isinstance(cupy.sum(x), cupy.ndarray)
    assert isinstance(x * np.float64(2.0), cupy.ndarray)  # NumPy scalars are allowed, as in CuPy
    assert isinstance(to_numpy(x), np.ndarray) and not isinstance(to_numpy(x), cupy.ndarray)
    assert not hasattr(cupy, "vecdot") and not hasattr(cupy, "__array_api_version__")  # as in CuPy 14.2
    with use_backend("cupy"):
        assert get_backend() is cupy
        assert isinstance(from_numpy(np.arange(3)), cupy.ndarray)

