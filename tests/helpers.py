"""Inputs, comparisons and the one finite-difference check shared by the op tests.

The finite-difference check is built on :func:`loops.numeric_grad` and
:func:`loops.rel_error`, which share no code with ``gemini_np.gradcheck``: a bug
in the library's own checker cannot hide a bug in a backward pass here.
"""
import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import loops

ROOT = Path(__file__).resolve().parent.parent


def as_tuple(grads):
    """A backward's result as a tuple (single-gradient backwards return one array)."""
    return grads if isinstance(grads, tuple) else (grads,)


def upstream_gradient(shape, seed):
    """The random upstream gradient G of seed ``seed`` (also the one gnp.check_gradients draws).

    Random, never all ones: with G = 1 a softmax bug can hide, because softmax rows always sum to 1.
    """
    return np.random.default_rng(seed).standard_normal(shape)


def finite_difference_errors(forward, backward, inputs, static=None, seed=0, dout=None):
    """{input name: relative error of its analytic gradient against central differences}.

    forward(**inputs, **static) -> (out, cache); backward(dout, cache) -> the
    gradient of each input, in the order of ``inputs`` (one array when there is
    one input). The loss is L = Σ out ∘ G with G = ``dout``, or a random G drawn
    with ``seed``. Everything in float64.
    """
    static = dict(static or {})
    inputs = {name: np.array(x, dtype=np.float64) for name, x in inputs.items()}
    out, cache = forward(**inputs, **static)
    dout = upstream_gradient(np.shape(out), seed) if dout is None else np.asarray(dout, dtype=np.float64)
    grads = as_tuple(backward(dout, cache))
    assert len(grads) == len(inputs), f"backward returned {len(grads)} gradients for {len(inputs)} inputs"
    errors = {}
    for (name, x), analytic in zip(inputs.items(), grads):

        def loss(x_new, name=name):
            out_new, _ = forward(**{**inputs, name: x_new}, **static)
            return np.sum(np.asarray(out_new, dtype=np.float64) * dout)

        errors[name] = loops.rel_error(analytic, loops.numeric_grad(loss, x))
    return errors


def assert_finite_differences(forward, backward, inputs, static=None, seed=0, dout=None, bound=1e-7):
    """Every input's gradient agrees with central differences: relative error < ``bound``.

    1e-7 is the verification ladder's bound for a single op (rung 1). Returns the errors.
    """
    errors = finite_difference_errors(forward, backward, inputs, static, seed, dout)
    assert max(errors.values()) < bound, errors
    return errors


def assert_conditioned_finite_differences(forward, backward, draw, seed, bound=1e-7):
    """:func:`assert_finite_differences` on the first well-conditioned draw (see :func:`conditioned`)."""
    inputs, static = conditioned(draw, forward, backward, seed)
    return assert_finite_differences(forward, backward, inputs, static, seed=seed, bound=bound)


def make_mask(kind, n_q, n_k, rng, free_key=0):
    """Masks of every flavour, shaped (n_q, n_k) so they broadcast over the batch.

    "bool_partial" / "float_partial" contain a fully masked row (row 0) and a
    partially masked one whose key ``free_key`` is always open; "float" is a finite
    additive bias; "causal" lets query i see keys 0..i (rectangular when n_q != n_k).
    """
    if kind is None:
        return None
    if kind == "causal":
        return np.tril(np.ones((n_q, n_k), dtype=bool))
    if kind == "bool_partial":
        mask = rng.random((n_q, n_k)) > 0.4
        mask[0] = False  # every key masked out for query 0
        mask[-1, free_key] = True  # at least one free key somewhere else
        return mask
    if kind == "float":
        return rng.standard_normal((n_q, n_k))
    if kind == "float_partial":
        mask = np.where(rng.random((n_q, n_k)) > 0.4, 0.0, -np.inf) + 0.5 * rng.standard_normal((n_q, n_k))
        mask[0] = -np.inf
        mask[-1, free_key] = 0.25
        return mask
    raise AssertionError(kind)


def random_qkv(rng, batch, n_q, n_k, d_k, d_v, dtype=np.float64):
    """q (*batch, n_q, d_k), k (*batch, n_k, d_k), v (*batch, n_k, d_v), standard normal."""
    shapes = [(*batch, n_q, d_k), (*batch, n_k, d_k), (*batch, n_k, d_v)]
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def conditioned(draw, forward, backward, seed, min_entry=1e-3, tries=50):
    """Draw ``(inputs, static) = draw(rng)`` until every analytic gradient entry is
    either 0 (masked, or 0 up to roundoff: below 1e-15) or at least ``min_entry`` in magnitude.

    Why: with h = 1e-5, float64 central differences carry an absolute error of
    about 1e-11, so an entry of 1e-5 that happens to cancel almost to zero would
    show a relative error of 1e-6 although the backward is exact. Such entries are
    checked by the loop-reference tests (absolute tolerance) instead. The upstream
    gradient is :func:`upstream_gradient` of the same ``seed``, the one
    :func:`assert_finite_differences` and ``gnp.check_gradients`` use.
    A wrong backward is still compared entry by entry against the differences.
    """
    rng = np.random.default_rng(seed)
    for _ in range(tries):
        inputs, static = draw(rng)
        out, cache = forward(**inputs, **static)
        grads = as_tuple(backward(upstream_gradient(np.shape(out), seed), cache))
        if all(np.all((np.abs(g) < 1e-15) | (np.abs(g) >= min_entry)) for g in grads):
            return inputs, static
    raise AssertionError(f"no well-conditioned draw in {tries} tries (seed {seed})")


