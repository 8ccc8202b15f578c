"""How every exercise is checked: call the student's function safely, compare, diagnose.

An exercise (:class:`Exercise`) is a list of input cases (:class:`Case`), each
with the right answer, computed by gemini_np's own ops, and a *catalogue* of
typical wrong answers (:class:`Mistake`) on those same inputs, each with the
hint that names it. :func:`run` calls the student's function on every case:

1. the student's function must be their own: a gemini_np function passed
   directly, or one the student's code calls that computes the exercised op,
   is refused (:class:`LibraryGuard` watches the calls);
2. an exception is translated into a hint (:mod:`.errors`); a placeholder that
   still raises NotImplementedError is "not attempted";
3. the result must have the right structure (one array, or a tuple of them),
   kind (real numbers) and shape;
4. a wrong answer is compared with the catalogue, then with the right answer
   permuted or transposed, then described (:func:`.compare.describe`);
5. the inputs must come back unchanged (the caller still needs them).

Nothing the student's code does escapes as an exception, except Ctrl-C.
"""
from __future__ import annotations

import dis
import functools
import inspect
import itertools
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..backend import to_numpy
from . import compare
from .errors import Product, explain_exception
from .result import FAIL, NOT_ATTEMPTED, PASS, Result

__all__ = ["Case", "Exercise", "Mistake", "Product", "run"]


@dataclass
class Mistake:
    """A typical wrong answer on one case's inputs, and the hint that names it.

    key: a short id (``"no-max"``), reported in ``Result.details["mistake"]``.
    answer: what the mistaken code returns, shaped like the right answer (a tuple
    for several outputs). A student's answer matches it when every output the
    student got wrong equals the mistake's value for that output.
    """

    key: str
    hint: str
    answer: Any


@dataclass
class Case:
    """One set of inputs, the right answer, and the typical wrong answers on them."""

    about: str  # how messages name these inputs: "x (4, 6)"
    args: tuple  # the student's function is called with copies of these
    want: Any  # the right answer: an array, or a tuple of arrays
    mistakes: list = field(default_factory=list)
    factors: tuple = ()  # (value, hint): the student's answer is value × the right one
    shapes: dict = field(default_factory=dict)  # math name -> shape, to name arrays in shape errors
    products: tuple = ()  # the right matrix products (errors.Product), to explain a failed one
    batch: tuple = ()  # the inputs' leading batch dims, to explain a reshape that drops them
    known_errors: dict = field(default_factory=dict)  # (shape, shape) or "concatenate" -> hint


@dataclass
class Exercise:
    """An exercise: its signature, cases, the library functions it may call, and what a pass says."""

    name: str
    params: tuple  # the student's parameters: ("dout", "q", "k", "v")
    outputs: tuple  # names of the returned arrays: ("dq", "dk", "dv"); one name = one array
    cases: Callable[[], list]  # -> [Case, ...], from the simplest to the hardest
    passed: str  # the pass message
    explanation: str = ""  # a few lines revealed on a pass
    allowed: frozenset = frozenset()  # gemini_np functions (by name) the student may call
    diagnose: Callable | None = None  # (got, case) -> hint or None, when the catalogue has no match
    batch_hint: str = ""  # how to keep leading batch dims, for errors that lose them
    one_row: Callable | None = None  # -> Case with a single row, tried when a batched call raises

    @property
    def signature(self) -> str:
        return f"{self.name}({', '.join(self.params)})"

    @property
    def returns(self) -> str:
        return ", ".join(self.outputs)


class Stop(Exception):
    """Ends a check early with a status and a message (never escapes :func:`run`)."""

    def __init__(self, status: str, message: str, **details):
        super().__init__(message)
        self.status, self.message, self.details = status, message, details


# ----------------------------------------------------------------------------- the library guard

#: Parts of gemini_np that compute nothing an exercise asks for: calling them is fine.
_NOT_ANSWERS = ("gemini_np.backend", "gemini_np.validation", "gemini_np.progress", "gemini_np.files",
                "gemini_np.viz", "gemini_np.exercises")
#: Helpers any exercise may call (rel_error measures, it does not answer).
ALWAYS_ALLOWED = frozenset({"rel_error", "to_numpy"})


