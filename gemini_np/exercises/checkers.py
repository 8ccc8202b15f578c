"""The checkers behind :mod:`gemini_np.exercises`.

How a checker works: it calls the student's function on small random float64
inputs (fixed seed), compares the answer with the library's proven op
(``gemini_np.functional``, itself checked against finite differences), and
when they differ it compares the answer with the *typical wrong answers*
(a missing term, a missing scale, ...) to say which mistake it is. Everything
the student's code does (exceptions, warnings, NaN) is caught and turned into
a message.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .. import functional as F
from ..backend import to_numpy

PASS, FAIL, NOT_ATTEMPTED = "pass", "fail", "not attempted"
#: Agreement needed with the reference (float64 inputs; a right answer is ~1e-15 off).
RTOL = 1e-6


@dataclass
class Result:
    """The outcome of one check. ``bool(result)`` is True only for a pass."""

    exercise: str
    status: str  # "pass", "fail" or "not attempted"
    message: str
    details: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return f"[{self.status.upper()}] {self.exercise}: {self.message}"

    __repr__ = __str__


class _Fail(Exception):
    """Raised inside a checker to stop at the first problem found (never escapes)."""

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.details = details


class _NotAttempted(Exception):
    pass


# ---------------------------------------------------------------- helpers

def _call(fn: Callable, *args):
    """Call the student's function; turn what can go wrong into _Fail / _NotAttempted."""
    args = tuple(np.array(a, copy=True) for a in args)  # the student may modify their inputs
    with warnings.catch_warnings(), np.errstate(all="ignore"):  # NaN/inf are judged from the result
        warnings.simplefilter("ignore")
        try:
            result = fn(*args)
        except NotImplementedError:
            raise _NotAttempted() from None
        except (Exception, SystemExit) as exc:  # any bug in the student's code becomes a message
            raise _Fail(f"your function raised {type(exc).__name__}: {exc}") from None
    if result is None:
        raise _NotAttempted()
    return result


def _as_array(x, name: str, shape) -> np.ndarray:
    try:
        a = np.asarray(to_numpy(x), dtype=np.float64)
    except Exception:
        raise _Fail(f"{name} should be an array, got {type(x).__name__}") from None
    if a.shape != tuple(shape):
        raise _Fail(f"{name} has shape {a.shape}, expected {tuple(shape)}")
    return a


def _as_tuple(result, n: int, names: tuple[str, ...]):
    if not isinstance(result, (tuple, list)) or len(result) != n:
        raise _Fail(f"return a tuple of {n} arrays ({', '.join(names)}), got {type(result).__name__}"
                    + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else ""))
    return result


def _close(a, b) -> bool:
    return bool(np.all(np.isfinite(a))) and np.allclose(a, b, rtol=RTOL, atol=1e-9)


def _rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    with np.errstate(all="ignore"):
        err = np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))
    return float(np.nanmax(np.where(np.isfinite(err), err, np.inf)))


def _run(exercise: str, body: Callable[[], str], fn) -> Result:
    """Run a checker body; every outcome becomes a Result, nothing escapes."""
    if not callable(fn):
        return Result(exercise, FAIL, f"pass your function itself (e.g. check(my_{exercise})), got {type(fn).__name__}")
    try:
        return Result(exercise, PASS, body())
    except _NotAttempted:
        return Result(exercise, NOT_ATTEMPTED,
                      "your function still raises NotImplementedError (or returns None): replace the placeholder "
                      "with your code and return the result")
    except _Fail as exc:
        return Result(exercise, FAIL, str(exc), exc.details)
    except Exception as exc:  # a bug in the checker itself must not stop the notebook either
        return Result(exercise, FAIL, f"the checker could not evaluate your answer ({type(exc).__name__}: {exc})")


# ---------------------------------------------------------------- softmax

