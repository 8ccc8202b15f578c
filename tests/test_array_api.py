"""Every kernel on ``array_api_strict`` arrays: the CPU-only proof that the CuPy path works.

``array_api_strict`` is a deliberately minimal array-API library. Running the
kernels on it catches exactly the mistakes that would break them on a GPU:

* a NumPy function applied to an array, or a hidden ``numpy.asarray``: on the
  non-default device ``device1`` any conversion to NumPy raises;
* an array created on the wrong device (``xp.zeros(...)`` without
  ``device=``): mixing devices raises;
* a silent float64 intermediate in a float32 path: the ``no_float64`` device
  refuses to hold a float64 array at all;
* a name outside the standard (``np.einsum``, ``x.T`` on a 3-d array, ...):
  the namespace simply does not have it.

Every entry of the op registry (``gemini_np.functional.registry.OPS``) runs
forward and backward on NumPy and on array_api_strict (float32 and float64,
default device and ``device1``; float32 also on ``no_float64``): its inputs and its
static arrays (masks, ids, labels) move to the device, float ones cast to the
dtype. Every result must be an array of the input's library, device and dtype,
and equal the NumPy result. A new op gets all of this from its registry entry.
"""
from __future__ import annotations

import array_api_strict as xps
import numpy as np
import pytest

import gemini_np.functional as F
from gemini_np.backend import array_namespace, device_kwargs, from_numpy, to_numpy, use_backend
from gemini_np.functional.registry import OPS, Example, OpSpec

CPU = xps.Device("CPU_DEVICE")
DEVICE1 = xps.Device("device1")
try:  # a device that cannot hold float64 at all (newer array-api-strict releases)
    NO_FLOAT64 = xps.Device("no_float64")
except ValueError:
    NO_FLOAT64 = None
_NO_F64_SKIP = pytest.mark.skipif(NO_FLOAT64 is None, reason=f"array-api-strict {xps.__version__} has no 'no_float64' device")

#: (dtype, device) combinations. float64 cannot live on ``no_float64``.
PLACES = [
    pytest.param(np.float64, CPU, id="float64-default"),
    pytest.param(np.float64, DEVICE1, id="float64-device1"),
    pytest.param(np.float32, CPU, id="float32-default"),
    pytest.param(np.float32, DEVICE1, id="float32-device1"),
    pytest.param(np.float32, NO_FLOAT64, id="float32-no_float64", marks=_NO_F64_SKIP),
]

#: Normwise tolerance against the NumPy result: max|a − b| ≤ rtol · max|b| (+ a tiny floor).
#: array_api_strict wraps NumPy, so the portable path gives the same numbers up to summation
#: order; NumPy-only fast paths (guarded by ``xp is numpy``) may round differently, by a
#: few units in the last place times the length of a sum (≤ 16 here).
RTOL = {np.float64: 1e-10, np.float32: 1e-5}


# --------------------------------------------------------------------------- helpers


def _host(a, dtype):
    """A host array with float arrays cast to ``dtype``; anything else (ints, sizes, None) unchanged."""
    if isinstance(a, np.ndarray) and a.dtype.kind == "f":
        return a.astype(dtype)
    return a


def _move(a, dtype, device):
    """A host array onto array_api_strict's ``device`` (float arrays cast to ``dtype`` first); non-arrays unchanged."""
    a = _host(a, dtype)
    return xps.asarray(a, device=device) if isinstance(a, np.ndarray) else a


def _as_tuple(g):
    return g if isinstance(g, tuple) else (g,)


def assert_same_place(x, device, dtype, what):
    """x is an array_api_strict array on ``device`` with the float ``dtype``."""
    assert array_namespace(x) is xps, f"{what}: left the array library ({type(x).__module__})"
    assert x.device == device, f"{what}: on {x.device}, expected {device}"
    assert str(x.dtype).endswith(np.dtype(dtype).name), f"{what}: dtype {x.dtype}, expected {np.dtype(dtype).name}"


