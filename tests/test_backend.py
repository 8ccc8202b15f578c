"""Backend selection: NumPy by default, CuPy on request, with errors that say how to fix them.

CuPy itself cannot run here (no GPU), so its *absence* is simulated by making
``import cupy`` fail (``sys.modules["cupy"] = None``), and its *presence* by a
small fake module with CuPy's shape. Both work the same on a machine that does
have CuPy installed, so these tests mean the same thing everywhere.
"""
from __future__ import annotations

import sys
import types

import numpy as np
import pytest

import gemini_np
from gemini_np import backend
from gemini_np.backend import BackendError, array_namespace, from_numpy, is_array, set_backend, to_numpy, use_backend


@pytest.fixture(autouse=True)
def _restore_backend():
    """Every test starts from, and leaves behind, the default (NumPy) backend."""
    saved = (backend._current, backend._device)
    yield
    backend._current, backend._device = saved


@pytest.fixture
def no_cupy(monkeypatch):
    """``import cupy`` raises ImportError, whether or not CuPy is installed."""
    monkeypatch.setitem(sys.modules, "cupy", None)


class _FakeDevice:
    """Stands in for cupy.cuda.Device: a context manager that records its use."""

    def __init__(self, index=0):
        self.index, self.entered = index, 0

    def __enter__(self):
        self.entered += 1
        return self

    def __exit__(self, *exc):
        return False


def _fake_cupy(version="14.2.0", n_gpus=1, modern=True, gpu_error=None):
    """A module shaped like CuPy: ndarray without __array_namespace__, .get(), .device."""
    cupy = types.ModuleType("cupy")
    cupy.__version__ = version

    class ndarray:  # noqa: N801 - CuPy's name
        def __init__(self, data, device=None):
            self._data, self.device = np.asarray(data), device or _FakeDevice()
            self.shape, self.dtype = self._data.shape, self._data.dtype

        def get(self):
            return self._data.copy()

    if modern:
        ndarray.mT = property(lambda self: ndarray(np.swapaxes(self._data, -1, -2)))
        cupy.astype = cupy.permute_dims = cupy.isdtype = lambda *a, **k: None
        cupy.bool = np.bool_
    cupy.ndarray = ndarray
    cupy.asarray = lambda x: ndarray(x)

    def get_device_count():
        if gpu_error is not None:
            raise gpu_error
        return n_gpus

    cupy.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=get_device_count))
    return cupy


# --------------------------------------------------------------------------- CuPy missing


def test_set_backend_cupy_without_cupy_names_the_pip_command(no_cupy):
    with pytest.raises(BackendError) as info:
        set_backend("cupy")
    message = str(info.value)
    assert "CuPy is not installed" in message
    assert "pip install cupy-cuda12x" in message and "pip install cupy-cuda13x" in message
    assert '.[cuda12]' in message
    assert gemini_np.get_backend() is np, "a failed switch must leave the old backend in place"


def test_use_backend_cupy_without_cupy_fails_before_the_block_runs(no_cupy):
    ran = False
    with pytest.raises(BackendError, match="pip install cupy-cuda12x"):
        with use_backend("cupy"):
            ran = True
    assert not ran and gemini_np.get_backend() is np


def test_environment_variable_selects_the_backend(monkeypatch, no_cupy):
    backend._current = None  # as in a fresh process
    monkeypatch.setenv("GEMINI_NP_BACKEND", "cupy")
    with pytest.raises(BackendError, match="pip install cupy-cuda13x"):
        gemini_np.get_backend()
    monkeypatch.setenv("GEMINI_NP_BACKEND", "numpy")
    assert gemini_np.get_backend() is np
    backend._current = None
    monkeypatch.setenv("GEMINI_NP_BACKEND", "tpu")
    with pytest.raises(ValueError, match="unknown backend 'tpu'"):
        gemini_np.get_backend()
    backend._current = None
    monkeypatch.delenv("GEMINI_NP_BACKEND")
    assert gemini_np.get_backend() is np


def test_unknown_backend_and_misplaced_device_are_value_errors():
    with pytest.raises(ValueError, match="choose one of numpy, cupy"):
        set_backend("torch")
    with pytest.raises(ValueError, match="unknown backend"):
        set_backend(3)
    with pytest.raises(ValueError, match="only for array-API test namespaces"):
        set_backend("numpy", device="cpu")
    with pytest.raises(ValueError, match="not an array-API namespace"):
        set_backend(types.ModuleType("not_an_array_library"))
    assert set_backend(" NumPy ") is np


def test_use_backend_restores_the_previous_backend_after_an_exception():
    import array_api_strict as xps

    with pytest.raises(KeyError):
        with use_backend(xps):
            assert gemini_np.get_backend() is xps
            raise KeyError("boom")
    assert gemini_np.get_backend() is np and backend.get_device() is None


# --------------------------------------------------------------------------- CuPy present (simulated)


def test_cupy_too_old_is_refused_with_the_upgrade_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(version="13.6.0", modern=False))
    with pytest.raises(BackendError) as info:
        set_backend("cupy")
    message = str(info.value)
    assert "CuPy 13.6.0 is too old" in message and "ndarray.mT" in message
    assert 'pip install -U "cupy-cuda12x>=14"' in message


def test_cupy_without_a_gpu_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(gpu_error=RuntimeError("cudaErrorNoDevice")))
    with pytest.raises(BackendError, match="no GPU is usable .*cudaErrorNoDevice.*nvidia-smi"):
        set_backend("cupy")
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(n_gpus=0))
    with pytest.raises(BackendError, match="found no GPU"):
        set_backend("cupy")


def test_cupy_arrays_are_recognised_without_array_namespace(monkeypatch):
    """CuPy 14 arrays have no __array_namespace__: the backend must still route them to cupy."""
    cupy = _fake_cupy()
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    a = cupy.ndarray(np.arange(6.0).reshape(2, 3))
    assert not hasattr(a, "__array_namespace__")
    assert is_array(a) and array_namespace(a, None, a) is cupy
    with pytest.raises(TypeError, match="different libraries cannot be mixed: cupy, numpy"):
        array_namespace(a, np.ones(3))
    host = to_numpy(a)  # the explicit .get() copy
    assert isinstance(host, np.ndarray) and host.tolist() == [[0, 1, 2], [3, 4, 5]]


def test_from_numpy_puts_arrays_on_the_gpu_of_like(monkeypatch):
    cupy = _fake_cupy()
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    gpu1 = _FakeDevice(1)
    like = cupy.ndarray(np.zeros(2), device=gpu1)
    moved = from_numpy(np.ones(3), like=like)
    assert isinstance(moved, cupy.ndarray) and gpu1.entered == 1
    with use_backend("cupy") as xp:
        assert xp is cupy
        assert isinstance(from_numpy(np.ones(2)), cupy.ndarray)
    assert gemini_np.get_backend() is np


def test_non_arrays_are_rejected_by_name():
    assert not is_array([1.0, 2.0]) and not is_array(None)
    with pytest.raises(TypeError, match="expected an array .* got list"):
        array_namespace(np.ones(2), [1.0])
    with pytest.raises(TypeError, match="must be an array"):
        gemini_np.softmax([1.0, 2.0])


def test_with_nothing_given_array_namespace_is_the_current_backend():
    assert array_namespace() is np and array_namespace(None) is np


def test_to_numpy_passes_host_arrays_through_without_a_copy():
    x = np.ones(4)
    assert to_numpy(x) is x
    assert to_numpy(2.5).shape == ()

