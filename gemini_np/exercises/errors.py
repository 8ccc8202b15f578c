"""Turning an exception raised by a student's code into a hint.

NumPy's shape errors say *that* two shapes do not fit, rarely *which arrays* or
*why*. The translator finds the student's line in the traceback, reads the
shapes of the arrays it names from that line's local variables, and says what
was multiplied by what and what the formula needs, e.g.

    dk: you multiplied dS (4, 5) by Q (4, 3) — dK needs dSᵀ Q, shape (5, 3)

using the exercise's table of the right matrix products (:class:`Product`).
"""
from __future__ import annotations

import ast
import linecache
import math
import os
import re
import sysconfig
import traceback
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Product:
    """A matrix product the exercise needs, e.g. ``Product("dK", "dSᵀ Q", ("dS", (4, 5)), ("Q", (4, 3)), (5, 3))``.

    When a student's matrix product of two arrays with these shapes (in either
    order, transposed or not) fails, the hint names the quantities and the product.
    """

    result: str  # what the product computes: "dK"
    formula: str  # how: "dSᵀ Q" (with the scale, if any, left out)
    left: tuple  # (name, shape) of the factors as the formula uses them, untransposed
    right: tuple
    shape: tuple  # the result's shape


# ----------------------------------------------------------------------------- where it failed

_STDLIB_DIR = sysconfig.get_paths()["stdlib"]


def _is_student_frame(frame, filename: str) -> bool:
    """Code the student wrote: not gemini_np, not NumPy, not the standard library, not an installed package."""
    module = frame.f_globals.get("__name__", "") or ""
    if module.split(".")[0] in ("gemini_np", "numpy"):
        return False
    path = os.path.abspath(filename)
    return not ("site-packages" in path or "dist-packages" in path or path.startswith(_STDLIB_DIR))


@dataclass
class Place:
    """The student's line that raised: its number, text, the failing part of it, and its variables."""

    lineno: int
    line: str  # the whole line, stripped
    segment: str  # the failing expression (Python >= 3.11 knows its columns), else the line
    variables: dict

    def __str__(self) -> str:
        line = self.line if len(self.line) <= 100 else self.line[:97] + "..."
        return f"line {self.lineno}: `{line}`" if line else f"line {self.lineno}"


def find_place(exc: BaseException) -> Place | None:
    """The deepest frame of the traceback that is the student's own code."""
    tb, frames = exc.__traceback__, []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    summaries = traceback.extract_tb(exc.__traceback__)
    for frame, summary in reversed(list(zip(frames, summaries))):
        if not _is_student_frame(frame, summary.filename):
            continue
        raw = linecache.getline(summary.filename, summary.lineno).rstrip("\n")
        segment = raw.strip()
        colno, end = getattr(summary, "colno", None), getattr(summary, "end_colno", None)
        if colno is not None and end is not None and getattr(summary, "end_lineno", summary.lineno) == summary.lineno:
            segment = raw.encode()[colno:end].decode(errors="replace") or segment  # the columns count UTF-8 bytes
        variables = {**frame.f_globals, **frame.f_locals}
        return Place(summary.lineno, raw.strip(), segment, variables)
    return None


# ----------------------------------------------------------------------------- shapes of expressions

_REDUCTIONS = {"sum", "max", "min", "mean", "amax", "amin", "prod", "std", "var"}
_ELEMENTWISE = {"exp", "log", "sqrt", "abs", "tanh", "sin", "cos", "negative", "square", "copy", "asarray", "array"}


def _parse(text: str):
    try:
        return ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        try:
            return ast.parse(text.strip()).body[0]  # an assignment or return statement
        except (SyntaxError, IndexError):
            return None


def _constant(node):
    """The value of an int/None/bool constant or a tuple of ints (``axis=-1``, ``axis=(0, 1)``), else a marker."""
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError):
        return _UNKNOWN


_UNKNOWN = object()