@functools.lru_cache(maxsize=None)
def _is_library_module(module: str) -> bool:
    """A module of gemini_np whose functions compute answers (functional, reference, nn, model, ...)."""
    if module != "gemini_np" and not module.startswith("gemini_np."):
        return False
    return not any(module == part or module.startswith(part + ".") for part in _NOT_ANSWERS)


def _module_of(frame) -> str:
    return frame.f_globals.get("__name__", "") or ""


def _is_library_frame(frame) -> bool:
    return _is_library_module(_module_of(frame))


def _is_checker_frame(frame) -> bool:
    return _module_of(frame).startswith("gemini_np.exercises")


def _library_name(code) -> str:
    return getattr(code, "co_qualname", code.co_name)


class LibraryGuard:
    """Records every gemini_np function the student's code calls *directly*.

    While active it is the interpreter's profile function (``sys.setprofile``),
    told of every Python function call. A call into gemini_np counts when no
    gemini_np frame sits between it and the checker, i.e. the student's code
    made it (calls the library makes internally do not count). This catches
    every route to the library: ``gnp.softmax``, ``from gemini_np import
    softmax as sm``, ``gemini_np.reference.softmax``, a cache's methods.
    """

    def __init__(self, allowed=frozenset()):
        self.allowed = frozenset(allowed) | ALWAYS_ALLOWED
        self.calls: list[str] = []

    def __enter__(self):
        self._previous = sys.getprofile()
        sys.setprofile(self._hook)
        return self

    def __exit__(self, *exc_info):
        sys.setprofile(self._previous)
        return False

    def _hook(self, frame, event, arg):
        if event == "call" and _is_library_frame(frame) and not self._inside_library(frame):
            name = _library_name(frame.f_code)
            if frame.f_code.co_name not in self.allowed and name not in self.calls:
                self.calls.append(name)
        if self._previous is not None:
            self._previous(frame, event, arg)

    @staticmethod
    def _inside_library(frame) -> bool:
        caller = frame.f_back
        while caller is not None and not _is_checker_frame(caller):
            if _is_library_frame(caller):
                return True
            caller = caller.f_back
        return False

    def refuse(self, exercise: Exercise) -> None:
        """Stop the check if the student's code called a library function it may not use."""
        if self.calls:
            raise Stop(FAIL, write_it_yourself(exercise, self.calls), mistake="library-call")


def write_it_yourself(exercise: Exercise, names) -> str:
    listed = ", ".join(names)
    return (f"write it yourself: calling gemini_np's own {listed} does not count — the checker compares your "
            f"{exercise.name} with gemini_np's, so it would only compare gemini_np with itself")


