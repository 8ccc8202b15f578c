"""The exercise checkers: accept the reference, reject known-wrong answers with the
right hint, report "not attempted" for the placeholder, and never raise."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gemini_np import exercises
from gemini_np.exercises import check

S = pytest.importorskip("gemini_np.exercises.solutions", reason="a teacher deleted the reference solutions")
ROOT = Path(__file__).resolve().parent.parent


def placeholder(*args):
    raise NotImplementedError("your turn")


def returns_none(*args):
    pass


# ---------------------------------------------------------------- known-wrong answers

def softmax_no_max(x):
    e = np.exp(x)  # overflows for x > ~709
    return e / np.sum(e, axis=-1, keepdims=True)


def softmax_columns(x):
    e = np.exp(x - np.max(x, axis=0, keepdims=True))
    return e / np.sum(e, axis=0, keepdims=True)


def softmax_backward_no_sum(dy, y):
    return y * dy


def softmax_backward_diagonal(dy, y):
    return dy * y * (1 - y)


def attention_backward_no_rowsum(dout, q, k, v):
    scale = 1 / np.sqrt(q.shape[-1])
    p = S.softmax(q @ k.T * scale)
    ds = p * (dout @ v.T)  # missing − rowsum(dP ∘ P)
    return scale * ds @ k, scale * ds.T @ q, p.T @ dout


def attention_backward_no_scale(dout, q, k, v):
    dq, dk, dv = S.attention_backward(dout, q, k, v)
    return dq * np.sqrt(q.shape[-1]), dk * np.sqrt(q.shape[-1]), dv


def attention_backward_wrong_dv(dout, q, k, v):
    dq, dk, dv = S.attention_backward(dout, q, k, v)
    return dq, dk, dv * 2


def patchify_plain_reshape(x, p):
    *batch, h, w, c = x.shape
    return x.reshape(*batch, h // p, w // p, p * p, c)


def patchify_column_major(x, p):
    out = S.patchify(x, p)
    *lead, pp, c = out.shape
    return out.reshape(*lead, p, p, c).swapaxes(-3, -2).reshape(*lead, pp, c)


def fusion_separate_softmaxes(dout, q_t, k_t, q_i, k_i, v):
    dq_t, dk_t, _ = S.attention_backward(dout, q_t, k_t, v)
    dq_i, dk_i, _ = S.attention_backward(dout, q_i, k_i, v)
    scale = 1 / np.sqrt(q_t.shape[-1])
    p = S.softmax((q_t @ k_t.T + q_i @ k_i.T) * scale)
    return dq_t, dk_t, dq_i, dk_i, p.T @ dout


def fusion_no_scale(dout, q_t, k_t, q_i, k_i, v):
    grads = S.fusion_backward(dout, q_t, k_t, q_i, k_i, v)
    d = np.sqrt(q_t.shape[-1])
    return tuple(g * d for g in grads[:4]) + (grads[4],)


def fusion_image_branch_wrong(dout, q_t, k_t, q_i, k_i, v):
    dq_t, dk_t, _, _, dv = S.fusion_backward(dout, q_t, k_t, q_i, k_i, v)
    dq_i, dk_i = dq_t, dk_t  # copy-paste slip: the image branch reuses the text branch's factors
    return dq_t, dk_t, dq_i, dk_i, dv


WRONG = [
    ("softmax", softmax_no_max, "overflow"),
    ("softmax", softmax_columns, "axis 0"),
    ("softmax_backward", softmax_backward_no_sum, "is missing"),
    ("softmax_backward", softmax_backward_diagonal, "diagonal"),
    ("attention_backward", attention_backward_no_rowsum, "row-sum"),
    ("attention_backward", attention_backward_no_scale, "scale"),
    ("attention_backward", attention_backward_wrong_dv, "dV = Pᵀ dO"),
    ("patchify", patchify_plain_reshape, "plain reshape"),
    ("patchify", patchify_column_major, "row by row"),
    ("fusion_backward", fusion_separate_softmaxes, "ONE softmax"),
    ("fusion_backward", fusion_no_scale, "scale"),
    ("fusion_backward", fusion_image_branch_wrong, "image branch"),
]


@pytest.mark.parametrize("name", list(exercises.EXERCISES))
def test_reference_solution_passes(name):
    result = check(getattr(S, name), name)
    assert result.status == "pass", result
    assert bool(result) is True


@pytest.mark.parametrize("name", list(exercises.EXERCISES))
@pytest.mark.parametrize("fn", [placeholder, returns_none])
def test_placeholder_is_not_attempted(name, fn):
    result = check(fn, name)
    assert result.status == "not attempted", result
    assert not result
    assert "NotImplementedError" in result.message


@pytest.mark.parametrize("name, fn, hint", WRONG, ids=[f"{n}-{f.__name__}" for n, f, _ in WRONG])
def test_known_wrong_answer_fails_with_its_hint(name, fn, hint):
    result = check(fn, name)
    assert result.status == "fail", result
    assert hint in result.message, result


def test_the_wrong_answers_are_really_wrong():
    """Guard the test above: each 'wrong' answer differs from the reference somewhere."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    with np.errstate(over="ignore", invalid="ignore"):
        assert not np.all(np.isfinite(softmax_no_max(np.array([[1000.0, 0.0]]))))
    assert not np.allclose(softmax_columns(x), S.softmax(x))
    y, dy = S.softmax(x), rng.standard_normal((3, 4))
    assert not np.allclose(softmax_backward_no_sum(dy, y), S.softmax_backward(dy, y))
    q, k, v, dout = (rng.standard_normal(s) for s in ((4, 3), (5, 3), (5, 2), (4, 2)))
    assert not np.allclose(attention_backward_no_rowsum(dout, q, k, v)[0], S.attention_backward(dout, q, k, v)[0])
    img = np.arange(48.0).reshape(4, 4, 3)
    assert not np.array_equal(patchify_plain_reshape(img, 2), S.patchify(img, 2))


