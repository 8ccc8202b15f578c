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

Each case runs forward and backward on NumPy and on array_api_strict (float32
and float64, default device and ``device1``; float32 also on ``no_float64``),
asserts every result is an array of the input's library, device and dtype, and
compares the values with the NumPy results.
"""
from __future__ import annotations

import inspect
import sys
import zlib
from typing import Callable, NamedTuple

import array_api_strict as xps
import numpy as np
import pytest

import gemini_np.functional as F
from gemini_np.backend import array_namespace, device_kwargs, from_numpy, to_numpy, use_backend

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


class Case(NamedTuple):
    forward: Callable  # forward(**inputs) -> (out, cache)
    backward: Callable  # backward(dout, cache) -> grad or tuple of grads
    inputs: dict  # name -> host NumPy array (float arrays in float64; cast per dtype)


# --------------------------------------------------------------------------- helpers


def _move(a, dtype, device):
    """A host array onto array_api_strict's ``device``; float arrays cast to ``dtype`` first."""
    if a is None:
        return None
    a = np.asarray(a)
    if a.dtype.kind == "f":
        a = a.astype(dtype)
    return xps.asarray(a, device=device)


def _host(a, dtype):
    if a is None:
        return None
    a = np.asarray(a)
    return a.astype(dtype) if a.dtype.kind == "f" else a


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


def run_case(case: Case, dtype, device, seed=0):
    """Forward + backward on NumPy and on array_api_strict; compare everything."""
    rng = np.random.default_rng(seed)
    np_inputs = {k: _host(v, dtype) for k, v in case.inputs.items()}
    out_np, cache_np = case.forward(**np_inputs)
    dout = rng.standard_normal(np.shape(out_np)).astype(dtype)
    grads_np = _as_tuple(case.backward(dout, cache_np))

    xp_inputs = {k: _move(v, dtype, device) for k, v in case.inputs.items()}
    out, cache = case.forward(**xp_inputs)
    grads = _as_tuple(case.backward(_move(dout, dtype, device), cache))

    assert_same_place(out, device, dtype, "forward output")
    assert_close_normwise(out, out_np, dtype, "forward output")
    weights = getattr(cache, "weights", None)
    if weights is not None:
        assert_same_place(weights, device, dtype, "cache.weights")
        assert_close_normwise(weights, cache_np.weights, dtype, "cache.weights")
    assert len(grads) == len(grads_np)
    for i, (g, g_np) in enumerate(zip(grads, grads_np)):
        if g_np is None:
            assert g is None, f"gradient {i}: expected None"
            continue
        assert_same_place(g, device, dtype, f"gradient {i}")
        assert_close_normwise(g, g_np, dtype, f"gradient {i}")
    return out, grads


# --------------------------------------------------------------------------- the cases


def _randn(rng, *shape):
    return rng.standard_normal(shape)


def _attention_case(rng, mask=None, scale=None, **kwargs):
    q, k, v = _randn(rng, 2, 5, 4), _randn(rng, 2, 7, 4), _randn(rng, 2, 7, 3)
    return Case(
        lambda q, k, v, mask: F.attention_forward(q, k, v, mask=mask, scale=scale, **kwargs),
        F.attention_backward,
        {"q": q, "k": k, "v": v, "mask": mask},
    )


def _bool_mask(rng, shape, full_row=True):
    """Random keep-mask with every row valid, except (when asked) one fully masked row."""
    mask = rng.random(shape) < 0.6
    mask[..., 0] = True
    if full_row:
        mask[..., 1, :] = False  # query 1 may attend to nothing: zero output, zero gradients
    return mask


def _float_mask(rng, shape):
    mask = np.where(rng.random(shape) < 0.7, rng.standard_normal(shape), -np.inf)
    mask[..., 0] = 0.0
    mask[..., 2, :] = -np.inf  # a fully masked row through the float path
    return mask


def case_softmax(rng):
    return Case(lambda x: (y := F.softmax(x, axis=-1), y), lambda dy, y: F.softmax_backward(dy, y), {"x": _randn(rng, 3, 4, 5)})


def case_softmax_axis0(rng):
    return Case(
        lambda x: (y := F.softmax(x, axis=0), y),
        lambda dy, y: F.softmax_backward(dy, y, axis=0),
        {"x": _randn(rng, 3, 4, 5) * 30.0},  # large logits: exercises the max subtraction
    )


def case_attention_plain(rng):
    return _attention_case(rng)


def case_attention_bool_mask(rng):
    return _attention_case(rng, mask=_bool_mask(rng, (5, 7)))


def case_attention_float_mask(rng):
    return _attention_case(rng, mask=_float_mask(rng, (1, 5, 7)), scale=0.3)  # broadcasts over the batch


def case_attention_batched_mask(rng):
    return _attention_case(rng, mask=_bool_mask(rng, (2, 5, 7)))


def case_fusion(rng):
    shapes = {"q_text": (2, 5, 4), "k_text": (2, 7, 4), "q_image": (2, 5, 3), "k_image": (2, 7, 3), "v": (2, 7, 6)}
    inputs = {name: _randn(rng, *s) for name, s in shapes.items()}
    inputs["mask"] = _bool_mask(rng, (2, 5, 7))
    return Case(F.fusion_attention_forward, F.fusion_attention_backward, inputs)


def case_patch_attention(rng):
    return Case(
        lambda q, k, v: F.patch_attention_forward(q, k, v, patch_size=2),
        F.patch_attention_backward,
        {"q": _randn(rng, 2, 4, 6, 3), "k": _randn(rng, 2, 4, 6, 3), "v": _randn(rng, 2, 4, 6, 5)},
    )


