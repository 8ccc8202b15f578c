"""The exercise checkers: right answers pass (the reference solutions and a second,
independently written variant of each), placeholders are "not attempted", gemini_np's
own ops are refused, ``check`` prints its line once and never raises.

The catalogue of typical wrong answers is in test_exercise_catalogue.py.
"""
import contextlib
import io
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gemini_np as gnp
from gemini_np import exercises
from gemini_np.exercises import Result, check

ROOT = Path(__file__).resolve().parent.parent
NAMES = [
    "worked_example", "softmax", "softmax_backward", "attention_backward", "patchify", "patch_attention",
    "fusion_backward", "split_heads", "sinusoidal_positions", "bce_backward", "masked_mean_backward", "fusion_logits",
]


def quiet(fn, name=None):
    """check(fn, name) without its printed line (the printing has its own tests)."""
    with contextlib.redirect_stdout(io.StringIO()):
        return check(fn, name)


def test_the_twelve_exercises_in_notebook_order():
    assert list(exercises.EXERCISES) == NAMES
    for name in NAMES:
        assert getattr(exercises, f"check_{name}") is exercises.EXERCISES[name]


# ----------------------------------------------------------------------------- right answers pass

def test_reference_solutions_pass():
    solutions = pytest.importorskip("gemini_np.exercises.solutions", reason="a teacher deleted the reference solutions")
    for name in NAMES:
        result = quiet(getattr(solutions, name), name)
        assert result.status == "pass", result
        assert bool(result) is True


def stable_softmax(s):
    """log-sum-exp form: softmax(s) = exp(s − logsumexp(s)), a different route to the same numbers."""
    m = s.max(axis=-1, keepdims=True)
    return np.exp(s - (m + np.log(np.exp(s - m).sum(axis=-1, keepdims=True))))


def worked_example_loop(h, d_k):
    weights = np.empty((len(h), len(h)))
    for i in range(len(h)):
        scores = np.array([h[i] @ h[j] for j in range(len(h))]) / math.sqrt(d_k)
        e = np.exp(scores - scores.max())
        weights[i] = e / e.sum()
    return weights


def softmax_backward_jacobian(dy, y):
    dx = np.empty_like(y)
    for index in np.ndindex(y.shape[:-1]):  # one explicit Jacobian per row
        row = y[index]
        jacobian = np.diag(row) - np.outer(row, row)
        dx[index] = jacobian.T @ dy[index]
    return dx


def attention_backward_rowsum_do_o(dout, q, k, v):
    scale = 1 / math.sqrt(q.shape[1])
    p = stable_softmax(q @ k.T * scale)
    out = p @ v
    ds = p * (dout @ v.T - np.sum(dout * out, axis=1, keepdims=True))  # rowsum(dO ∘ O) = rowsum(dP ∘ P)
    return ds @ k * scale, ds.T @ q * scale, p.T @ dout