def check_softmax(fn) -> Result:
    """fn(x) -> softmax of x along the last axis, for x of shape (..., n)."""

    def body():
        rng = np.random.default_rng(0)
        x = rng.standard_normal((4, 6))
        y = _call(fn, x)
        y = _as_array(y, "softmax(x)", x.shape)
        if not _close(y, F.softmax(x)):
            sums = y.sum(axis=-1)
            if np.allclose(y, F.softmax(x, axis=0)):
                raise _Fail("you normalised down the columns (axis 0); softmax runs along the last axis, one row per query")
            if not np.allclose(sums, 1.0):
                raise _Fail(f"each row should sum to 1, yours sum to {np.round(sums, 4).tolist()}: "
                            f"divide exp(x) by the sum of its own row (keepdims=True)")
            raise _Fail(f"wrong values (relative error {_rel(y, F.softmax(x)):.1e}); softmax(x)_i = exp(x_i) / Σ_j exp(x_j)")
        big = np.array([[1e4, 0.0, -1e4], [800.0, 799.0, 0.0], [-1e4, -1e4, -1e4]])
        y_big = np.asarray(to_numpy(_call(fn, big)), dtype=np.float64)
        if not np.all(np.isfinite(y_big)) or not _close(y_big, F.softmax(big)):
            raise _Fail(
                "correct on small inputs, but large logits such as 800 or 1e4 give inf/NaN: "
                "exp(800) overflows float64. Subtract each row's max first, "
                "softmax(x) = softmax(x − max(x)), which changes nothing mathematically"
            )
        return "rows sum to 1, values match, and logits of ±1e4 stay finite"

    return _run("softmax", body, fn)


# ---------------------------------------------------------------- softmax backward

def check_softmax_backward(fn) -> Result:
    """fn(dy, y) -> dx, the gradient through y = softmax(x) along the last axis."""

    def body():
        rng = np.random.default_rng(1)
        y = F.softmax(rng.standard_normal((3, 5)))
        dy = rng.standard_normal((3, 5))  # random upstream gradient: a sum() loss would hide bugs
        dx = _call(fn, dy, y)
        dx = _as_array(dx, "dx", y.shape)
        want = F.softmax_backward(dy, y)
        if _close(dx, want):
            return f"matches the exact gradient (relative error {_rel(dx, want):.1e})"
        if _close(dx, y * dy):
            raise _Fail("you returned y ∘ dy: the term − y ∘ Σ_j(dy_j y_j) is missing. Every x_j changes every y_i "
                        "through the shared denominator: dx = y ∘ (dy − Σ_j dy_j y_j)")
        if _close(dx, dy * y * (1 - y)):
            raise _Fail("you used only the diagonal of the Jacobian, y_i(1 − y_i); the off-diagonal terms −y_i y_j "
                        "matter too: dx = y ∘ (dy − Σ_j dy_j y_j)")
        if _close(dx, y * (dy - np.sum(dy * y))):
            raise _Fail("the sum Σ_j dy_j y_j must be taken per row (axis=-1, keepdims=True), not over the whole array")
        if _close(dx, dy - np.sum(dy * y, axis=-1, keepdims=True)):
            raise _Fail("almost: multiply by y, dx = y ∘ (dy − Σ_j dy_j y_j)")
        raise _Fail(f"wrong values (relative error {_rel(dx, want):.1e}); derive dx_j = Σ_i dy_i ∂y_i/∂x_j "
                    f"with ∂y_i/∂x_j = y_i(δ_ij − y_j)")

    return _run("softmax_backward", body, fn)


# ---------------------------------------------------------------- attention backward

def _attention_inputs(seed: int):
    rng = np.random.default_rng(seed)
    q, k = rng.standard_normal((4, 3)), rng.standard_normal((5, 3))
    v, dout = rng.standard_normal((5, 2)), rng.standard_normal((4, 2))
    return q, k, v, dout