def assert_close_normwise(actual, expected, dtype, what):
    actual = np.asarray(to_numpy(actual), dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert np.all(np.isfinite(actual)) == np.all(np.isfinite(expected)), f"{what}: finiteness differs"
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-30)
    err = float(np.max(np.abs(actual - expected), initial=0.0))
    assert err <= RTOL[dtype] * scale + 1e-30, f"{what}: max|diff| {err:.3g} > {RTOL[dtype]:g} · max|ref| {scale:.3g}"


def run_op(op, example: Example, dtype, device, seed=0):
    """Forward + backward of one registry entry on NumPy and on array_api_strict; compare everything."""
    arguments = {**example.inputs, **example.static}
    out_np, cache_np = op.forward(**{k: _host(v, dtype) for k, v in arguments.items()})
    dout = np.random.default_rng(seed).standard_normal(np.shape(out_np)).astype(dtype)
    grads_np = _as_tuple(op.backward(dout, cache_np))

    out, cache = op.forward(**{k: _move(v, dtype, device) for k, v in arguments.items()})
    grads = _as_tuple(op.backward(xps.asarray(dout, device=device), cache))

    assert_same_place(out, device, dtype, "forward output")
    assert_close_normwise(out, out_np, dtype, "forward output")
    weights = getattr(cache, "weights", None)
    if weights is not None:
        assert_same_place(weights, device, dtype, "cache.weights")
        assert_close_normwise(weights, cache_np.weights, dtype, "cache.weights")
    assert len(grads) == len(grads_np) == len(example.inputs)
    for name, g, g_np in zip(example.inputs, grads, grads_np):
        assert_same_place(g, device, dtype, f"gradient of {name}")
        assert_close_normwise(g, g_np, dtype, f"gradient of {name}")
    return out, grads


# --------------------------------------------------------------------------- every op of the registry


@pytest.mark.parametrize("dtype, device", PLACES)
@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
def test_op_on_array_api_strict(op, dtype, device):
    run_op(op, op.make_example(), dtype, device)


def _softmax_axis0_forward(x):
    y = F.softmax(x, axis=0)
    return y, y


#: Variants the registry does not hold: other code paths of the same public ops.
VARIANTS = [
    OpSpec("softmax over axis 0, large logits", _softmax_axis0_forward, lambda dy, y: F.softmax_backward(dy, y, axis=0),
           lambda rng, s: Example({"x": rng.standard_normal((3, 4, 5)) * 30.0}), (F.softmax, F.softmax_backward)),
    OpSpec("embedding without a padding id", F.embedding_forward, F.embedding_backward,
           lambda rng, s: Example({"table": rng.standard_normal((5, 3))},
                                  {"ids": np.array([1, 1, 0, 4, 1]), "padding_id": None}),
           (F.embedding_forward, F.embedding_backward)),
    OpSpec("masked mean without a mask", F.masked_mean_forward, F.masked_mean_backward,
           lambda rng, s: Example({"x": rng.standard_normal((2, 4, 3))}), (F.masked_mean_forward, F.masked_mean_backward)),
    OpSpec("attention, one bool mask per batch", F.attention_forward, F.attention_backward,
           lambda rng, s: Example({"q": rng.standard_normal((2, 5, 4)), "k": rng.standard_normal((2, 7, 4)),
                                   "v": rng.standard_normal((2, 7, 3))}, {"mask": rng.random((2, 1, 7)) < 0.6}),
           (F.attention_forward, F.attention_backward)),
]


@pytest.mark.parametrize("dtype, device", PLACES)
@pytest.mark.parametrize("op", VARIANTS, ids=[op.name for op in VARIANTS])
def test_variant_on_array_api_strict(op, dtype, device):
    run_op(op, op.make_example(), dtype, device)