def case_patchify(rng):
    # forward = patchify, backward = unpatchify (its exact adjoint: a pure rearrangement)
    return Case(lambda x: (F.patchify(x, 3), None), lambda dy, _: F.unpatchify(dy, 3), {"x": _randn(rng, 2, 6, 9, 4)})


def case_linear(rng):
    return Case(F.linear_forward, F.linear_backward, {"x": _randn(rng, 2, 3, 4), "w": _randn(rng, 4, 5), "b": _randn(rng, 5)})


def case_linear_no_bias(rng):
    return Case(lambda x, w: F.linear_forward(x, w), F.linear_backward, {"x": _randn(rng, 6, 4), "w": _randn(rng, 4, 2)})


def case_grouped_linear(rng):
    inputs = {"x": _randn(rng, 2, 3, 4, 5), "w": _randn(rng, 4, 5, 3), "b": _randn(rng, 3)}
    return Case(F.grouped_linear_forward, F.grouped_linear_backward, inputs)


def case_layer_norm(rng):
    return Case(
        F.layer_norm_forward,
        F.layer_norm_backward,
        {"x": _randn(rng, 2, 3, 8) * 3 + 1, "gamma": _randn(rng, 8), "beta": _randn(rng, 8)},
    )


def case_relu(rng):
    return Case(F.relu_forward, F.relu_backward, {"x": _randn(rng, 3, 7)})


def case_gelu(rng):
    return Case(F.gelu_forward, F.gelu_backward, {"x": _randn(rng, 3, 7) * 3})


def case_embedding_padding(rng):
    ids = np.array([[0, 3, 3, 1, 0], [2, 2, 2, 0, 4]])  # repeated ids: the scatter-add must add, padding 0 twice
    return Case(F.embedding_forward, F.embedding_backward, {"ids": ids, "table": _randn(rng, 5, 6)})


def case_embedding_no_padding(rng):
    ids = np.array([1, 1, 0, 4, 1])
    return Case(lambda ids, table: F.embedding_forward(ids, table, padding_id=None), F.embedding_backward, {"ids": ids, "table": _randn(rng, 5, 3)})


def case_masked_mean(rng):
    mask = np.array([[True, True, False, True], [False, False, False, False], [True, False, False, False]])  # row 1 empty
    return Case(F.masked_mean_forward, F.masked_mean_backward, {"x": _randn(rng, 3, 4, 5), "mask": mask})


def case_masked_mean_no_mask(rng):
    return Case(lambda x: F.masked_mean_forward(x), F.masked_mean_backward, {"x": _randn(rng, 2, 4, 3)})


def case_bce(rng):
    labels = (rng.random(8) < 0.5).astype(np.float64)
    logits = _randn(rng, 8) * 5
    logits[0], logits[1] = 1e3, -1e3  # the stable form must not overflow
    # dout of a 0-d loss: a 0-d array on the device; the backward must keep it there
    return Case(F.bce_with_logits_forward, F.bce_with_logits_backward, {"logits": logits, "labels": labels})


def case_sigmoid(rng):
    z = _randn(rng, 4, 5) * 10
    return Case(lambda z: (s := F.sigmoid(z), s), lambda ds, s: ds * s * (1.0 - s), {"z": z})


CASES = {name[len("case_"):]: fn for name, fn in sorted(globals().items()) if name.startswith("case_")}


def _has_block_size() -> bool:
    return "block_size" in inspect.signature(F.attention_forward).parameters


def _blocked_cases():
    """The memory-efficient path (``block_size=``), when the kernel has it."""
    if not _has_block_size():
        return {}
    return {
        "attention_blocked": lambda rng: _attention_case(rng, block_size=3),
        "attention_blocked_bool_mask": lambda rng: _attention_case(rng, mask=_bool_mask(rng, (5, 7)), block_size=2),
        "attention_blocked_float_mask": lambda rng: _attention_case(rng, mask=_float_mask(rng, (5, 7)), block_size=4),
    }


CASES.update(_blocked_cases())


@pytest.mark.parametrize("dtype, device", PLACES)
@pytest.mark.parametrize("name", sorted(CASES))
def test_op_on_array_api_strict(name, dtype, device):
    run_case(CASES[name](np.random.default_rng(zlib.crc32(name.encode()))), dtype, device)


def test_the_case_list_covers_every_public_functional_op():
    """A new kernel in gemini_np.functional must get a case here (forward names, minus helpers)."""
    covered = inspect.getsource(sys.modules[__name__])
    public = [n for n in F.__all__ if n[0].islower()]
    missing = [n for n in public if f"F.{n}" not in covered]
    assert not missing, f"ops without an array-API case: {missing}"


def test_blocked_path_is_covered_when_it_exists():
    if _has_block_size():
        assert any("blocked" in name for name in CASES)


# --------------------------------------------------------------------------- targeted checks


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fully_masked_rows_are_zero_not_nan_on_device1(dtype):
    rng = np.random.default_rng(1)
    mask = np.ones((5, 7), dtype=bool)
    mask[2] = False
    case = _attention_case(rng, mask=mask)
    out, (dq, dk, dv) = run_case(case, dtype, DEVICE1)
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


def test_use_backend_with_an_array_api_module_and_device():
    with use_backend(xps, device=DEVICE1) as xp:
        assert xp is xps
        x = from_numpy(np.ones(3))
        assert array_namespace(x) is xps and x.device == DEVICE1
    assert array_namespace(from_numpy(np.ones(3))) is np


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
    from gemini_np.train import TrainConfig, train

    config = TrainConfig(samples=48, epochs=1, batch_size=16, d_model=8, n_heads=2, d_ff=16, dtype="float32")
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