def check_attention_backward(fn) -> Result:
    """fn(dout, q, k, v) -> (dq, dk, dv) for out = softmax(q kᵀ/√d_k) v (no mask)."""

    def body():
        q, k, v, dout = _attention_inputs(2)
        grads = _as_tuple(_call(fn, dout, q, k, v), 3, ("dq", "dk", "dv"))
        dq, dk, dv = (_as_array(g, n, a.shape) for g, n, a in zip(grads, ("dq", "dk", "dv"), (q, k, v)))
        out, cache = F.attention_forward(q, k, v)
        want_dq, want_dk, want_dv = F.attention_backward(dout, cache)
        if not _close(dv, want_dv):
            hint = "dV = Pᵀ dO (transpose P, then multiply by dO)"
            if _close(dv, cache.weights.T @ np.ones_like(dout)):
                hint = "you multiplied Pᵀ by ones: use the upstream gradient dO"
            raise _Fail(f"dv is wrong: {hint}")
        scale = cache.scale
        p = cache.weights
        ds_no_rowsum = p * (dout @ v.T)  # the classic mistake: the softmax Jacobian's diagonal only
        if _close(dq, scale * ds_no_rowsum @ k) or _close(dk, scale * ds_no_rowsum.T @ q):
            raise _Fail("dv is right but dq/dk miss the row-sum term of the softmax backward: "
                        "dS = P ∘ (dP − rowsum(dP ∘ P)), not P ∘ dP (each row of dS must sum to 0)")
        ds = p * (dout @ v.T - np.sum(dout * out, axis=-1, keepdims=True))
        if _close(dq, ds @ k) or _close(dk, ds.T @ q):
            raise _Fail(f"dq/dk are off by the factor scale = 1/√d_k = {scale:.4f}: S = Q Kᵀ · scale, "
                        f"so dQ = scale · dS K and dK = scale · dSᵀ Q")
        if not _close(dq, want_dq):
            raise _Fail(f"dq is wrong (relative error {_rel(dq, want_dq):.1e}): dQ = scale · dS K")
        if not _close(dk, want_dk):
            raise _Fail(f"dk is wrong (relative error {_rel(dk, want_dk):.1e}): dK = scale · dSᵀ Q "
                        f"(note the transpose: keys receive gradient from every query)")
        return "dq, dk and dv match the exact gradients"

    return _run("attention_backward", body, fn)


# ---------------------------------------------------------------- patchify

def check_patchify(fn) -> Result:
    """fn(x, p): (..., H, W, C) -> (..., H/p, W/p, p·p, C), row-major inside a patch."""

    def body():
        x = np.arange(2 * 4 * 6 * 3, dtype=np.float64).reshape(2, 4, 6, 3)  # distinct values: easy to trace
        p = 2
        want = F.patchify(x, p)
        got = _call(fn, x, p)
        got = np.asarray(to_numpy(got), dtype=np.float64)
        if got.shape != want.shape:
            raise _Fail(f"shape {got.shape}, expected {want.shape} = (batch, H/p, W/p, p·p, C) for x {x.shape}, p = {p}")
        if np.array_equal(got, want):
            x2 = np.random.default_rng(3).standard_normal((3, 3, 2))
            got2 = np.asarray(to_numpy(_call(fn, x2, 3)), dtype=np.float64)
            if got2.shape != (1, 1, 9, 2) or not np.array_equal(got2, F.patchify(x2, 3)):
                raise _Fail("right on a batch of 4×6 images with p = 2, wrong on one 3×3 image with p = 3: "
                            "do not hard-code the batch dims or the patch size")
            return "every pixel lands in the right patch and position"
        if np.array_equal(got, x.reshape(want.shape)):
            raise _Fail("a plain reshape mixes pixels of different patches: split H into (H/p, p) and W into "
                        "(W/p, p), move the two patch-grid axes in front of the two in-patch axes "
                        "(a transpose), then merge the in-patch axes")
        patch = np.asarray(got[0, 0, 1])
        if np.array_equal(np.sort(patch, axis=None), np.sort(want[0, 0, 1], axis=None)):
            raise _Fail("each patch holds the right pixels but in the wrong order: inside a patch go row by row "
                        "(pixel (r, c) is element r·p + c)")
        raise _Fail("wrong pixels in the patches; element [..., i, j, r·p + c, :] must be pixel x[..., i·p + r, j·p + c, :]")

    return _run("patchify", body, fn)