# --------------------------------------------------------------------------- targeted checks


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fully_masked_rows_are_zero_not_nan_on_device1(dtype):
    rng = np.random.default_rng(1)
    mask = np.ones((5, 7), dtype=bool)
    mask[2] = False
    inputs = {"q": rng.standard_normal((2, 5, 4)), "k": rng.standard_normal((2, 7, 4)), "v": rng.standard_normal((2, 7, 3))}
    attention = next(op for op in OPS if op.name == "attention")
    out, (dq, dk, dv) = run_op(attention, Example(inputs, {"mask": mask}), dtype, DEVICE1)
    out, dq = to_numpy(out), to_numpy(dq)
    assert np.all(out[:, 2] == 0) and np.all(dq[:, 2] == 0)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(dq))


def test_bce_backward_with_a_0d_device_array_as_upstream_gradient():
    rng = np.random.default_rng(2)
    logits = xps.asarray(rng.standard_normal(6).astype(np.float32), device=DEVICE1)
    labels = xps.asarray((rng.random(6) < 0.5).astype(np.float32), device=DEVICE1)
    loss, cache = F.bce_with_logits_forward(logits, labels)
    assert_same_place(loss, DEVICE1, np.float32, "loss")
    dlogits = F.bce_with_logits_backward(xps.asarray(2.0, dtype=xps.float32, device=DEVICE1), cache)
    assert_same_place(dlogits, DEVICE1, np.float32, "dlogits")
    expected = F.bce_with_logits_backward(2.0, F.bce_with_logits_forward(to_numpy(logits), to_numpy(labels))[1])
    assert_close_normwise(dlogits, expected, np.float32, "dlogits")


def test_numpy_scalar_hyperparameters_do_not_upcast_float32():
    """NumPy 2 promotes float32 arrays with np.float64 *scalars* to float64: the kernels must not."""
    x = np.ones((2, 3), np.float32)
    g = np.ones(3, np.float32)
    assert F.layer_norm_forward(x, g, g, eps=np.float64(1e-5))[0].dtype == np.float32
    _, cache = F.bce_with_logits_forward(x, x)
    assert F.bce_with_logits_backward(np.float64(1.0), cache).dtype == np.float32
    assert F.attention_forward(x, x, x, scale=np.float64(0.5))[0].dtype == np.float32


def test_mixing_libraries_or_devices_is_an_error_not_a_silent_copy():
    q = xps.asarray(np.ones((3, 2)), device=DEVICE1)
    with pytest.raises(TypeError, match="different libraries"):
        F.attention_forward(q, q, q, mask=np.ones((3, 3), dtype=bool))  # NumPy mask, array-API queries
    with pytest.raises(ValueError, match="device"):
        F.attention_forward(q, q, q, mask=xps.asarray(np.ones((3, 3), dtype=bool)))  # mask on another device


