"""backend.py, the contract of issue 2 item 4 (complements tests/test_backend.py, which
simulates CuPy's presence): NumPy by default; set/get/use_backend; unknown names; CuPy
absent -> BackendError naming the `pip install` fix; GEMINI_NP_BACKEND; array_namespace;
to_numpy / from_numpy round trips, also on array_api_strict's second device."""
import builtins

import numpy as np
import pytest

import gemini_np as gnp
from gemini_np import backend

xps = pytest.importorskip("array_api_strict")
DEVICE1 = xps.Device("device1")


@pytest.fixture(autouse=True)
def _fresh_backend_state():
    """Each test starts as a fresh process would (nothing chosen yet) and leaves NumPy behind."""
    saved = (backend._current, backend._device)
    backend._current, backend._device = None, None
    yield
    backend._current, backend._device = saved


@pytest.fixture
def cupy_import_fails(monkeypatch):
    """`import cupy` raises ImportError even on a machine where CuPy is installed:
    both the module cache and the import machinery refuse it."""
    monkeypatch.delitem(__import__("sys").modules, "cupy", raising=False)
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "cupy" or name.startswith("cupy."):
            raise ImportError("No module named 'cupy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_default_is_numpy(monkeypatch):
    monkeypatch.delenv("GEMINI_NP_BACKEND", raising=False)
    assert gnp.get_backend() is np
    assert backend.get_device() is None


def test_set_get_and_use_backend(monkeypatch):
    monkeypatch.delenv("GEMINI_NP_BACKEND", raising=False)
    assert gnp.set_backend("numpy") is np and gnp.get_backend() is np
    with gnp.use_backend(xps, device=DEVICE1) as xp:
        assert xp is xps and gnp.get_backend() is xps and backend.get_device() == DEVICE1
        with gnp.use_backend("numpy") as inner:  # nested blocks restore in order
            assert inner is np and gnp.get_backend() is np
        assert gnp.get_backend() is xps and backend.get_device() == DEVICE1
    assert gnp.get_backend() is np and backend.get_device() is None


def test_use_backend_restores_on_exception():
    gnp.set_backend("numpy")
    with pytest.raises(ZeroDivisionError):
        with gnp.use_backend(xps):
            assert gnp.get_backend() is xps
            1 / 0
    assert gnp.get_backend() is np


@pytest.mark.parametrize("name", ["tensorflow", "", "numpy2", None, 1.0])
def test_unknown_backend_is_a_value_error_naming_the_choices(name):
    with pytest.raises(ValueError, match=r"unknown backend .*choose one of numpy, cupy"):
        gnp.set_backend(name)
    with pytest.raises(ValueError):
        with gnp.use_backend(name):
            pass  # pragma: no cover - never entered


def test_cupy_absent_raises_backend_error_with_the_pip_command(cupy_import_fails):
    gnp.set_backend("numpy")
    with pytest.raises(gnp.BackendError, match=r"CuPy is not installed.*pip install cupy-cuda12x") as info:
        gnp.set_backend("cupy")
    assert "pip install" in str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert gnp.get_backend() is np, "the failed switch left the old backend in place"
    with pytest.raises(gnp.BackendError, match="pip install"):
        with gnp.use_backend("CuPy"):
            pass  # pragma: no cover - never entered
    assert gnp.get_backend() is np


def test_environment_variable(monkeypatch, cupy_import_fails):
    monkeypatch.setenv("GEMINI_NP_BACKEND", "numpy")
    assert gnp.get_backend() is np
    backend._current = None
    monkeypatch.setenv("GEMINI_NP_BACKEND", "cupy")
    with pytest.raises(gnp.BackendError, match="pip install"):
        gnp.get_backend()
    backend._current = None
    monkeypatch.setenv("GEMINI_NP_BACKEND", "jax")
    with pytest.raises(ValueError, match="'jax'"):
        gnp.get_backend()
    gnp.set_backend("numpy")  # an explicit choice wins over the variable
    assert gnp.get_backend() is np


def test_array_namespace():
    a, b = np.ones(2), xps.ones(2)
    assert gnp.array_namespace(a, None, a) is np
    assert gnp.array_namespace(b) is xps
    with pytest.raises(TypeError, match=r"different libraries cannot be mixed: array_api_strict, numpy"):
        gnp.array_namespace(a, b)
    with pytest.raises(TypeError, match="got tuple"):
        gnp.array_namespace((1.0, 2.0))
    # the kernels inherit this: a NumPy mask with array_api_strict queries is refused
    q = xps.asarray(np.ones((2, 3)))
    with pytest.raises(TypeError, match="cannot be mixed"):
        gnp.attention_forward(q, q, q, mask=np.ones((2, 2), dtype=bool))


@pytest.mark.parametrize("device", [None, DEVICE1], ids=["default-device", "device1"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_to_numpy_from_numpy_round_trip_on_array_api_strict(device, dtype):
    host = (np.arange(6).reshape(2, 3) % 4).astype(dtype)
    like = xps.ones(1) if device is None else xps.ones(1, device=DEVICE1)
    moved = gnp.from_numpy(host, like=like)
    assert gnp.array_namespace(moved) is xps and moved.device == like.device
    back = gnp.to_numpy(moved)
    assert isinstance(back, np.ndarray) and back.dtype == host.dtype
    np.testing.assert_array_equal(back, host)


def test_from_numpy_targets():
    host = np.array([1.5, 2.5])
    assert gnp.from_numpy(host) is not None and gnp.array_namespace(gnp.from_numpy(host)) is np
    np.testing.assert_array_equal(gnp.from_numpy(host, like=np.zeros(1)), host)
    assert gnp.array_namespace(gnp.from_numpy(host, xp=xps)) is xps
    with gnp.use_backend(xps, device=DEVICE1):
        on_device = gnp.from_numpy(host)  # the current backend and device
    assert gnp.array_namespace(on_device) is xps and on_device.device == DEVICE1
    np.testing.assert_array_equal(gnp.to_numpy(on_device), host)


def test_to_numpy_of_numpy_and_scalars():
    x = np.arange(3.0)
    assert gnp.to_numpy(x) is x  # no copy for host arrays
    assert gnp.to_numpy(2.0).shape == () and gnp.to_numpy([1, 2]).tolist() == [1, 2]


def test_device_kwargs_and_is_array():
    assert backend.device_kwargs(np.ones(1)) == {}
    assert backend.device_kwargs(xps.ones(1, device=DEVICE1)) == {"device": DEVICE1}
    assert backend.is_array(np.ones(1)) and backend.is_array(xps.ones(1))
    assert not backend.is_array([1.0]) and not backend.is_array(1.0)