def _library_function(fn):
    """The gemini_np function ``fn`` is (also through functools.partial or a bound method), else None."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    fn = getattr(fn, "__func__", fn)
    module = getattr(fn, "__module__", None)
    if isinstance(module, str) and _is_library_module(module):
        return getattr(fn, "__qualname__", None) or repr(fn)
    return None


# ----------------------------------------------------------------------------- calling the student's function

def _is_empty(fn) -> bool:
    """True for a function whose body does nothing (``pass``, ``...``, a docstring): it was not attempted."""
    code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    if code is None:
        return False
    for instruction in dis.get_instructions(code):
        if instruction.opname in ("RESUME", "NOP", "CACHE", "RETURN_VALUE", "RETURN_CONST"):
            continue
        if instruction.opname == "LOAD_CONST" and instruction.argval is None:
            continue
        return False
    return True


def _check_signature(fn, exercise: Exercise) -> None:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature: just call them
        return
    try:
        signature.bind(*exercise.params)
    except TypeError:
        raise Stop(FAIL, f"the checker calls {exercise.signature}, with {len(exercise.params)} "
                         f"argument{'s' if len(exercise.params) > 1 else ''}, but your function takes {signature}",
                   mistake="signature") from None


def _copy(a):
    return np.array(a, copy=True) if isinstance(a, np.ndarray) else a


def call_student(fn, case: Case, exercise: Exercise):
    """fn(*case.args) on copies of the inputs. Returns (result, names of the inputs it modified)."""
    args = tuple(_copy(a) for a in case.args)
    guard = LibraryGuard(exercise.allowed)
    with warnings.catch_warnings(), np.errstate(all="ignore"):  # NaN and inf are judged from the result
        warnings.simplefilter("ignore")
        try:
            with guard:
                result = fn(*args)
        except KeyboardInterrupt:  # the student pressed Ctrl-C: let it stop the cell
            raise
        except NotImplementedError:
            guard.refuse(exercise)
            raise Stop(NOT_ATTEMPTED, "your function still raises NotImplementedError: replace the placeholder "
                                      "line with your code") from None
        except BaseException as exc:  # any bug in the student's code becomes a hint, even sys.exit()
            guard.refuse(exercise)
            raise Stop(FAIL, _translate(exc, case, exercise), mistake="exception",
                       exception=type(exc).__name__) from None
    guard.refuse(exercise)
    if result is None:
        if _is_empty(fn):
            raise Stop(NOT_ATTEMPTED, "your function is empty (no code yet): write the code and return the result")
        raise Stop(FAIL, f"your function returned None: did you forget `return`? End it with "
                         f"`return {exercise.returns}`", mistake="no-return")
    if inspect.isgenerator(result):
        raise Stop(FAIL, "your function returned a generator: it contains `yield` (or returns `(x for ...)`); "
                         f"compute the arrays and `return {exercise.returns}`", mistake="generator")
    modified = [name for name, a, original in zip(exercise.params, args, case.args)
                if isinstance(original, np.ndarray) and not np.array_equal(a, original, equal_nan=True)]
    return result, modified


def _translate(exc, case: Case, exercise: Exercise) -> str:
    try:
        return explain_exception(exc, shapes=case.shapes, products=case.products, batch=case.batch,
                                 batch_hint=exercise.batch_hint, known=case.known_errors)
    except Exception:  # the translator must never hide the student's error behind its own
        return f"your function raised {type(exc).__name__}: {exc}"


# ----------------------------------------------------------------------------- the returned arrays

def to_array(x, name: str) -> tuple[np.ndarray, float]:
    """The student's ``x`` as a float64 array, and the tolerance its precision allows."""
    if x is None:
        raise Stop(FAIL, f"{name} is None: return the array itself", mistake="none-output")
    if inspect.isgenerator(x):
        raise Stop(FAIL, f"{name} is a generator, not an array: build the array (np.array, np.stack)",
                   mistake="generator")
    try:
        a = to_numpy(x)
    except Exception:
        a = None
    if not isinstance(a, np.ndarray) or a.dtype.kind in "OUSV":
        kind = type(x).__name__ if not isinstance(a, np.ndarray) else f"an array of {a.dtype}"
        if isinstance(a, np.ndarray) and a.dtype.kind == "O":
            try:
                return a.astype(np.float64), compare.RTOL_FLOAT64
            except (TypeError, ValueError):
                kind = "an array of Python objects (arrays of different shapes?)"
        raise Stop(FAIL, f"{name} should be an array of real numbers, got {kind}", mistake="not-an-array")
    if a.dtype.kind == "c":
        imag = float(np.max(np.abs(a.imag))) if a.size else 0.0
        raise Stop(FAIL, f"{name} is complex ({a.dtype}, imaginary parts up to {imag:.3g}); the answer is real: "
                         f"look for a complex input or np.emath / np.lib.scimath", mistake="complex")
    if a.dtype.kind == "b":
        raise Stop(FAIL, f"{name} holds True/False values; the answer is an array of real numbers",
                   mistake="not-an-array")
    precise = a.dtype == np.float64 or a.dtype.kind in "iu"
    return a.astype(np.float64), compare.RTOL_FLOAT64 if precise else compare.RTOL_LOW_PRECISION