def test_embedding_backward_scatter_add_matches_a_loop_on_device1():
    """The one-hot scatter-add equals an explicit loop (repeated ids add up, padding gets nothing)."""
    rng = np.random.default_rng(3)
    ids = np.array([[1, 1, 1, 0], [3, 1, 0, 0]])
    table = rng.standard_normal((5, 2))
    dout = rng.standard_normal((2, 4, 2))
    _, cache = F.embedding_forward(xps.asarray(ids, device=DEVICE1), xps.asarray(table, device=DEVICE1))
    dtable = F.embedding_backward(xps.asarray(dout, device=DEVICE1), cache)
    expected = np.zeros_like(table)
    for pos in np.ndindex(ids.shape):
        if ids[pos] != 0:
            expected[ids[pos]] += dout[pos]
    assert_same_place(dtable, DEVICE1, np.float64, "dtable")
    np.testing.assert_allclose(to_numpy(dtable), expected, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- backend helpers on device1


def test_host_device_moves_are_explicit_and_land_on_the_right_device():
    host = np.arange(6.0).reshape(2, 3)
    like = xps.asarray(np.zeros(1), device=DEVICE1)
    x = from_numpy(host, like=like)
    assert array_namespace(x) is xps and x.device == DEVICE1
    with pytest.raises(RuntimeError):
        np.asarray(x)  # the property the whole matrix relies on: no silent host conversion
    back = to_numpy(x)
    assert isinstance(back, np.ndarray)
    np.testing.assert_array_equal(back, host)
    assert device_kwargs(x) == {"device": DEVICE1}
    assert device_kwargs(host) == {}


def test_no_module_asks_for_array_namespace_directly():
    """CuPy arrays (CuPy 14) have no ``__array_namespace__``: a check like
    ``hasattr(x, "__array_namespace__")`` rejects every GPU array. Use
    ``gemini_np.backend.is_array`` / ``array_namespace``, which know about CuPy."""
    import pathlib

    import gemini_np

    package = pathlib.Path(gemini_np.__file__).parent
    offenders = [
        f"{path.relative_to(package.parent)}:{number}"
        for path in sorted(package.rglob("*.py"))
        if path.name != "backend.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "__array_namespace__" in line and not line.lstrip().startswith("#")
    ]
    assert not offenders, f"use backend.is_array instead of __array_namespace__ at {offenders}"


# --------------------------------------------------------------------------- modules, model, optimizer


def _build(factory, dtype, device):
    """factory(dtype) built on NumPy, and again directly on array_api_strict's ``device``
    (its parameters drawn on the host from the same seed and moved there by the backend)."""
    reference = factory(np.dtype(dtype).name)
    with use_backend(xps, device=device):
        on_device = factory(np.dtype(dtype).name)
    for name, p in on_device.params.items():
        assert_same_place(p, device, dtype, f"parameter {name}")
        np.testing.assert_array_equal(to_numpy(p), reference.params[name])
    return reference, on_device


def _compare_params_and_grads(reference, on_device, dtype, device, what):
    assert set(on_device.grads) == set(reference.grads)
    for name in reference.grads:
        assert_same_place(on_device.grads[name], device, dtype, f"{what} grad {name}")
        assert_close_normwise(on_device.grads[name], to_numpy(reference.grads[name]), dtype, f"{what} grad {name}")


@pytest.mark.parametrize("dtype, device", PLACES)
def test_multi_head_attention_module_on_array_api_strict(dtype, device):
    from gemini_np.nn import MultiHeadSelfAttention

    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 6, 8)).astype(dtype)
    key_mask = np.array([[True] * 6, [True, True, True, False, False, False]])
    dy = rng.standard_normal((2, 6, 8)).astype(dtype)
    reference, module = _build(lambda dt: MultiHeadSelfAttention(8, 2, rng=1, dtype=dt), dtype, device)
    y_ref = reference.forward(x, key_mask)
    dx_ref = reference.backward(dy)
    y = module.forward(xps.asarray(x, device=device), xps.asarray(key_mask, device=device))
    dx = module.backward(xps.asarray(dy, device=device))
    for got, ref, what in ((y, y_ref, "y"), (dx, dx_ref, "dx"), (module.weights, reference.weights, "weights")):
        assert_same_place(got, device, dtype, what)
        assert_close_normwise(got, ref, dtype, what)
    _compare_params_and_grads(reference, module, dtype, device, "attention")