def patchify_loops(x, p):
    *batch, h, w, c = x.shape
    out = np.empty((*batch, h // p, w // p, p * p, c), dtype=x.dtype)
    for i in range(h // p):
        for j in range(w // p):
            for r in range(p):
                for col in range(p):
                    out[..., i, j, r * p + col, :] = x[..., i * p + r, j * p + col, :]
    return out


def patch_attention_loops(q, k, v, p):
    out = np.empty(v.shape)
    h, w = q.shape[-3], q.shape[-2]
    for i in range(0, h, p):
        for j in range(0, w, p):
            window = (..., slice(i, i + p), slice(j, j + p), slice(None))
            qb, kb, vb = (a[window].reshape(*a.shape[:-3], p * p, a.shape[-1]) for a in (q, k, v))
            weights = stable_softmax(qb @ np.swapaxes(kb, -1, -2) / math.sqrt(q.shape[-1]))
            out[window] = (weights @ vb).reshape(*v.shape[:-3], p, p, v.shape[-1])
    return out


def fusion_backward_concatenated(dout, q_t, k_t, q_i, k_i, v):
    """Fusion is one attention over concatenated features with scale 1/√d_k (docs/architecture.md)."""
    d = q_t.shape[1]
    dq, dk, dv = attention_backward_rowsum_do_o_scaled(dout, np.hstack([q_t, q_i]), np.hstack([k_t, k_i]), v,
                                                       1 / math.sqrt(d))
    return dq[:, :d], dk[:, :d], dq[:, d:], dk[:, d:], dv


def attention_backward_rowsum_do_o_scaled(dout, q, k, v, scale):
    p = stable_softmax(q @ k.T * scale)
    ds = p * (dout @ v.T - np.sum(dout * (p @ v), axis=1, keepdims=True))
    return ds @ k * scale, ds.T @ q * scale, p.T @ dout


def split_heads_stack(x, n_heads):
    d_head = x.shape[-1] // n_heads
    return np.stack([x[..., j * d_head:(j + 1) * d_head] for j in range(n_heads)], axis=1)


def sinusoidal_loops(n, d):
    pe = np.empty((n, d))
    for pos in range(n):
        for i in range(d // 2):
            angle = pos / 10000 ** (2 * i / d)
            pe[pos, i], pe[pos, d // 2 + i] = math.sin(angle), math.cos(angle)
    return pe


def bce_backward_tanh(logits, labels):
    return (0.5 * (1 + np.tanh(logits / 2)) - labels) / logits.size  # σ(z) = (1 + tanh(z/2)) / 2


def masked_mean_backward_loop(dout, mask):
    dx = np.zeros((*mask.shape, dout.shape[-1]))
    for b in range(mask.shape[0]):
        count = mask[b].sum()
        if count:
            dx[b, mask[b]] = dout[b] / count
    return dx


def fusion_logits_concatenated(text, patches, w_qt, w_kt, w_qi, w_ki):
    z = np.vstack([text, patches])
    q = np.hstack([z @ w_qt, z @ w_qi])  # [Q_t, Q_i]
    k = np.hstack([z @ w_kt, z @ w_ki])  # [K_t, K_i]
    return q @ k.T / math.sqrt(w_qt.shape[1])  # explicit 1/√d_k, not 1/√(2 d_k)


def attention_backward_with_library_softmax(dout, q, k, v):
    """Calling gnp.softmax (an earlier exercise) inside attention_backward is allowed."""
    scale = 1 / math.sqrt(q.shape[1])
    p = gnp.softmax(q @ k.T * scale)
    dp = dout @ v.T
    ds = gnp.softmax_backward(dp, p)
    return scale * ds @ k, scale * ds.T @ q, p.T @ dout


VARIANTS = {
    "worked_example": worked_example_loop,
    "softmax": stable_softmax,
    "softmax_backward": softmax_backward_jacobian,
    "attention_backward": attention_backward_rowsum_do_o,
    "patchify": patchify_loops,
    "patch_attention": patch_attention_loops,
    "fusion_backward": fusion_backward_concatenated,
    "split_heads": split_heads_stack,
    "sinusoidal_positions": sinusoidal_loops,
    "bce_backward": bce_backward_tanh,
    "masked_mean_backward": masked_mean_backward_loop,
    "fusion_logits": fusion_logits_concatenated,
}


@pytest.mark.parametrize("name", NAMES)
def test_an_independent_right_answer_passes(name):
    result = quiet(VARIANTS[name], name)
    assert result.status == "pass", result


def test_allowed_library_ops_inside_a_later_exercise_pass():
    assert quiet(attention_backward_with_library_softmax, "attention_backward").status == "pass"


def test_a_float32_computation_passes():
    def softmax32(x):
        return stable_softmax(x.astype(np.float32))

    assert quiet(softmax32, "softmax").status == "pass"


# ----------------------------------------------------------------------------- not attempted

def placeholder(*args):
    raise NotImplementedError  # your turn: replace this line with your code


def empty(*args):
    """Docstring only: nothing written yet."""


@pytest.mark.parametrize("name", NAMES)
def test_placeholder_is_not_attempted(name):
    result = quiet(placeholder, name)
    assert result.status == "not attempted" and not result, result
    assert "NotImplementedError" in result.message
    result = quiet(empty, name)
    assert result.status == "not attempted", result
    assert "empty" in result.message


# ----------------------------------------------------------------------------- gemini_np's own ops are refused

LIBRARY_CALLS = [
    ("softmax", gnp.softmax),
    ("softmax", lambda x: gnp.functional.softmax(x)),
    ("softmax_backward", gnp.softmax_backward),
    ("attention_backward", gnp.attention_backward),
    ("attention_backward", lambda dout, q, k, v: gnp.attention_backward(dout, gnp.attention_forward(q, k, v)[1])),
    ("attention_backward", lambda dout, q, k, v: tuple(gnp.numerical_gradient(
        lambda a: float(np.sum(gnp.attention_forward(a, k, v)[0] * dout)), q) for _ in range(3))),
    ("patchify", gnp.patchify),  # issue 11: it used to fail on a 0-d p; now it is refused outright
    ("patchify", lambda x, p: gnp.patchify(x, p)),
    ("patch_attention", lambda q, k, v, p: gnp.patch_attention_forward(q, k, v, p)[0]),
    ("fusion_backward", lambda dout, *qkv: gnp.fusion_attention_backward(dout, gnp.fusion_attention_forward(*qkv)[1])),
    ("split_heads", gnp.nn.split_heads),
    ("split_heads", lambda x, h: gnp.nn.split_heads(x, h)),
    ("sinusoidal_positions", lambda n, d: gnp.model.sinusoidal_positions(n, d, like=np.zeros(1))),
    ("bce_backward", lambda z, y: gnp.functional.bce_with_logits_backward(
        1.0, gnp.functional.bce_with_logits_forward(z, y)[1])),
    ("masked_mean_backward", lambda dout, mask: gnp.functional.masked_mean_backward(
        dout, gnp.functional.masked_mean_forward(np.zeros((*mask.shape, dout.shape[-1])), mask)[1])),
    ("worked_example", lambda h, d_k: gnp.attention_forward(h, h, h, scale=d_k ** -0.5)[1].weights),
]


@pytest.mark.parametrize("name, fn", LIBRARY_CALLS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(LIBRARY_CALLS)])
def test_calling_the_library_is_refused(name, fn):
    result = quiet(fn, name)
    assert result.status == "fail", result
    assert result.message.startswith("write it yourself: calling gemini_np's own"), result
    assert result.details["mistake"] == "library-call"


def test_an_imported_alias_and_the_reference_module_are_caught_too():
    from gemini_np.functional import softmax as imported_softmax

    def aliased(x):
        return imported_softmax(x)

    assert "softmax does not count" in quiet(aliased, "softmax").message
    reference = pytest.importorskip("gemini_np.reference", reason="gemini_np.reference is not on this branch yet")
    result = quiet(lambda x: reference.softmax(x), "softmax")
    assert result.message.startswith("write it yourself"), result


def test_the_library_guard_leaves_the_profiler_as_it_was():
    calls = []

    def profiler(frame, event, arg):
        calls.append(event)

    sys.setprofile(profiler)
    try:
        quiet(gnp.softmax, "softmax")
        quiet(stable_softmax, "softmax")
    finally:
        current = sys.getprofile()
        sys.setprofile(None)
    assert current is profiler
    assert calls  # the student's calls were still reported to the previous profiler


# ----------------------------------------------------------------------------- check never raises

class NoArray:
    def __array__(self, *args, **kwargs):
        raise RuntimeError("no")


def generator_function(*args):
    yield args[0]


def modifies_and_returns_nothing(*args):
    args[0][...] = np.nan


def warns(*args):
    import warnings

    warnings.warn("careful", RuntimeWarning)  # the suite turns RuntimeWarnings into errors
    return args[0]


def recursion(*args):
    return recursion(*args)


def misbehaviours():
    yield lambda *a: 1 / 0
    yield lambda *a: "a string"
    yield lambda *a: NoArray()
    yield lambda *a: (NoArray(),) * 5
    yield lambda *a: np.full((2, 2), np.nan)
    yield lambda *a: np.full((2, 2), np.inf)
    yield lambda *a: [np.zeros(3)] * 5
    yield lambda *a: [np.zeros(3), np.zeros((2, 2))]
    yield lambda *a: np.zeros(3, dtype=complex)
    yield lambda *a: tuple(np.asarray(x, dtype=float) + 1j for x in a[:5])
    yield lambda *a: np.array([object(), None])
    yield lambda *a: np.zeros(3, dtype=bool)
    yield lambda *a: (x for x in a)
    yield lambda *a: {"dq": 1}
    yield lambda *a: a
    yield lambda *a: 3.0
    yield lambda: 0  # takes no argument
    yield lambda *a: exit(3)  # SystemExit must not end the notebook either
    yield generator_function
    yield modifies_and_returns_nothing
    yield warns
    yield recursion
    yield np.exp
    yield dict
    yield "not a function"
    yield None
    yield np.zeros((4, 6))  # the *result* instead of the function
    yield lambda *a: (_ for _ in ()).throw(ValueError("x" * 10_000))  # a huge message


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("fn", list(misbehaviours()))
def test_check_never_raises(name, fn):
    result = quiet(fn, name)
    assert result.status in ("fail", "not attempted"), result
    assert isinstance(result.message, str) and result.message
    assert str(result).startswith("[")
    assert len(result.message) < 800, result.message


@pytest.mark.parametrize("bad", [["softmax"], ("softmax",), 3, None, b"softmax", {"name": "softmax"}])
def test_a_bad_exercise_name_is_a_failed_result(bad):
    result = quiet(stable_softmax, bad) if bad is not None else quiet(lambda x: x, bad)
    assert result.status == "fail", result
    if isinstance(bad, (list, tuple)):
        assert "must be a string" in result.message and "check(fn, 'softmax')" in result.message


def test_names_are_forgiving_and_unknown_names_list_the_choices():
    assert quiet(stable_softmax, " Softmax ").status == "pass"
    assert quiet(softmax_backward_jacobian, "softmax-backward").status == "pass"
    assert quiet(stable_softmax, "my_softmax").status == "pass"
    unknown = quiet(stable_softmax, "sofmax")
    assert unknown.status == "fail" and "did you mean 'softmax'" in unknown.message
    assert all(name in unknown.message for name in NAMES)


def test_dispatch_by_function_name():
    def my_softmax_backward(dy, y):
        return softmax_backward_jacobian(dy, y)

    assert quiet(my_softmax_backward).status == "pass"
    assert "name the exercise" in quiet(lambda x: x).message
    assert "no exercise called" in quiet(sorted).message


def test_passing_the_result_instead_of_the_function():
    result = quiet(stable_softmax(np.zeros((4, 6))), "softmax")
    assert result.status == "fail"
    assert "pass the function itself, e.g. check(my_softmax, 'softmax')" in result.message
    assert "array of shape (4, 6)" in result.message
    swapped = quiet("softmax", stable_softmax)
    assert "the function comes first" in swapped.message


def test_a_function_that_changes_its_inputs_fails_even_when_its_values_are_right():
    def softmax_backward_in_place(dy, y):
        dy -= np.sum(dy * y, axis=-1, keepdims=True)  # writes into the caller's dy
        dy *= y
        return dy

    result = quiet(softmax_backward_in_place, "softmax_backward")
    assert result.status == "fail"
    assert "changed its input dy in place" in result.message and result.details["mistake"] == "modified-input"


def test_sizes_are_python_ints():
    """issue 11: a student who checks isinstance(p, int) must not fail because the checker passed a 0-d array."""
    def patchify_strict(x, p):
        assert isinstance(p, int)
        return patchify_loops(x, p)

    def split_heads_strict(x, n_heads):
        assert isinstance(n_heads, int)
        return split_heads_stack(x, n_heads)

    def sinusoidal_strict(n, d):
        assert isinstance(n, int) and isinstance(d, int)
        return sinusoidal_loops(n, d)

    for fn, name in ((patchify_strict, "patchify"), (split_heads_strict, "split_heads"),
                     (sinusoidal_strict, "sinusoidal_positions")):
        assert quiet(fn, name).status == "pass"


def test_wrong_arity_is_named_before_calling():
    result = quiet(lambda dout, cache: None, "attention_backward")
    assert "attention_backward(dout, q, k, v), with 4 arguments" in result.message
    assert "(dout, cache)" in result.message


def test_complex_answers_fail_even_with_a_zero_imaginary_part():
    result = quiet(lambda x: stable_softmax(x).astype(complex), "softmax")
    assert result.status == "fail" and "complex" in result.message


def test_ctrl_c_still_stops_the_cell():
    def interrupted(x):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        quiet(interrupted, "softmax")


# ----------------------------------------------------------------------------- informative, not saturated

def test_an_unnamed_mistake_is_described_not_saturated():
    def noisy(x):
        return stable_softmax(1.1 * x)  # rows still sum to 1, but a temperature no catalogue entry has

    message = quiet(noisy, "softmax").message
    assert "relative error" not in message
    assert "largest difference at [" in message and "yours" in message and "right" in message


def test_a_constant_factor_is_reported_as_a_ratio():
    def dq_doubled(dout, q, k, v):
        dq, dk, dv = attention_backward_rowsum_do_o(dout, q, k, v)
        return 2 * dq, dk, dv

    result = quiet(dq_doubled, "attention_backward")
    assert "only the dq line is wrong" in result.message
    assert "is 2 × the right answer" in result.message


def test_a_wrong_dk_line_blames_dk_and_a_wrong_ds_blames_ds():
    def dk_off(dout, q, k, v):
        dq, dk, dv = attention_backward_rowsum_do_o(dout, q, k, v)
        return dq, dk + 0.1 * np.sin(k), dv

    assert "only the dk line is wrong" in quiet(dk_off, "attention_backward").message

    def ds_off(dout, q, k, v):
        scale = 1 / math.sqrt(q.shape[1])
        p = stable_softmax(q @ k.T * scale)
        ds = p * (dout @ v.T) + 0.05  # not a catalogued mistake
        return scale * ds @ k, scale * ds.T @ q, p.T @ dout

    message = quiet(ds_off, "attention_backward").message
    assert "points at dS" in message and "sums to 0" in message


def test_a_generic_shape_error_names_the_arrays_and_their_shapes():
    def wrong_product(dout, q, k, v):
        return q @ v, k, v  # q (4, 3) @ v (5, 2): no formula multiplies these

    message = quiet(wrong_product, "attention_backward").message
    assert "you multiplied Q (4, 3) by V (5, 2)" in message and "line" in message


# ----------------------------------------------------------------------------- printing

def test_check_prints_one_line_and_returns_the_result(capsys):
    result = check(placeholder, "softmax")
    assert capsys.readouterr().out == str(result) + "\n"
    assert isinstance(result, Result) and result.status == "not attempted"
    assert repr(result) == "Result(exercise='softmax', status='not attempted')"


def test_a_pass_reveals_a_short_explanation(capsys):
    result = check(stable_softmax, "softmax")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == str(result) and lines[0].startswith("[PASS] softmax:")
    assert 1 <= len(lines) - 1 <= 4 and all(line.startswith("    ") for line in lines[1:])
    assert result.explanation and result.report() == "\n".join(lines)


def test_a_failure_shows_no_explanation(capsys):
    result = check(lambda x: x, "softmax")
    assert capsys.readouterr().out.count("\n") == 1 and not result


def test_check_prints_in_a_script_also_when_not_the_last_line():
    code = ("import numpy as np\nfrom gemini_np.exercises import check\n"
            "def my_softmax(x):\n    raise NotImplementedError\n"
            "check(my_softmax)\ncheck(my_softmax, 'softmax')\nprint('end')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    lines = out.stdout.splitlines()
    assert len(lines) == 3 and lines[0] == lines[1] and lines[0].startswith("[NOT ATTEMPTED] softmax:")


def test_a_notebook_cell_shows_the_line_once(tmp_path):
    nbformat = pytest.importorskip("nbformat", reason="nbformat not installed (pip install -e .[test])")
    nbclient = pytest.importorskip("nbclient", reason="nbclient not installed (pip install -e .[test])")
    pytest.importorskip("ipykernel", reason="ipykernel not installed (pip install -e .[test])")
    cell = ("from gemini_np.exercises import check\n"
            "def my_softmax(x):\n    raise NotImplementedError\n"
            "check(my_softmax, 'softmax')\ncheck(my_softmax, 'softmax')")  # the last line would also be displayed
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(ROOT)}})
    client.execute()
    outputs = notebook.cells[0].outputs
    assert {o.output_type for o in outputs} == {"stream"}, outputs  # no execute_result: the Result displays nothing
    printed = "".join(o.text for o in outputs).splitlines()
    assert len(printed) == 2 and all(line.startswith("[NOT ATTEMPTED] softmax:") for line in printed)


# ----------------------------------------------------------------------------- the solutions file

def test_nothing_imports_the_solutions():
    """A teacher can delete solutions.py: the package never imports it."""
    code = ("import gemini_np, gemini_np.exercises, gemini_np.viz, sys; "
            "print('gemini_np.exercises.solutions' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


def test_the_checkers_work_without_the_solutions():
    """With solutions.py unimportable (as if deleted), every check still runs and passes right answers."""
    code = ("import sys; sys.modules['gemini_np.exercises.solutions'] = None\n"
            "sys.path.insert(0, 'tests')\n"
            "import contextlib, io\n"
            "from test_exercises import VARIANTS\n"
            "from gemini_np.exercises import check\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    statuses = {check(fn, name).status for name, fn in VARIANTS.items()}\n"
            "print(statuses)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "{'pass'}", out.stderr


def test_printing_survives_a_console_without_unicode_and_a_broken_stdout(monkeypatch):
    class Ascii(io.StringIO):
        encoding = "ascii"

        def write(self, text):
            text.encode("ascii")  # raises UnicodeEncodeError on ∘, √, ...
            return super().write(text)

    console = Ascii()
    monkeypatch.setattr(sys, "stdout", console)
    result = check(stable_softmax, "softmax")
    assert result.passed and console.getvalue().startswith("[PASS] softmax:")

    class Broken(io.StringIO):
        def write(self, text):
            raise OSError("stdout closed")

    monkeypatch.setattr(sys, "stdout", Broken())
    assert check(placeholder, "softmax").status == "not attempted"


def test_an_object_whose_name_raises_is_still_a_result():
    class Weird:
        def __call__(self, x):
            return x

        @property
        def __name__(self):
            raise RuntimeError("no name")

    assert quiet(Weird()).status == "fail"


def test_a_transpose_with_the_wrong_number_of_axes_is_counted():
    def split_heads_three_axes(x, n_heads):
        b, n, d = x.shape
        return x.reshape(b, n, n_heads, d // n_heads).transpose(0, 2, 1)

    message = quiet(split_heads_three_axes, "split_heads").message
    assert "lists 3 axes" in message and "has 4 dims, shape (2, 5, 3, 4)" in message