# ---------------------------------------------------------------- fusion backward

def check_fusion_backward(fn) -> Result:
    """fn(dout, q_t, k_t, q_i, k_i, v) -> (dq_t, dk_t, dq_i, dk_i, dv) for
    out = softmax((q_t k_tᵀ + q_i k_iᵀ)/√d_k) v, d_k = q_t.shape[-1]."""

    names = ("dq_t", "dk_t", "dq_i", "dk_i", "dv")

    def body():
        rng = np.random.default_rng(4)
        q_t, k_t = rng.standard_normal((4, 3)), rng.standard_normal((6, 3))
        q_i, k_i = rng.standard_normal((4, 3)), rng.standard_normal((6, 3))
        v, dout = rng.standard_normal((6, 2)), rng.standard_normal((4, 2))
        inputs = (q_t, k_t, q_i, k_i, v)
        grads = _as_tuple(_call(fn, dout, *inputs), 5, names)
        got = [_as_array(g, n, a.shape) for g, n, a in zip(grads, names, inputs)]
        out, cache = F.fusion_attention_forward(*inputs)
        want = F.fusion_attention_backward(dout, cache)
        wrong = [n for n, g, w in zip(names, got, want) if not _close(g, w)]
        if not wrong:
            return "all five gradients match; both branches got the same dS"
        separate = _separate_branches(dout, *inputs)
        if any(_close(g, s) for g, s in zip(got[:4], separate)):
            raise _Fail("you back-propagated each branch through its own softmax; there is ONE softmax of the "
                        "summed logits, so both branches receive the same dS = P ∘ (dP − rowsum(dP ∘ P))")
        if "dv" in wrong:
            raise _Fail("dv is wrong: dV = Pᵀ dO with P the softmax of the *summed* logits")
        scale = cache.scale
        if all(_close(g, w / scale) for g, w in zip(got[:4], want[:4])):
            raise _Fail(f"the query/key gradients miss the factor scale = 1/√d_k = {scale:.4f}")
        if set(wrong) <= {"dq_i", "dk_i"}:
            raise _Fail("the text branch is right but the image branch is not: S contains Q_i K_iᵀ exactly as it "
                        "contains Q_t K_tᵀ, so dQ_i = scale · dS K_i and dK_i = scale · dSᵀ Q_i")
        raise _Fail(f"{', '.join(wrong)} wrong; S = (Q_t K_tᵀ + Q_i K_iᵀ) · scale, so every query/key gets "
                    f"scale · dS (times the other factor of its own term)")

    return _run("fusion_backward", body, fn)


def _separate_branches(dout, q_t, k_t, q_i, k_i, v):
    """The wrong answer 'one attention per branch': gradients of each branch's own softmax."""
    grads = []
    for q, k in ((q_t, k_t), (q_i, k_i)):
        _, cache = F.attention_forward(q, k, v, scale=1.0 / math.sqrt(q_t.shape[-1]))
        dq, dk, _ = F.attention_backward(dout, cache)
        grads += [dq, dk]
    return grads


# ---------------------------------------------------------------- dispatch

EXERCISES = {
    "softmax": check_softmax,
    "softmax_backward": check_softmax_backward,
    "attention_backward": check_attention_backward,
    "patchify": check_patchify,
    "fusion_backward": check_fusion_backward,
}


def check(fn, exercise: str | None = None) -> Result:
    """Check ``fn`` against the exercise named ``exercise``.

    Without ``exercise`` the function's name decides, ignoring a ``my_``
    prefix: ``check(my_softmax_backward)``. Never raises.
    """
    name = exercise
    if name is None:
        name = getattr(fn, "__name__", "")
        name = name[3:] if name.startswith("my_") else name
    checker = EXERCISES.get(name)
    if checker is None:
        return Result(str(name), FAIL, f"no exercise called {name!r}; choose one of {', '.join(EXERCISES)} "
                                       f"(check(fn, 'softmax_backward'))")
    return checker(fn)
