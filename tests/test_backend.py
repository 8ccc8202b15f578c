"""gemini_np.backend: NumPy by default, CuPy on request, with errors that say how to fix them;
set/get/use_backend, GEMINI_NP_BACKEND, array_namespace, explicit host <-> device moves (also
on array_api_strict's second device), and the helpers that keep caches private.

CuPy itself cannot run here (no GPU), so its *absence* is simulated by making
``import cupy`` fail (both the module cache and the import machinery refuse it), and its
*presence* by a small fake module with CuPy's shape. Both work the same on a machine that
does have CuPy installed, so these tests mean the same thing everywhere.
"""
from __future__ import annotations

import builtins
import sys
import types

import array_api_strict as xps
import numpy as np
import pytest

import gemini_np
from gemini_np import backend
from gemini_np.backend import (
    BackendError,
    array_namespace,
    from_numpy,
    is_array,
    private_copy,
    read_only,
    set_backend,
    to_numpy,
    use_backend,
)

DEVICE1 = xps.Device("device1")


@pytest.fixture(autouse=True)
def _fresh_backend_state(monkeypatch):
    """Each test starts as a fresh process would (nothing chosen yet, no GEMINI_NP_BACKEND)
    and leaves the previous backend behind."""
    saved = (backend._current, backend._device)
    backend._current, backend._device = None, None
    monkeypatch.delenv("GEMINI_NP_BACKEND", raising=False)
    yield
    backend._current, backend._device = saved