def _outputs(result, case: Case, exercise: Exercise) -> tuple[list, float]:
    """The student's result as a list of float64 arrays, one per output, and the tolerance."""
    names, n = exercise.outputs, len(exercise.outputs)
    wants = _as_tuple(case.want)
    if n == 1:
        if isinstance(result, tuple):
            first = _try_array(result[0]) if result else None
            if first is not None and compare.close(first, wants[0], compare.RTOL_LOW_PRECISION):
                raise Stop(FAIL, f"you returned a tuple of {len(result)}; return only the array "
                                 f"{names[0]} (its first element is right)", mistake="tuple-returned")
            raise Stop(FAIL, f"you returned a tuple of {len(result)}; {exercise.name} returns one array",
                       mistake="tuple-returned")
        a, rtol = to_array(result, names[0])
        return [a], rtol
    if not isinstance(result, (tuple, list)):
        shape = getattr(result, "shape", None)
        got = f"one array of shape {tuple(shape)}" if shape is not None else f"a {type(result).__name__}"
        raise Stop(FAIL, f"return a tuple of {n} arrays ({exercise.returns}); you returned {got}",
                   mistake="too-few-outputs")
    arrays = [_try_array(r) for r in result]
    if len(result) != n:
        present = [names[i] for i, a in enumerate(arrays[:n]) if a is not None and a.shape == np.shape(wants[i])]
        if len(result) < n:
            missing = [name for name in names if name not in present] if len(present) == len(result) else []
            which = f": {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing" if missing else ""
            raise Stop(FAIL, f"you returned {len(result)} array{'s' if len(result) > 1 else ''}, but {exercise.name} "
                             f"returns {n} ({exercise.returns}){which}; return {exercise.returns}",
                       mistake="too-few-outputs")
        raise Stop(FAIL, f"you returned {len(result)} arrays, but {exercise.name} returns {n}: "
                         f"return {exercise.returns}", mistake="too-many-outputs")
    converted = [to_array(r, name) for r, name in zip(result, names)]
    return [a for a, _ in converted], max(rtol for _, rtol in converted)


def _try_array(x):
    try:
        a = np.asarray(to_numpy(x))
        return a.astype(np.float64) if a.dtype.kind in "fiu" else None
    except Exception:
        return None


def _as_tuple(x) -> tuple:
    return tuple(x) if isinstance(x, tuple) else (x,)


# ----------------------------------------------------------------------------- diagnosis

def _matches(got, answer, wants, rtol) -> bool:
    """The student's outputs equal the mistake's wherever they differ from the right ones."""
    answers = _as_tuple(answer)
    wrong = [i for i, (g, w) in enumerate(zip(got, wants)) if not compare.close(g, w, rtol)]
    return bool(wrong) and all(compare.close(got[i], answers[i], rtol) for i in wrong)


def diagnose(got, case: Case, exercise: Exercise, rtol) -> tuple[str, str]:
    """(hint, mistake key) for a wrong answer, from the most specific explanation to the most general."""
    wants = [np.asarray(w, dtype=np.float64) for w in _as_tuple(case.want)]
    names = exercise.outputs
    exact = [m for m in case.mistakes if all(compare.close(g, a, rtol) for g, a in zip(got, _as_tuple(m.answer)))]
    partial = [m for m in case.mistakes if _matches(got, m.answer, wants, rtol)]
    found = exact + partial  # a mistake that explains every output comes first
    if found:
        return found[0].hint, found[0].key
    if len(got) > 1:
        for order in itertools.permutations(range(len(got))):
            if order != tuple(range(len(got))) and all(compare.close(got[i], w, rtol) for i, w in zip(order, wants)):
                yours = ", ".join(names[order.index(i)] for i in range(len(got)))  # got[i] is names[order.index(i)]
                return (f"the right arrays in the wrong order: you returned ({yours}); return "
                        f"{exercise.returns} in that order"), "order"
    for g, w, name in zip(got, wants, names):
        if g.shape != w.shape:
            return _shape_hint(g, w, name, case), "shape"
    for g, w, name in zip(got, wants, names):
        if not np.any(g) and np.any(w):
            return f"{name} is all zeros: nothing was computed into it", "zeros"
    if exercise.diagnose is not None:
        hint = exercise.diagnose([g for g in got], case)
        if hint:
            return hint, "diagnosed"
    wrong = [(g, w, name) for g, w, name in zip(got, wants, names) if not compare.close(g, w, rtol)]
    g, w, name = wrong[0]
    others = f" ({', '.join(n for _, _, n in wrong[1:])} also wrong)" if len(wrong) > 1 else ""
    return f"{name} {compare.describe(g, w, case.factors)}{others}", "values"


def _shape_name(shape, case: Case) -> str:
    names = [name for name, s in case.shapes.items() if tuple(s) == tuple(shape)]
    return f" (the shape of {' and '.join(names)})" if names else ""