def _reduce(shape, axis, keepdims):
    if axis is None:
        return tuple(1 for _ in shape) if keepdims else ()
    axes = axis if isinstance(axis, tuple) else (axis,)
    try:
        axes = {a % len(shape) for a in axes}
    except (TypeError, ZeroDivisionError):
        return None
    if keepdims:
        return tuple(1 if i in axes else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def shape_of(node, variables) -> tuple | None:
    """The shape an expression evaluates to, read from the variables' shapes without running it.

    Knows names, numbers, ``.T``/``.mT``, arithmetic, ``@``, reductions with
    ``axis``/``keepdims`` and a few elementwise functions; None when unsure.
    """
    if isinstance(node, ast.Name):
        value = variables.get(node.id)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return ()
        shape = getattr(value, "shape", None)
        return tuple(shape) if isinstance(shape, tuple) else None
    if isinstance(node, ast.Constant):
        return () if isinstance(node.value, (int, float)) else None
    if isinstance(node, ast.UnaryOp):
        return shape_of(node.operand, variables)
    if isinstance(node, ast.Attribute) and node.attr in ("T", "mT"):
        shape = shape_of(node.value, variables)
        if shape is None:
            return None
        return shape[::-1] if node.attr == "T" else shape[:-2] + shape[-2:][::-1]
    if isinstance(node, ast.BinOp):
        a, b = shape_of(node.left, variables), shape_of(node.right, variables)
        if a is None or b is None:
            return None
        if isinstance(node.op, ast.MatMult):
            return matmul_shape(a, b)
        try:
            return tuple(np.broadcast_shapes(a, b))
        except ValueError:
            return None
    if isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name)):
        return _call_shape(node, variables)
    return None


def _call_shape(node, variables):
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id
    args = list(node.args)
    # x.sum(...) (the array is before the dot) or np.sum(x, ...) (it is the first argument)
    method = isinstance(func, ast.Attribute) and shape_of(func.value, variables) is not None
    if method:
        args = [func.value] + args
    if not args:
        return None
    keywords = {k.arg: k.value for k in node.keywords}
    if name in _REDUCTIONS:
        shape = shape_of(args[0], variables)
        axis = _constant(keywords["axis"]) if "axis" in keywords else (_constant(args[1]) if len(args) > 1 else None)
        keepdims = _constant(keywords["keepdims"]) if "keepdims" in keywords else False
        if shape is None or axis is _UNKNOWN or keepdims is _UNKNOWN:
            return None
        return _reduce(shape, axis, bool(keepdims))
    if name in _ELEMENTWISE:
        return shape_of(args[0], variables)
    if name == "reshape" and method:
        return _reshaped(shape_of(args[0], variables), args[1:], variables)
    if name == "transpose" and len(args) == 1:
        shape = shape_of(args[0], variables)
        return None if shape is None else shape[::-1]
    if name in ("matmul", "dot") and len(args) == 2:
        a, b = shape_of(args[0], variables), shape_of(args[1], variables)
        return None if a is None or b is None else matmul_shape(a, b)
    return None


def _ints(nodes, variables):
    """The integers a reshape's arguments name (``b, n, h // p``, ``*batch``, a tuple), or None."""
    values = []
    for node in nodes:
        if isinstance(node, ast.Tuple):
            inner = _ints(node.elts, variables)
            if inner is None:
                return None
            values += inner
        elif isinstance(node, ast.Starred):
            value = variables.get(node.value.id) if isinstance(node.value, ast.Name) else None
            if not isinstance(value, (tuple, list)):
                return None
            values += [int(v) for v in value]
        else:
            value = _int(node, variables)
            if value is None:
                return None
            values.append(value)
    return values


_INT_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
            ast.FloorDiv: lambda a, b: a // b if b else None}


def _int(node, variables):
    """The value of a small integer expression (``h // p``, ``p * p``, ``-1``), or None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.Name) and isinstance(variables.get(node.id), int):
        return variables[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = _int(node.operand, variables)
        return None if value is None else -value
    if isinstance(node, ast.BinOp) and type(node.op) in _INT_OPS:
        a, b = _int(node.left, variables), _int(node.right, variables)
        return None if a is None or b is None else _INT_OPS[type(node.op)](a, b)
    return None


def _reshaped(shape, nodes, variables):
    """The shape of ``x.reshape(...)``: the given sizes, with a -1 worked out from x's size."""
    sizes = _ints(nodes, variables)
    if shape is None or sizes is None or sizes.count(-1) > 1:
        return None
    if -1 in sizes:
        known = math.prod(n for n in sizes if n != -1)
        if known == 0 or math.prod(shape) % known:
            return None
        sizes[sizes.index(-1)] = math.prod(shape) // known
    return tuple(sizes) if math.prod(sizes) == math.prod(shape) else None


