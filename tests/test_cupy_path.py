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
from gemini_np.functional.registry import OPS
from test_array_api import RTOL, VARIANTS, assert_close_normwise


@pytest.fixture
def cupy(monkeypatch):
    return fake_cupy.install(monkeypatch)


def _as_tuple(g):
    return g if isinstance(g, tuple) else (g,)


def _host(a, dtype):
    """Float arrays cast to ``dtype``; other arrays and non-arrays (sizes, None) unchanged."""
    return a.astype(dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a


def _to_cupy(cupy, host, dtype):
    host = _host(host, dtype)
    return cupy.asarray(host) if isinstance(host, np.ndarray) else host


def _check_on_cupy(cupy, x, dtype, what):
    assert isinstance(x, cupy.ndarray), f"{what}: left CuPy ({type(x).__module__}.{type(x).__name__})"
    assert array_namespace(x) is cupy
    assert x.dtype == np.dtype(dtype), f"{what}: dtype {x.dtype}, expected {np.dtype(dtype)}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("op", OPS + tuple(VARIANTS), ids=[op.name for op in OPS + tuple(VARIANTS)])
def test_op_on_the_cupy_path(cupy, op, dtype):
    """Every registry entry (and the array-API test's variants) on the stand-in CuPy, against NumPy."""
    example = op.make_example(seed=3)
    arguments = {**example.inputs, **example.static}
    out_np, cache_np = op.forward(**{k: _host(v, dtype) for k, v in arguments.items()})
    dout = np.random.default_rng(4).standard_normal(np.shape(out_np)).astype(dtype)
    grads_np = _as_tuple(op.backward(dout, cache_np))

    out, cache = op.forward(**{k: _to_cupy(cupy, v, dtype) for k, v in arguments.items()})
    grads = _as_tuple(op.backward(cupy.asarray(dout), cache))
    _check_on_cupy(cupy, out, dtype, "forward output")
    assert_close_normwise(to_numpy(out), out_np, dtype, "forward output")
    assert len(grads) == len(grads_np) == len(example.inputs)
    for name, g, g_np in zip(example.inputs, grads, grads_np):
        _check_on_cupy(cupy, g, dtype, f"gradient of {name}")
        assert_close_normwise(to_numpy(g), g_np, dtype, f"gradient of {name}")


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


# --------------------------------------------------------------------------- the model and the training loop


def test_model_training_step_on_the_cupy_path(cupy):
    """The whole model created with use_backend("cupy"), one forward/backward/Adam step: every
    parameter, gradient and output a CuPy array, and the numbers equal to the NumPy run."""
    from gemini_np.functional import bce_with_logits_backward, bce_with_logits_forward
    from gemini_np.model import GeminiModel
    from gemini_np.optim import Adam

    config = dict(vocab_size=11, image_size=4, patch_size=2, channels=3, d_model=8, n_heads=2, d_ff=16, seed=2)
    rng = np.random.default_rng(9)
    tokens = rng.integers(0, 11, size=(3, 5))
    tokens[:, 0] = 1
    images = rng.random((3, 4, 4, 3)).astype(np.float32)
    labels = np.array([1.0, 0.0, 1.0], np.float32)

    def step(put):
        model = GeminiModel(**config, dtype="float32")
        logits = model.forward(put(tokens), put(images))
        loss, cache = bce_with_logits_forward(logits, put(labels))
        model.backward(bce_with_logits_backward(1.0, cache))
        grads = dict(model.grads)
        Adam(lr=1e-2, clip_norm=1.0).step(model.params, model.grads)
        return logits, loss, grads, model.params

    ref = step(lambda a: a)
    with use_backend("cupy"):
        got = step(cupy.asarray)
    for name, g, r in (("logits", got[0], ref[0]), ("loss", got[1], ref[1])):
        _check_on_cupy(cupy, g, np.float32, name)
        assert_close_normwise(to_numpy(g), r, np.float32, name)
    for kind, got_dict, ref_dict in (("grad", got[2], ref[2]), ("updated param", got[3], ref[3])):
        assert set(got_dict) == set(ref_dict)
        for name in ref_dict:
            _check_on_cupy(cupy, got_dict[name], np.float32, f"{kind} {name}")
            assert_close_normwise(to_numpy(got_dict[name]), ref_dict[name], np.float32, f"{kind} {name}")


def test_training_loop_on_the_cupy_path_matches_numpy(cupy):
    from gemini_np.model import ModelConfig
    from gemini_np.train import TrainConfig, train

    config = TrainConfig(samples=48, epochs=2, batch_size=16,
                         model=ModelConfig(d_model=8, n_heads=2, d_ff=16, dtype="float32"))
    reference = train(config, progress=False)
    with use_backend("cupy"):
        result = train(config, progress=False)
        assert result.metrics["backend"] == "cupy"
    assert all(isinstance(p, cupy.ndarray) for p in result.model.params.values())
    for key in ("test_accuracy", "train_accuracy"):
        assert result.metrics[key] == reference.metrics[key]
    for key in ("test_loss", "train_loss"):
        assert abs(result.metrics[key] - reference.metrics[key]) <= RTOL[np.float32] * abs(reference.metrics[key])


# --------------------------------------------------------------------------- the command line and checkpoints


@pytest.fixture
def restore_backend():
    """The CLI's --backend sets the process-wide backend: put it back afterwards."""
    from gemini_np import backend

    saved = (backend._current, backend._device)
    yield
    backend._current, backend._device = saved


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_cli_backend_cupy_without_cupy_is_one_line_and_nonzero(monkeypatch, capsys, restore_backend, how):
    from gemini_np.cli import main

    monkeypatch.setitem(__import__("sys").modules, "cupy", None)  # `import cupy` fails, installed or not
    argv = ["train", "--samples", "8", "--epochs", "1", "--quiet"]
    if how == "flag":
        argv += ["--backend", "cupy"]
    else:
        monkeypatch.setenv("GEMINI_NP_BACKEND", "cupy")
    status = main(argv)
    captured = capsys.readouterr()
    assert status != 0
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error:") and "pip install cupy-cuda12x" in lines[0]
    assert "test accuracy" not in captured.out  # nothing was trained


def test_cli_trains_on_cupy_and_its_checkpoint_is_host_numpy_for_either_backend(cupy, tmp_path, capsys, restore_backend):
    """train --backend cupy (the stand-in), save; the file holds plain NumPy arrays; evaluate loads it
    on NumPy and on CuPy and reproduces the reported test accuracy on both."""
    import json

    from gemini_np.cli import main
    from gemini_np.checkpoint import load_checkpoint

    ckpt, metrics_path = tmp_path / "model.npz", tmp_path / "metrics.json"
    argv = ["train", "--samples", "40", "--epochs", "1", "--batch-size", "20", "--quiet", "--dtype", "float32",
            "--backend", "cupy", "--save", str(ckpt), "--json", str(metrics_path)]
    assert main(argv) == 0
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    assert metrics["backend"] == "cupy"

    with np.load(ckpt, allow_pickle=False) as stored:  # no pickles, no CuPy objects: host arrays only
        params = {k: stored[k] for k in stored.files if k != "__config__"}
    assert params and all(type(v) is np.ndarray and v.dtype == np.float32 for v in params.values())

    for name in ("numpy", "cupy"):
        with use_backend(name):
            model, _ = load_checkpoint(ckpt)
        assert all(isinstance(p, cupy.ndarray) == (name == "cupy") for p in model.params.values())
        for key, value in model.params.items():
            np.testing.assert_array_equal(to_numpy(value), params[key])
        out_json = tmp_path / f"eval_{name}.json"
        capsys.readouterr()
        assert main(["evaluate", str(ckpt), "--backend", name, "--json", str(out_json)]) == 0
        evaluated = json.loads(out_json.read_text(encoding="utf-8"))
        assert evaluated["test_accuracy"] == metrics["test_accuracy"]