def _model_batch(rng, vocab_size, image_size, channels, dtype):
    tokens = rng.integers(1, vocab_size, size=(3, 5))
    tokens[:, -2:] = 0  # padding
    tokens[2, 1:] = 0  # a caption that is one token and padding
    images = rng.random((3, image_size, image_size, channels)).astype(dtype)
    labels = np.array([1.0, 0.0, 1.0], dtype=dtype)
    return tokens, images, labels


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("dtype, device", PLACES)
def test_gemini_model_training_step_on_array_api_strict(dtype, device, optimizer):
    """Forward, BCE loss, backward and one optimizer update of the whole model, created
    directly on the device; every array stays there, in the model's dtype, and equals NumPy."""
    from gemini_np.model import GeminiModel
    from gemini_np.optim import SGD, Adam

    config = dict(vocab_size=11, image_size=4, patch_size=2, channels=3, d_model=8, n_heads=2, d_ff=16, seed=7)
    make_optimizer = {"sgd": lambda: SGD(lr=0.1, momentum=0.9), "adam": lambda: Adam(lr=1e-2)}[optimizer]
    tokens, images, labels = _model_batch(np.random.default_rng(8), 11, 4, 3, dtype)
    reference, model = _build(lambda dt: GeminiModel(**config, dtype=dt), dtype, device)

    def step(m, put):
        logits = m.forward(put(tokens), put(images))
        loss, cache = F.bce_with_logits_forward(logits, put(labels))
        dimages = m.backward(F.bce_with_logits_backward(1.0, cache))
        make_optimizer().step(m.params, m.grads)
        return logits, loss, dimages

    results_ref = step(reference, lambda a: a)
    results = step(model, lambda a: xps.asarray(a, device=device))
    for got, ref, what in zip(results, results_ref, ("logits", "loss", "d images")):
        assert_same_place(got, device, dtype, what)
        assert_close_normwise(got, ref, dtype, what)
    _compare_params_and_grads(reference, model, dtype, device, "model")
    for name, p in model.params.items():  # after the update
        assert_same_place(p, device, dtype, f"updated {name}")
        assert_close_normwise(p, reference.params[name], dtype, f"updated {name}")
    for kind, maps in model.attention_maps.items():
        for w in maps:
            assert_same_place(w, device, dtype, f"{kind} attention map")


def test_training_loop_on_device1_matches_numpy():
    """gemini_np.train end to end (batching with take, loss logging, evaluation) on device1."""
    from gemini_np.model import ModelConfig
    from gemini_np.train import TrainConfig, train

    config = TrainConfig(samples=48, epochs=1, batch_size=16,
                         model=ModelConfig(d_model=8, n_heads=2, d_ff=16, dtype="float32"))
    reference = train(config, progress=False)
    with use_backend(xps, device=DEVICE1):
        result = train(config, progress=False)
    for name, p in result.model.params.items():
        assert_same_place(p, DEVICE1, np.float32, f"trained {name}")
        assert_close_normwise(p, to_numpy(reference.model.params[name]), np.float32, f"trained {name}")
    assert result.metrics["test_accuracy"] == reference.metrics["test_accuracy"]


def test_checkpoint_is_host_numpy_and_loads_onto_device1(tmp_path):
    """save_checkpoint converts explicitly to host NumPy (a device1 array would refuse a hidden
    conversion); load_checkpoint puts every parameter on the current backend and device."""
    from gemini_np.checkpoint import load_checkpoint, save_checkpoint
    from gemini_np.model import GeminiModel

    config = dict(vocab_size=11, image_size=4, patch_size=2, channels=3, d_model=8, n_heads=2, d_ff=16, seed=4)
    with use_backend(xps, device=DEVICE1):
        model = GeminiModel(**config)
    path = save_checkpoint(tmp_path / "m.npz", model)
    with np.load(path, allow_pickle=False) as stored:
        assert all(type(stored[k]) is np.ndarray for k in stored.files)
    with use_backend(xps, device=DEVICE1):
        loaded, info = load_checkpoint(path)
    assert info["model"]["seed"] == 4
    tokens, images, _ = _model_batch(np.random.default_rng(6), 11, 4, 3, np.float64)
    for name, p in loaded.params.items():
        assert_same_place(p, DEVICE1, np.float64, f"loaded {name}")
    host_model, _ = load_checkpoint(path)
    logits = loaded.forward(xps.asarray(tokens, device=DEVICE1), xps.asarray(images, device=DEVICE1))
    assert_same_place(logits, DEVICE1, np.float64, "logits")
    assert_close_normwise(logits, host_model.forward(tokens, images), np.float64, "logits")