@pytest.fixture
def no_cupy(monkeypatch):
    """``import cupy`` raises ImportError even on a machine where CuPy is installed:
    both the module cache and the import machinery refuse it."""
    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "cupy" or name.startswith("cupy."):
            raise ImportError("No module named 'cupy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


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


def test_default_is_numpy():
    assert gemini_np.get_backend() is np
    assert backend.get_device() is None


def test_set_backend_cupy_without_cupy_names_the_pip_command(no_cupy):
    gemini_np.set_backend("numpy")
    with pytest.raises(BackendError) as info:
        set_backend("cupy")
    message = str(info.value)
    assert "CuPy is not installed" in message
    assert "pip install cupy-cuda12x" in message and "pip install cupy-cuda13x" in message
    assert '.[cuda12]' in message
    assert isinstance(info.value, RuntimeError)
    assert gemini_np.get_backend() is np, "a failed switch must leave the old backend in place"


def test_use_backend_cupy_without_cupy_fails_before_the_block_runs(no_cupy):
    ran = False
    with pytest.raises(BackendError, match="pip install cupy-cuda12x"):
        with use_backend("CuPy"):
            ran = True
    assert not ran and gemini_np.get_backend() is np


def test_environment_variable_selects_the_backend(monkeypatch, no_cupy):
    monkeypatch.setenv("GEMINI_NP_BACKEND", "cupy")
    with pytest.raises(BackendError, match="pip install cupy-cuda13x"):
        gemini_np.get_backend()
    monkeypatch.setenv("GEMINI_NP_BACKEND", "numpy")
    assert gemini_np.get_backend() is np
    backend._current = None
    monkeypatch.setenv("GEMINI_NP_BACKEND", "tpu")
    with pytest.raises(ValueError, match="unknown backend 'tpu'"):
        gemini_np.get_backend()
    gemini_np.set_backend("numpy")  # an explicit choice wins over the variable
    assert gemini_np.get_backend() is np
    backend._current = None
    monkeypatch.delenv("GEMINI_NP_BACKEND")
    assert gemini_np.get_backend() is np


@pytest.mark.parametrize("name", ["tensorflow", "", "numpy2", None, 1.0, 3])
def test_unknown_backend_is_a_value_error_naming_the_choices(name):
    with pytest.raises(ValueError, match=r"unknown backend .*choose one of numpy, cupy"):
        set_backend(name)
    with pytest.raises(ValueError):
        with use_backend(name):
            pass  # pragma: no cover - never entered


def test_misplaced_device_and_non_array_modules_are_value_errors():
    with pytest.raises(ValueError, match="only for array-API test namespaces"):
        set_backend("numpy", device="cpu")
    with pytest.raises(ValueError, match="not an array-API namespace"):
        set_backend(types.ModuleType("not_an_array_library"))
    assert set_backend(" NumPy ") is np


def test_set_get_and_nested_use_backend():
    assert gemini_np.set_backend("numpy") is np and gemini_np.get_backend() is np
    with use_backend(xps, device=DEVICE1) as xp:
        assert xp is xps and gemini_np.get_backend() is xps and backend.get_device() == DEVICE1
        with use_backend("numpy") as inner:  # nested blocks restore in order
            assert inner is np and gemini_np.get_backend() is np
        assert gemini_np.get_backend() is xps and backend.get_device() == DEVICE1
    assert gemini_np.get_backend() is np and backend.get_device() is None


def test_use_backend_restores_the_previous_backend_after_an_exception():
    gemini_np.set_backend("numpy")
    with pytest.raises(KeyError):
        with use_backend(xps, device=DEVICE1):
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


def test_array_namespace_and_non_arrays():
    a, b = np.ones(2), xps.ones(2)
    assert array_namespace(a, None, a) is np and array_namespace(b) is xps
    with pytest.raises(TypeError, match=r"different libraries cannot be mixed: array_api_strict, numpy"):
        array_namespace(a, b)
    assert not is_array([1.0, 2.0]) and not is_array(None) and not is_array(1.0)
    assert is_array(np.ones(1)) and is_array(xps.ones(1))
    with pytest.raises(TypeError, match="expected an array .* got list"):
        array_namespace(np.ones(2), [1.0])
    with pytest.raises(TypeError, match="got tuple"):
        array_namespace((1.0, 2.0))
    # the kernels inherit this: a list is refused by name, a NumPy mask with array_api_strict queries too
    with pytest.raises(TypeError, match="must be an array"):
        gemini_np.softmax([1.0, 2.0])
    q = xps.asarray(np.ones((2, 3)))
    with pytest.raises(TypeError, match="cannot be mixed"):
        gemini_np.attention_forward(q, q, q, mask=np.ones((2, 2), dtype=bool))


def test_with_nothing_given_array_namespace_is_the_current_backend():
    assert array_namespace() is np and array_namespace(None) is np


@pytest.mark.parametrize("device", [None, DEVICE1], ids=["default-device", "device1"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_to_numpy_from_numpy_round_trip_on_array_api_strict(device, dtype):
    host = (np.arange(6).reshape(2, 3) % 4).astype(dtype)
    like = xps.ones(1) if device is None else xps.ones(1, device=DEVICE1)
    moved = from_numpy(host, like=like)
    assert array_namespace(moved) is xps and moved.device == like.device
    back = to_numpy(moved)
    assert isinstance(back, np.ndarray) and back.dtype == host.dtype
    np.testing.assert_array_equal(back, host)


def test_from_numpy_targets():
    host = np.array([1.5, 2.5])
    assert array_namespace(from_numpy(host)) is np
    np.testing.assert_array_equal(from_numpy(host, like=np.zeros(1)), host)
    assert array_namespace(from_numpy(host, xp=xps)) is xps
    with use_backend(xps, device=DEVICE1):
        on_device = from_numpy(host)  # the current backend and device
    assert array_namespace(on_device) is xps and on_device.device == DEVICE1
    np.testing.assert_array_equal(to_numpy(on_device), host)


def test_to_numpy_of_numpy_and_scalars():
    x = np.arange(3.0)
    assert to_numpy(x) is x  # no copy for host arrays
    assert to_numpy(2.5).shape == () and to_numpy([1, 2]).tolist() == [1, 2]


def test_device_kwargs():
    assert backend.device_kwargs(np.ones(1)) == {}
    assert backend.device_kwargs(xps.ones(1, device=DEVICE1)) == {"device": DEVICE1}


# --------------------------------------------------------------------------- caches the caller cannot corrupt


@pytest.mark.parametrize("make", [np.ones, lambda shape: xps.ones(shape, device=DEVICE1)], ids=["numpy", "array_api_strict"])
def test_private_copy_is_equal_but_not_shared(make):
    x = make((2, 3))
    copy = private_copy(x)
    assert copy is not x and array_namespace(copy) is array_namespace(x)
    np.testing.assert_array_equal(to_numpy(copy), to_numpy(x))
    x[0, 0] = 5.0
    assert float(to_numpy(copy)[0, 0]) == 1.0


def test_read_only_marks_numpy_arrays_and_leaves_others_alone():
    x = np.ones(3)
    assert read_only(x) is x and not x.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        x /= 2
    y = xps.ones(3)
    assert read_only(y) is y
