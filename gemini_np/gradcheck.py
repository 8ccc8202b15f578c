"""Numerical gradients and error measures, for tests and for students.

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

from .backend import to_numpy

#: The bound a single op must meet (DESIGN's verification ladder, rung 1).
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
    """Check every op of ``gemini_np.functional`` on small random float64 inputs.

    Returns one row per op: {"op", "worst" (input name), "error", "bound", "ok"}.
    """
    from . import functional as F

    rng = np.random.default_rng(seed)

    def randn(*shape):
        return rng.standard_normal(shape)

    away_from_zero = randn(3, 4)
    away_from_zero += np.sign(away_from_zero) * 0.1  # ReLU's kink at 0 has no derivative
    causal = np.tril(np.ones((4, 4), dtype=bool))
    ids = np.array([[3, 1, 0, 0], [2, 2, 4, 0]])
    cases = [
        ("softmax", lambda x: (y := F.softmax(x), y), F.softmax_backward, {"x": randn(3, 5)}, {}),
        ("attention (causal mask)", F.attention_forward, F.attention_backward,
         {"q": randn(2, 4, 3), "k": randn(2, 4, 3), "v": randn(2, 4, 2)}, {"mask": causal}),
        ("fusion attention", F.fusion_attention_forward, F.fusion_attention_backward,
         {"q_text": randn(2, 5, 3), "k_text": randn(2, 5, 3), "q_image": randn(2, 5, 4),
          "k_image": randn(2, 5, 4), "v": randn(2, 5, 2)}, {}),
        ("patch attention", F.patch_attention_forward, F.patch_attention_backward,
         {"q": randn(4, 4, 3), "k": randn(4, 4, 3), "v": randn(4, 4, 2)}, {"patch_size": 2}),
        ("linear", F.linear_forward, F.linear_backward, {"x": randn(2, 3, 4), "w": randn(4, 5), "b": randn(5)}, {}),
        ("layer norm", F.layer_norm_forward, F.layer_norm_backward,
         {"x": randn(3, 6), "gamma": randn(6), "beta": randn(6)}, {}),
        ("relu", F.relu_forward, F.relu_backward, {"x": away_from_zero}, {}),
        ("gelu", F.gelu_forward, F.gelu_backward, {"x": randn(3, 4)}, {}),
        ("embedding", F.embedding_forward, F.embedding_backward, {"table": randn(5, 3)}, {"ids": ids}),
        ("masked mean", F.masked_mean_forward, F.masked_mean_backward, {"x": randn(2, 4, 3)}, {"mask": ids > 0}),
        ("sigmoid + BCE", F.bce_with_logits_forward, F.bce_with_logits_backward,
         {"logits": randn(6)}, {"labels": (randn(6) > 0).astype(float)}),
        # added later; kept last so that the inputs drawn for the rows above stay the same
        ("attention (blocked, b=3)", F.attention_forward, F.attention_backward,
         {"q": randn(2, 4, 3), "k": randn(2, 4, 3), "v": randn(2, 4, 2)}, {"mask": causal, "block_size": 3}),
        ("grouped linear", F.grouped_linear_forward, F.grouped_linear_backward,
         {"x": randn(2, 3, 4, 5), "w": randn(4, 5, 3), "b": randn(3)}, {}),
    ]
    rows = []
    for name, fwd, bwd, inputs, static in cases:
        errors = check_gradients(fwd, bwd, inputs, static, seed=seed)
        worst = max(errors, key=errors.get)
        rows.append({"op": name, "worst": worst, "error": errors[worst], "bound": OP_BOUND, "ok": errors[worst] < OP_BOUND})
    return rows


def format_table(rows: list[dict]) -> str:
    """Render gradcheck rows as a fixed-width text table."""
    lines = [f"{'op':<26} {'worst input':<12} {'rel. error':>10}  {'bound':>7}  result"]
    for r in rows:
        lines.append(f"{r['op']:<26} {r['worst']:<12} {r['error']:>10.1e}  {r['bound']:>7.0e}  {'pass' if r['ok'] else 'FAIL'}")
    return "\n".join(lines)