def matmul_shape(a, b):
    """The shape of ``A @ B`` for shapes a, b (at least 2-D), or None when the inner sizes differ."""
    if len(a) < 2 or len(b) < 2 or a[-1] != b[-2]:
        return None
    try:
        batch = np.broadcast_shapes(a[:-2], b[:-2])
    except ValueError:
        return None
    return (*batch, a[-2], b[-1])


def _products_in(tree, variables):
    """Every ``A @ B`` / ``np.matmul(A, B)`` / ``np.dot(A, B)`` in ``tree``: (text A, shape A, text B, shape B)."""
    found = []
    for node in ast.walk(tree):
        pair = None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            pair = (node.left, node.right)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in ("matmul", "dot")):
            if len(node.args) == 2:
                pair = tuple(node.args)
            elif len(node.args) == 1:
                pair = (node.func.value, node.args[0])  # a.dot(b)
        if pair:
            left, right = pair
            found.append((ast.unparse(left), shape_of(left, variables), ast.unparse(right), shape_of(right, variables)))
    return found


def _elementwise_in(tree, variables):
    """Every ``A op B`` (not ``@``) in ``tree`` whose shapes do not broadcast: (text A, shape A, text B, shape B)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and not isinstance(node.op, ast.MatMult):
            a, b = shape_of(node.left, variables), shape_of(node.right, variables)
            if a is not None and b is not None and _broadcast_shape(a, b) is None:
                found.append((ast.unparse(node.left), a, ast.unparse(node.right), b))
        elif isinstance(node, ast.AugAssign) and not isinstance(node.op, ast.MatMult):
            a, b = shape_of(node.target, variables), shape_of(node.value, variables)  # x /= s writes into x
            if a is not None and b is not None and _broadcast_shape(a, b) != tuple(a):
                found.append((ast.unparse(node.target), a, ast.unparse(node.value), b))
    return found


def _broadcast_shape(a, b):
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        return None


# ----------------------------------------------------------------------------- the messages

def _fmt(shape) -> str:
    return str(tuple(int(n) for n in shape))


def _shapes_in_message(message: str):
    return [tuple(int(n) for n in re.findall(r"\d+", group)) for group in re.findall(r"\(([\d,\s]*)\)", message)]


def _glossary(shapes: dict) -> str:
    if not shapes:
        return ""
    return " Shapes here: " + ", ".join(f"{name} {_fmt(shape)}" for name, shape in shapes.items()) + "."


def _name(shape, shapes: dict, fallback: str) -> str:
    names = [name for name, s in shapes.items() if tuple(s) == tuple(shape)]
    return " / ".join(names) if names else fallback


def _key(shape):
    return tuple(sorted(shape[-2:]))


def _matching_product(sa, sb, products):
    """The product whose factors have shapes sa and sb (either order, up to a transpose), and which factor is which."""
    for p in products:
        left, right = p.left[1], p.right[1]
        if (_key(sa), _key(sb)) == (_key(left), _key(right)):
            return p, (p.left, p.right)
        if (_key(sa), _key(sb)) == (_key(right), _key(left)):
            return p, (p.right, p.left)
    return None, None


def _factor_name(shape, factor) -> str:
    name, expected = factor
    transposed = tuple(shape[-2:]) != tuple(expected[-2:]) and tuple(shape[-2:]) == tuple(expected[-2:])[::-1]
    return f"{name}ᵀ" if transposed else name


def explain_matmul(exc, place, shapes, products) -> str:
    """A failed matrix product: which arrays, which shapes, what the formula needs."""
    candidates = []
    if place is not None:
        for text in (place.segment, place.line):
            tree = _parse(text)
            if tree is not None:
                candidates = [c for c in _products_in(tree, place.variables)
                              if c[1] is not None and c[3] is not None and matmul_shape(c[1], c[3]) is None]
            if candidates:
                break
    if not candidates:
        given = _shapes_in_message(str(exc))  # np.dot says "shapes (4,5) and (4,3) not aligned"
        if "not aligned" in str(exc) and len(given) >= 2:
            candidates = [("A", given[0], "B", given[1])]
    if not candidates:
        return (f"a matrix product has factors whose inner sizes differ ({exc})."
                f"{_glossary(shapes)} A @ B needs A's last size to equal B's second-to-last size.")
    text_a, sa, text_b, sb = candidates[-1]  # ast.walk goes outside-in: the last one is the innermost
    product, factors = _matching_product(sa, sb, products)
    if product is not None:
        name_a, name_b = _factor_name(sa, factors[0]), _factor_name(sb, factors[1])
        return (f"{product.result.lower()}: you multiplied {name_a} {_fmt(sa)} by {name_b} {_fmt(sb)} — "
                f"{product.result} needs {product.formula}, shape {_fmt(product.shape)}")
    name_a, name_b = _name(sa, shapes, text_a), _name(sb, shapes, text_b)
    return (f"you multiplied {name_a} {_fmt(sa)} by {name_b} {_fmt(sb)}: A @ B needs A's last size ({sa[-1]}) "
            f"to equal B's second-to-last size ({sb[-2] if len(sb) >= 2 else sb[-1]}).{_glossary(shapes)}")


def _dropped_axis(full, reduced):
    """The axis i such that ``reduced`` is ``full`` without axis i (a reduction without keepdims), else None."""
    if len(reduced) != len(full) - 1:
        return None
    for i in range(len(full) - 1, -1, -1):
        if tuple(full[:i]) + tuple(full[i + 1:]) == tuple(reduced):
            return i
    return None


def explain_broadcast(exc, place, shapes, known) -> str:
    """An elementwise operation on shapes that do not broadcast; a missing ``keepdims`` is named."""
    pairs = []
    if place is not None:
        for text in (place.segment, place.line):
            tree = _parse(text)
            if tree is not None:
                pairs = _elementwise_in(tree, place.variables)
            if pairs:
                break
    given = _shapes_in_message(str(exc))
    if pairs:
        text_a, sa, text_b, sb = pairs[-1]
    elif len(given) >= 2:
        (text_a, sa), (text_b, sb) = ("an array of shape", given[0]), ("one of shape", given[1])
    else:
        return f"two arrays with shapes that do not fit were combined elementwise ({exc}).{_glossary(shapes)}"
    for pair, hint in known.items():
        if {tuple(sa), tuple(sb)} == set(pair):
            return hint
    for full, text_full, reduced, text_reduced in ((sa, text_a, sb, text_b), (sb, text_b, sa, text_a)):
        axis = _dropped_axis(full, reduced)
        if axis is not None:
            kept = list(full)
            kept[axis] = 1
            reduced_text = "the sum (or max)" if not pairs else text_reduced
            full_text = "the array" if not pairs else text_full
            return (f"missing keepdims=True: {reduced_text} has shape {_fmt(reduced)}, because the sum/max dropped "
                    f"the axis it ran over, so it does not line up with {full_text} {_fmt(full)} (NumPy matches "
                    f"shapes from the right). With keepdims=True it keeps that axis with size 1, {_fmt(kept)}, "
                    f"and broadcasts")
    name_a, name_b = _name(sa, shapes, text_a), _name(sb, shapes, text_b)
    return (f"you combined {name_a} {_fmt(sa)} and {name_b} {_fmt(sb)} elementwise, but NumPy can only pair "
            f"axes of equal size (or size 1), matching shapes from the right.{_glossary(shapes)}")


def explain_reshape(exc, batch, batch_hint) -> str:
    match = re.search(r"size (\d+) into shape \(([^)]*)\)", str(exc))
    if not match:
        return f"a reshape failed ({exc})"
    size = int(match.group(1))
    target = tuple(int(n) for n in re.findall(r"-?\d+", match.group(2)))
    text = f"you reshaped {size} values into {_fmt(target)}"
    if -1 not in target:
        text += f", which holds {math.prod(target)}"
        if batch and size == math.prod(batch) * math.prod(target):
            return f"{text}: the new shape leaves out the batch dims {_fmt(batch)}. {batch_hint}".strip()
    return f"{text}: a reshape must keep the number of values. {batch_hint}".strip()


def _unpacked_length(place):
    """How many values the right-hand side of the failing ``a, b, c = ...`` holds (``x.shape`` or a name), or None."""
    tree = _parse(place.line) if place else None
    if not isinstance(tree, ast.Assign):
        return None
    value = tree.value
    if isinstance(value, ast.Attribute) and value.attr == "shape":
        shape = shape_of(value.value, place.variables)
        return None if shape is None else len(shape)
    if isinstance(value, ast.Name):
        try:
            return len(place.variables.get(value.id))
        except TypeError:
            return None
    return None


def explain_unpack(exc, place, batch_hint) -> str:
    match = re.search(r"expected (\d+)(?:, got (\d+))?", str(exc))
    expected = match.group(1) if match else "?"
    what = f"`{place.line}` " if place else ""
    length = match.group(2) if match and match.group(2) else _unpacked_length(place)
    got = f"{length} values" if length is not None else ("more values" if "too many" in str(exc) else "fewer values")
    return f"{what}unpacks {got} into {expected} names. {batch_hint}".strip()


def explain_transpose(place) -> str:
    """A transpose whose list of axes does not match its array's number of dims."""
    tree = _parse(place.line) if place else None
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "transpose":
            array, axes = node.func.value, list(node.args)
            if shape_of(array, place.variables) is None and axes:  # np.transpose(x, axes)
                array, axes = axes[0], list(axes[1].elts) if len(axes) > 1 and hasattr(axes[1], "elts") else []
            elif len(axes) == 1 and hasattr(axes[0], "elts"):  # x.transpose((0, 2, 1))
                axes = list(axes[0].elts)
            shape = shape_of(array, place.variables)
            if shape is not None and axes and len(axes) != len(shape):
                return (f"{ast.unparse(node)} lists {len(axes)} axes, but {ast.unparse(array)} has {len(shape)} "
                        f"dims, shape {_fmt(shape)}: name every axis once")
    return "a transpose lists a different number of axes than its array has dims"