def test_dispatch_by_function_name():
    def my_softmax_backward(dy, y):
        return S.softmax_backward(dy, y)

    assert check(my_softmax_backward).status == "pass"
    assert check(S.patchify).status == "pass"
    unknown = check(lambda x: x)
    assert unknown.status == "fail" and "no exercise called" in unknown.message


def exotic_misbehaviours():
    class Weird:
        def __array__(self, *a, **k):
            raise RuntimeError("no")

    yield lambda *a: 1 / 0
    yield lambda *a: "a string"
    yield lambda *a: Weird()
    yield lambda *a: (Weird(),) * 5
    yield lambda *a: np.full((2, 2), np.nan)
    yield lambda *a: [np.zeros(3)] * 5
    yield lambda *a: a[0].__setitem__(Ellipsis, np.nan)  # mutates its input, returns None
    yield lambda: 0  # wrong arity: TypeError inside the call
    yield lambda *a: exit(3)  # SystemExit must not end the notebook either
    yield "not a function"
    yield None

    def warns(*a):
        import warnings

        warnings.warn("careful", RuntimeWarning)  # the suite turns RuntimeWarning into errors
        return a[0]

    yield warns


@pytest.mark.parametrize("name", list(exercises.EXERCISES))
@pytest.mark.parametrize("fn", list(exotic_misbehaviours()))
def test_checker_never_raises(name, fn):
    result = check(fn, name)
    assert result.status in ("fail", "not attempted"), result
    assert isinstance(result.message, str) and result.message
    assert str(result).startswith("[")


def test_nothing_imports_the_solutions():
    """A teacher can delete solutions.py: the package and the notebooks never import it."""
    code = "import gemini_np, gemini_np.exercises, gemini_np.viz, sys; print('gemini_np.exercises.solutions' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    for source in sorted((ROOT / "tutorials" / "src").glob("*.py")):
        assert "solutions" not in source.read_text(encoding="utf-8"), source.name