def assert_f32_matches_f64(grads32, grads64):
    """The float32 gradients stay float32 and match the float64 ones, entry by entry.

    rtol 1e-4 elementwise; the atol (1e-4 of the largest float64 entry) covers entries
    that are 0 in exact arithmetic (dq when n_k = 1) and come out as ±1e-18 in float64.
    """
    size = max(np.abs(g).max() for g in grads64)
    for g32, g64 in zip(grads32, grads64):
        assert g32.dtype == np.float32
        np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-4 * size)


# --------------------------------------------------------------------------- modules (gemini_np.nn)

#: One op wrapped in a module: the ladder's single-op bound.
LEAF_BOUND = 1e-7
#: A few ops chained (attention modules, blocks): between the op and the model bound.
COMPOSITE_BOUND = 1e-6


def assert_module_parameters_pass(module, run, x, bound):
    """Every entry of every parameter against finite differences (gemini_np.gradcheck.check_module_gradients)."""
    from gemini_np.gradcheck import check_module_gradients

    errors = check_module_gradients(module, lambda: run(module, x), seed=5, max_entries=None)
    assert set(errors) == set(module.params)
    assert max(errors.values()) < bound, errors


def assert_module_input_gradient_passes(module, run, x, bound, seed=6):
    """The gradient the module returns for its input, against the tests' own difference loop."""
    g = upstream_gradient(np.shape(run(module, x)), seed)
    run(module, x)
    dx = module.backward(g)
    numeric = loops.numeric_grad(lambda x_new: np.sum(run(module, x_new) * g), x)
    assert loops.rel_error(dx, numeric) < bound


def float32_copy(module):
    """A deep copy of ``module`` with every parameter (recursively) cast to float32."""
    import copy

    clone = copy.deepcopy(module)
    for _, m in clone.named_modules():
        m.dtype = "float32"
        for k in list(m._params):
            m._params[k] = m._params[k].astype(np.float32)
            m._grads[k] = np.zeros_like(m._params[k])
    return clone


def assert_module_float32_matches_float64(module, run, x, seed=7):
    """float32 in, float32 out (output, input gradient, every parameter gradient), agreeing with float64."""
    module32 = float32_copy(module)
    y32 = run(module32, x.astype(np.float32))
    assert y32.dtype == np.float32
    g = upstream_gradient(y32.shape, seed)
    dx32 = module32.backward(g.astype(np.float32))
    assert dx32.dtype == np.float32
    y64 = run(module, x)
    dx64 = module.backward(g)
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dx32, dx64, rtol=1e-4, atol=1e-4)
    for k, g32 in module32.grads.items():
        assert g32.dtype == np.float32, k
        np.testing.assert_allclose(g32, module.grads[k], rtol=1e-4, atol=1e-4 * (1 + np.abs(module.grads[k]).max()))


# --------------------------------------------------------------------------- figures

#: matplotlib's warning when a font lacks a character (drawn as an empty box).
GLYPH_MISSING = re.compile(r"Glyph \d+ .*missing", re.S)


def render(fig) -> list:
    """Draw the figure to PNG bytes; return the messages of every warning raised meanwhile."""
    import io
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(io.BytesIO(), format="png")
    return [str(w.message) for w in caught]


# ----------------------------------------------------------------------------- scripts and fonts


def load_script(path):
    """A script of the repository (tools/, benchmarks/) imported as a module named after its file."""
    path = Path(path)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses and pickling look their module up here
    spec.loader.exec_module(module)
    return module


def load_tool(name):
    """tools/<name>.py as a module."""
    return load_script(ROOT / "tools" / f"{name}.py")


@pytest.fixture
def fresh_fonts(monkeypatch):
    """Each test sees the font search and its once-per-process warning afresh, and closes its figures."""
    import matplotlib.pyplot as plt

    from gemini_np.viz import fonts

    monkeypatch.setattr(fonts, "_warned", False)
    monkeypatch.setattr(fonts, "_font_cache", {})
    monkeypatch.delenv("GEMINI_NP_CJK_FONT", raising=False)
    yield
    plt.close("all")
