"""Gradient checking, the one home: numerical gradients, error measures, and the checks
of ops, modules and the whole model against finite differences.

    numerical_gradient(f, x)          df/dx by central differences (float64)
    rel_error(a, b)                   CS231n's relative error
    check_gradients(fwd, bwd, inputs) one op's backward against finite differences
    op_gradcheck_table()              every op of the registry (functional/registry.py)
    check_module_gradients(module, f) every parameter of a Module
    model_gradcheck_rows()            the whole GeminiModel, part by part

The idea (CS231n's): a backward pass is right when it agrees with central
differences, df/dx_i ≈ (f(x + h e_i) − f(x − h e_i)) / 2h, whose error is O(h²).
Always in float64: in float32 the rounding error of f swamps the O(h²) term.

>>> import numpy as np, gemini_np as gnp
>>> rng = np.random.default_rng(0)
>>> q, k, v = (rng.standard_normal((3, 4)) for _ in range(3))
>>> errors = gnp.check_gradients(gnp.attention_forward, gnp.attention_backward, {"q": q, "k": k, "v": v})
>>> all(e < 1e-7 for e in errors.values())
True
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .backend import from_numpy, to_numpy

#: The bound a single op must meet (the verification ladder of docs/architecture.md, rung 1).
OP_BOUND = 1e-7
#: The bound a whole model must meet.
MODEL_BOUND = 1e-5


def numerical_gradient(f: Callable, x, h: float = 1e-5) -> np.ndarray:
    """df/dx by central differences, in float64, one element at a time.

    f: maps an array shaped like x to a scalar. x: any array (copied to a host
    float64 array; the caller's x is never modified). Returns a float64 NumPy
    array shaped like x. Costs 2·x.size evaluations of f.
    """
    x = np.array(to_numpy(x), dtype=np.float64, copy=True)  # our own copy: never touch the caller's
    grad = np.zeros_like(x)
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)  # views into x and grad
    for i in range(flat_x.size):
        old = flat_x[i]
        flat_x[i] = old + h
        f_plus = float(f(x))
        flat_x[i] = old - h
        f_minus = float(f(x))
        flat_x[i] = old  # restore before the next element
        flat_grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def rel_error(a, b) -> float:
    """The largest element of |a − b| / max(1e-8, |a| + |b|) (CS231n's measure).

    a, b: arrays of the same shape (any backend). Returns a Python float:
    about 1e-10 for a correct float64 gradient, 1e-2 or more for a bug.
    """
    a = np.asarray(to_numpy(a), dtype=np.float64)
    b = np.asarray(to_numpy(b), dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error needs arrays of the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def check_gradients(forward, backward, inputs: dict, static: dict | None = None, seed: int = 0, h: float = 1e-5) -> dict:
    """Check a forward/backward pair against finite differences.

    forward(**inputs, **static) -> (out, cache); backward(dout, cache) -> the
    gradients of ``inputs``, in the order of the dict (a single array when
    there is one). The loss is L = Σ out ∘ G with a *random* upstream gradient
    G: with G = 1 a softmax bug can hide, because softmax rows always sum to 1.

    Returns {input name: worst relative error}, all in float64.
    """
    static = dict(static or {})
    inputs = {name: np.array(to_numpy(x), dtype=np.float64) for name, x in inputs.items()}
    out, cache = forward(**inputs, **static)
    upstream = np.random.default_rng(seed).standard_normal(np.shape(out))
    grads = backward(upstream, cache)
    if not isinstance(grads, tuple):
        grads = (grads,)
    if len(grads) != len(inputs):
        raise ValueError(f"backward returned {len(grads)} gradients for {len(inputs)} inputs ({', '.join(inputs)})")
    errors = {}
    for (name, x), analytic in zip(inputs.items(), grads):

        def loss(x_new, name=name):
            out_new, _ = forward(**{**inputs, name: x_new}, **static)
            return np.sum(to_numpy(out_new) * upstream)

        errors[name] = rel_error(analytic, numerical_gradient(loss, x, h))
    return errors


def op_gradcheck_table(seed: int = 0) -> list[dict]:
    """Check every entry of the op registry (:data:`gemini_np.functional.registry.OPS`).

    Small random float64 inputs from each entry's own generator, well
    conditioned (:func:`well_conditioned_example`). Returns one row per entry:
    {"op", "worst" (input name), "error", "bound", "ok"}.
    """
    from .functional.registry import OPS

    rows = []
    for op in OPS:
        example, upstream_seed = well_conditioned_example(op, seed=seed)
        errors = check_gradients(op.forward, op.backward, example.inputs, example.static, seed=upstream_seed)
        rows.append(_row(op.name, errors, OP_BOUND))
    return rows


#: Gradient entries smaller than this share of their tensor's largest are too small for
#: central differences to resolve to OP_BOUND (see :func:`well_conditioned_example`).
MIN_SHARE = 1e-3


def well_conditioned_example(op, sizes=None, seed: int = 0, tries: int = 50):
    """The first (example, upstream seed) of registry entry ``op`` whose gradient entries central
    differences can resolve; pass the upstream seed to :func:`check_gradients`.

    Why: central differences with h = 1e-5 carry an absolute error of about
    1e-16·|L|/h (the roundoff of the loss L, divided by h), a fixed amount for the
    whole tensor. An entry that happens to cancel to 1e-6 of the tensor's largest
    then shows a relative error near 1e-5 although the backward is exact. This
    draws examples from the entry's generator, each with its own upstream gradient
    (seeds ``seed``, ``seed + 1000``, ...), until every analytic gradient entry is
    either 0 (masked) or at least :data:`MIN_SHARE` of its tensor's largest.
    A wrong backward is still compared entry by entry. Raises RuntimeError when
    no draw qualifies (a sign the example is badly made).
    """
    from .functional.registry import TINY, generator

    rng = generator(op.name, seed)
    for attempt in range(tries):
        example = op.example(rng, sizes or TINY)
        inputs = {k: np.asarray(v, dtype=np.float64) for k, v in example.inputs.items()}
        out, cache = op.forward(**inputs, **example.static)
        upstream_seed = seed + 1000 * attempt
        upstream = np.random.default_rng(upstream_seed).standard_normal(np.shape(out))  # as check_gradients draws it
        grads = op.backward(upstream, cache)
        grads = grads if isinstance(grads, tuple) else (grads,)
        if all(_resolvable(np.abs(g)) for g in grads):
            return example, upstream_seed
    raise RuntimeError(f"no well-conditioned example of {op.name!r} in {tries} draws (seed {seed})")


def _resolvable(magnitudes) -> bool:
    """Every entry is 0 (up to roundoff) or at least MIN_SHARE of the largest."""
    largest = float(np.max(magnitudes, initial=0.0))
    return bool(np.all((magnitudes <= 1e-12 * largest) | (magnitudes >= MIN_SHARE * largest)))


def _row(label: str, errors: dict, bound: float) -> dict:
    worst = max(errors, key=errors.get)
    return {"op": label, "worst": worst, "error": errors[worst], "bound": bound, "ok": errors[worst] < bound}


# ----------------------------------------------------------------------------- modules and the whole model


def check_module_gradients(module, forward: Callable[[], object], seed: int = 0, max_entries: int | None = 32,
                           h: float = 1e-5, names=None) -> dict:
    """Worst relative error of each parameter's gradient of a Module against central differences.

    module: a float64 :class:`gemini_np.nn.Module`. forward: a no-argument
    function that runs ``module.forward(...)`` on fixed inputs and returns the
    output array. The loss is L = Σ out ∘ G with a random upstream gradient G.
    max_entries: check at most this many randomly chosen entries of each
    tensor (None = every entry); every tensor is always checked.
    names: the parameters to check (default: all of ``module.params``).

    Returns {parameter name: rel_error}. The module's parameters are restored.
    """
    if module.dtype != "float64":
        raise TypeError(f"finite differences need a float64 module, got {module.dtype}")
    rng = np.random.default_rng(seed)
    out = forward()
    upstream = rng.standard_normal(tuple(out.shape))  # random G: a plain sum() hides softmax bugs
    module.backward(from_numpy(upstream, like=out))
    analytic = {k: to_numpy(v) for k, v in module.grads.items()}

    def loss() -> float:
        return float(np.sum(to_numpy(forward()) * upstream))

    errors = {}
    for name in names if names is not None else list(module.params):
        original = module.params[name]
        host = np.array(to_numpy(original), dtype=np.float64)
        n = host.size
        picked = np.arange(n) if max_entries is None or n <= max_entries else rng.choice(n, max_entries, replace=False)

        def loss_at(flat_values, name=name, original=original, picked=picked):
            probe = host.copy()
            probe.flat[picked] = flat_values
            module.set_param(name, from_numpy(probe, like=original))
            return loss()

        numeric = numerical_gradient(loss_at, host.flat[picked], h)  # only the picked entries move
        module.set_param(name, original)
        errors[name] = rel_error(analytic[name].reshape(-1)[picked], numeric)
    return errors


def small_model(seed: int = 0):
    """A small float64 GeminiModel for finite differences, with a random matching matrix.

    (A fresh model's matching matrix M is zero, which makes every gradient
    upstream of it exactly zero: a check there could not fail.)
    Returns (model, tokens, images); the captions include padding.
    """
    from .model import GeminiModel

    rng = np.random.default_rng(seed)
    model = GeminiModel(vocab_size=7, image_size=4, patch_size=2, channels=3, d_model=8, n_heads=2, d_ff=16,
                        seed=seed, dtype="float64")
    model.set_param("head.bilinear.w", rng.standard_normal((8, 8)))
    tokens = np.array([[2, 3, 4, 0], [5, 6, 1, 2], [3, 0, 0, 0]])  # with padding
    images = rng.random((3, 4, 4, 3))
    return model, tokens, images


def model_gradcheck_rows(seed: int = 0, max_entries: int | None = 16) -> list[dict]:
    """Finite-difference check of every parameter tensor of :func:`small_model`, and of d images.

    Returns rows like :func:`op_gradcheck_table`: one per part of the model
    (text, image, fusion, head) with its worst tensor, one for d images, and
    one for the whole model.
    """
    model, tokens, images = small_model(seed)
    errors = check_module_gradients(model, lambda: model.forward(tokens, images), seed=seed, max_entries=max_entries)
    upstream = np.random.default_rng(seed + 1).standard_normal(tokens.shape[0])
    model.forward(tokens, images)
    dimages = model.backward(upstream)
    numeric = numerical_gradient(lambda im: float(np.sum(model.forward(tokens, im) * upstream)), images)
    rows = []
    for part, label in (("text.", "model: text encoder"), ("image.", "model: image encoder"),
                        ("fusion.", "model: fusion layer"), ("head.", "model: matching head")):
        part_errors = {k[len(part):]: v for k, v in errors.items() if k.startswith(part)}
        rows.append(_row(label, part_errors, MODEL_BOUND))
    rows.append(_row("model: d images", {"images": rel_error(dimages, numeric)}, MODEL_BOUND))
    rows.append(_row(f"whole model ({len(errors)} tensors)", {**errors, "images": rows[-1]["error"]}, MODEL_BOUND))
    return rows


def format_table(rows: list[dict]) -> str:
    """Render gradcheck rows as a fixed-width text table, the columns as wide as their longest entry."""
    op_width = max(len("op"), *(len(r["op"]) for r in rows))
    input_width = max(len("worst input"), *(len(r["worst"]) for r in rows))
    lines = [f"{'op':<{op_width}}  {'worst input':<{input_width}}  {'rel. error':>10}  {'bound':>7}  result"]
    for r in rows:
        lines.append(f"{r['op']:<{op_width}}  {r['worst']:<{input_width}}  {r['error']:>10.1e}  {r['bound']:>7.0e}  "
                     f"{'pass' if r['ok'] else 'FAIL'}")
    return "\n".join(lines)
