"""``check(fn, name)`` and one ``check_<name>(fn)`` per exercise.

The exercises themselves (inputs, right answers, catalogues of typical wrong
answers) live in the ``checks_*`` modules, one per notebook topic; how a check
runs is in :mod:`.harness`.
"""
from __future__ import annotations

import difflib
import sys

from .checks_attention import ATTENTION_BACKWARD, SOFTMAX, SOFTMAX_BACKWARD, WORKED_EXAMPLE
from .checks_fusion import FUSION_BACKWARD, FUSION_LOGITS
from .checks_heads import SINUSOIDAL_POSITIONS, SPLIT_HEADS
from .checks_patches import PATCH_ATTENTION, PATCHIFY
from .checks_training import BCE_BACKWARD, MASKED_MEAN_BACKWARD
from .harness import not_a_function, run
from .result import FAIL, Result

#: Every exercise, in the order of the notebooks.
SPECS = {spec.name: spec for spec in (
    WORKED_EXAMPLE,  # 01
    SOFTMAX, SOFTMAX_BACKWARD, ATTENTION_BACKWARD,  # 02
    PATCHIFY, PATCH_ATTENTION,  # 03
    FUSION_BACKWARD,  # 04
    SPLIT_HEADS, SINUSOIDAL_POSITIONS,  # 05
    BCE_BACKWARD, MASKED_MEAN_BACKWARD,  # 06
    FUSION_LOGITS,  # 07
)}


def check(fn, exercise: str | None = None) -> Result:
    """Check the function ``fn`` against the exercise named ``exercise``; print and return the Result.

    Without ``exercise`` the function's name decides, ignoring a ``my_`` prefix:
    ``check(my_softmax_backward)``. Prints one line, ``[PASS] ...``, ``[FAIL] ...``
    with a hint, or ``[NOT ATTEMPTED] ...`` (on a pass, a few lines of worked
    explanation follow), also when it is not the last line of a notebook cell or
    runs in a script. The returned Result is True only for a pass; in a notebook
    it displays nothing, so the line is not shown twice. Never raises, whatever
    ``fn`` does (except on Ctrl-C).
    """
    try:
        result = _check(fn, exercise)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # e.g. an object whose __name__ raises: still a Result, not a traceback
        result = Result("?", FAIL, f"the checker could not use what it was given ({type(exc).__name__}: {exc})")
    _print(result.report())
    return result


def _print(text: str) -> None:
    """Print, degrading gracefully: a console that cannot show ∘ or √ gets '?', a broken stdout nothing."""
    try:
        print(text, flush=True)
    except UnicodeEncodeError:
        encoding = getattr(sys.stdout, "encoding", None) or "ascii"
        try:
            print(text.encode(encoding, errors="replace").decode(encoding), flush=True)
        except Exception:
            pass
    except Exception:  # a closed or broken stdout must not turn a check into an exception
        pass


def _check(fn, exercise) -> Result:
    if exercise is None:
        if not callable(fn):
            name = fn if isinstance(fn, str) else "?"
            return Result(str(name), FAIL, not_a_function(fn, name if isinstance(fn, str) else "softmax"))
        exercise = getattr(fn, "__name__", "")
        if not isinstance(exercise, str) or exercise.strip("_<>") in ("", "lambda"):
            return Result("?", FAIL, f"name the exercise: check(fn, 'softmax'); one of {', '.join(SPECS)}")
    if not isinstance(exercise, str):
        return Result(_short(exercise), FAIL, _bad_name(fn, exercise))
    name = _normalise(exercise)
    spec = SPECS.get(name)
    if spec is None:
        close = difflib.get_close_matches(name, list(SPECS), n=1)
        suggestion = f" (did you mean {close[0]!r}?)" if close else ""
        return Result(exercise, FAIL, f"no exercise called {exercise!r}{suggestion}; choose one of "
                                      f"{', '.join(SPECS)}, e.g. check(my_softmax, 'softmax')")
    return run(spec, fn)


def _normalise(name: str) -> str:
    name = name.strip().lower().replace("-", "_").replace(" ", "_")
    return name[3:] if name.startswith("my_") else name


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _bad_name(fn, exercise) -> str:
    if callable(exercise) and isinstance(fn, str):
        return f"the function comes first, then the exercise's name: check(my_{_normalise(fn)}, {fn!r})"
    if isinstance(exercise, (list, tuple)) and len(exercise) == 1 and isinstance(exercise[0], str):
        return (f"the exercise's name must be a string, not a {type(exercise).__name__}: "
                f"check(fn, {exercise[0]!r})")
    return (f"the exercise's name must be a string such as 'softmax', got a {type(exercise).__name__}; "
            f"choose one of {', '.join(SPECS)}")


def check_worked_example(fn) -> Result:
    """fn(h, d_k) -> P (n, n), the row-wise softmax(h hᵀ / √d_k) of notebook 01."""
    return check(fn, "worked_example")


def check_softmax(fn) -> Result:
    """fn(x) -> softmax of x along the last axis, for x of shape (..., n); finite for logits of ±1e4."""
    return check(fn, "softmax")


def check_softmax_backward(fn) -> Result:
    """fn(dy, y) -> dx, the gradient through y = softmax(x) along the last axis."""
    return check(fn, "softmax_backward")


def check_attention_backward(fn) -> Result:
    """fn(dout, q, k, v) -> (dq, dk, dv) for out = softmax(q kᵀ/√d_k) v (2-D, no mask)."""
    return check(fn, "attention_backward")


def check_patchify(fn) -> Result:
    """fn(x, p): (..., H, W, C) -> (..., H/p, W/p, p·p, C), row-major inside a patch."""
    return check(fn, "patchify")


def check_patch_attention(fn) -> Result:
    """fn(q, k, v, p) -> out (..., H, W, d_v): each pixel attends to the pixels of its own p×p patch."""
    return check(fn, "patch_attention")


def check_fusion_backward(fn) -> Result:
    """fn(dout, q_t, k_t, q_i, k_i, v) -> (dq_t, dk_t, dq_i, dk_i, dv) for
    out = softmax((q_t k_tᵀ + q_i k_iᵀ)/√d_k) v, d_k = q_t.shape[-1]."""
    return check(fn, "fusion_backward")


def check_split_heads(fn) -> Result:
    """fn(x, n_heads): (B, n, d) -> (B, h, n, d/h), head j = features j·d/h … (j+1)·d/h − 1."""
    return check(fn, "split_heads")


def check_sinusoidal_positions(fn) -> Result:
    """fn(n, d) -> (n, d): sines of pos / 10000^(2i/d) in the first half, cosines in the second."""
    return check(fn, "sinusoidal_positions")


def check_bce_backward(fn) -> Result:
    """fn(logits, labels) -> dlogits of the mean binary cross-entropy, (σ(z) − y) / N."""
    return check(fn, "bce_backward")


def check_masked_mean_backward(fn) -> Result:
    """fn(dout (B, d), mask bool (B, n)) -> dx (B, n, d) of the masked mean over the real tokens."""
    return check(fn, "masked_mean_backward")


def check_fusion_logits(fn) -> Result:
    """fn(text, patches, w_qt, w_kt, w_qi, w_ki) -> S (n+m, n+m), the summed two-view logits on Z = [text; patches]."""
    return check(fn, "fusion_logits")


#: name -> its check function, in the order of the notebooks.
EXERCISES = {name: globals()[f"check_{name}"] for name in SPECS}