def _shape_hint(got, want, name, case: Case) -> str:
    text = (f"{name} has shape {tuple(got.shape)}{_shape_name(got.shape, case)}, expected {tuple(want.shape)}"
            f"{_shape_name(want.shape, case)}")
    if got.ndim >= 2 and got.shape == compare.swap_last_two(want).shape:
        if compare.close(compare.swap_last_two(got), want, compare.RTOL_LOW_PRECISION):
            return f"{text}: yours is the transpose of the right answer"
        return f"{text}: the last two axes are swapped"
    if got.size == want.size:
        return f"{text}: the same number of values, arranged differently"
    if case.batch and tuple(got.shape) == tuple(want.shape[len(case.batch):]):
        return f"{text}: the batch dims {tuple(case.batch)} are missing"
    return text


def _modified_note(modified) -> str:
    listed = ", ".join(modified)
    return (f"your function changed its input {listed} in place (e.g. `{modified[0]} -= ...` or "
            f"`{modified[0]} *= ...`), but the caller still needs it: write `{modified[0]} = {modified[0]} - ...` "
            f"(a new array) instead")


# ----------------------------------------------------------------------------- the whole check

def run(exercise: Exercise, fn) -> Result:
    """Check ``fn`` on every case of ``exercise``. Never raises (except KeyboardInterrupt)."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):  # typical wrong answers overflow, on purpose
            warnings.simplefilter("ignore")
            message = _check(exercise, fn)
        return Result(exercise.name, PASS, message, explanation=exercise.explanation)
    except Stop as stop:
        return Result(exercise.name, stop.status, stop.message, stop.details)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a bug in the checker itself must not stop the notebook either
        return Result(exercise.name, FAIL, f"the checker could not evaluate your answer ({type(exc).__name__}: "
                                           f"{exc}); please report this")


def _check(exercise: Exercise, fn) -> str:
    if not callable(fn):
        raise Stop(FAIL, not_a_function(fn, exercise.name), mistake="not-callable")
    own = _library_function(fn)
    if own is not None:
        raise Stop(FAIL, write_it_yourself(exercise, [own]), mistake="library-call")
    _check_signature(fn, exercise)
    cases = exercise.cases()
    passed = []
    for case in cases:
        try:
            result, modified = call_student(fn, case, exercise)
        except Stop as stop:
            if (stop.details.get("mistake") == "exception" and exercise.one_row is not None and not passed
                    and "keepdims" not in stop.message):  # a missing keepdims is named precisely already
                _try_one_row(fn, exercise, stop)
            raise _after(stop, passed, case)
        got, rtol = _outputs(result, case, exercise)
        wants = _as_tuple(case.want)
        if all(compare.close(g, w, rtol) for g, w in zip(got, wants)):
            if modified:
                raise Stop(FAIL, f"right values, but {_modified_note(modified)}", mistake="modified-input")
            passed.append(case.about)
            continue
        hint, key = diagnose(got, case, exercise, rtol)
        if modified:
            hint += f" (also: {_modified_note(modified)})"
        raise _after(Stop(FAIL, hint, mistake=key, case=case.about), passed, case)
    return exercise.passed


def _after(stop: Stop, passed, case: Case) -> Stop:
    """Prefix a failure with the cases that passed before it: "right for x (4, 6), but for ...: "."""
    if passed and stop.status == FAIL:
        stop.message = f"right for {', '.join(passed)}, but for {case.about}: {stop.message}"
    return stop


def _try_one_row(fn, exercise: Exercise, stop: Stop) -> None:
    """After a batched call raised: if one row works, the function ignores the batch axes."""
    row = exercise.one_row()
    try:
        result, _ = call_student(fn, row, exercise)
        got, rtol = _outputs(result, row, exercise)
    except Stop:
        return
    if all(compare.close(g, w, rtol) for g, w in zip(got, _as_tuple(row.want))):
        raise Stop(FAIL, f"your function works on one row ({row.about}) but not on a batch of rows (..., n): "
                         f"compute along the last axis (axis=-1, keepdims=True) instead of over the whole array. "
                         f"The batch gave: {stop.message}", mistake="one-row-only")


def not_a_function(fn, name: str) -> str:
    """The message for ``check(x, ...)`` where x is not callable (often the *result* of the function)."""
    shape = getattr(fn, "shape", None)
    what = f"an array of shape {tuple(shape)}" if shape is not None else f"a {type(fn).__name__}"
    return (f"pass the function itself, e.g. check(my_{name}, '{name}') — without calling it; "
            f"you passed {what}")