def _shorten(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def explain_exception(exc, *, shapes=None, products=(), batch=(), batch_hint="", known=None) -> str:
    """One hint for any exception the student's code raised (without the "line N" part; see :func:`find_place`)."""
    shapes, known = shapes or {}, known or {}
    message = _shorten(str(exc))
    place = find_place(exc)
    if ("matmul" in message and "mismatch in its core dimension" in message) or "not aligned" in message:
        hint = explain_matmul(exc, place, shapes, products)
    elif "could not be broadcast" in message or "non-broadcastable" in message:
        hint = explain_broadcast(exc, place, shapes, known)
    elif "cannot reshape" in message:
        hint = explain_reshape(exc, batch, batch_hint)
    elif "values to unpack" in message:
        hint = explain_unpack(exc, place, batch_hint)
    elif "axes don't match array" in message:
        hint = f"{explain_transpose(place)}. {batch_hint}".strip()
    elif re.search(r"axis -?\d+ is out of bounds", message):
        hint = f"{message}: count axes from the end, axis=-1 is the last axis whatever the number of dims"
    elif "concatenation axis must match" in message:
        hint = explain_concatenate(exc, known)
    else:
        hint = f"your function raised {type(exc).__name__}" + (f": {message}" if message else "")
    return f"{hint} ({place})" if place else hint


def explain_concatenate(exc, known) -> str:
    sizes = re.search(r"along dimension (\d+), the array at index (\d+) has size (\d+) "
                      r"and the array at index (\d+) has size (\d+)", str(exc))
    hint = known.get("concatenate")
    if sizes:
        dim, _, a, _, b = sizes.groups()
        text = (f"np.concatenate stacks along one axis; every other axis must have the same size, "
                f"but axis {dim} has sizes {a} and {b}")
        return f"{text}. {hint}" if hint else text
    return hint or f"np.concatenate failed: {exc}"
