"""Comparing a student's array with the right one, and saying *how* they differ.

A right float64 answer agrees with the library to about 1e-15, so ``close`` can
be strict. When the answer is wrong, ``describe`` reports something a student
can act on instead of one saturated number: a constant factor (that is how a
scale mistake shows), a transpose, which rows differ, the largest difference.
"""
from __future__ import annotations

import numpy as np

#: Relative tolerance for float64 answers (a right answer is ~1e-15 off), and for
#: answers the student computed in float32 (~1e-7 off).
RTOL_FLOAT64, RTOL_LOW_PRECISION = 1e-8, 1e-4
ATOL = 1e-11


def close(got, want, rtol: float = RTOL_FLOAT64) -> bool:
    """Same shape and the same values; NaN only where ``want`` has NaN (typical wrong answers may).

    In float32 an entry near 0 carries the rounding error of the largest ones, so
    the absolute tolerance there is ``rtol`` times the largest entry.
    """
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return False
    with np.errstate(all="ignore"):
        finite = np.abs(want[np.isfinite(want)])
        atol = ATOL if rtol <= RTOL_FLOAT64 else rtol * float(np.max(finite, initial=1.0))
        return bool(np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True))


def swap_last_two(a):
    """``a`` with its last two axes exchanged (the transpose of every matrix in a stack)."""
    return np.swapaxes(a, -1, -2) if np.ndim(a) >= 2 else a


def constant_factor(got, want) -> float | None:
    """c when ``got`` = c · ``want`` entry by entry (c ≠ 1), else None.

    c is the least-squares fit <got, want> / <want, want>; it counts only when it
    explains ``got`` to 1e-6.
    """
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape or not np.all(np.isfinite(got)) or not np.any(want):
        return None
    c = float(np.sum(got * want) / np.sum(want * want))
    if abs(c - 1.0) < 1e-6 or np.linalg.norm(got - c * want) > 1e-6 * np.linalg.norm(got):
        return None
    return c


def name_factor(c: float, factors) -> str | None:
    """The hint of the first ``(value, hint)`` in ``factors`` whose value is c."""
    for value, hint in factors:
        if np.isclose(c, value, rtol=1e-6, atol=0.0):
            return hint
    return None


def _rows(mask) -> str:
    """'rows 0, 2 of 4' for a boolean mask over the leading axes (a row = one last-axis slice)."""
    idx = [tuple(int(i) for i in row) for row in np.argwhere(mask)]
    shown = ", ".join(str(i[0]) if len(i) == 1 else str(i) for i in idx[:4])
    more = f" and {len(idx) - 4} more" if len(idx) > 4 else ""
    return f"{'row' if len(idx) == 1 else 'rows'} {shown}{more} (of {mask.size})"


def describe(got, want, factors=()) -> str:
    """How ``got`` differs from ``want`` (same shape), in words; never a bare saturated number.

    factors: ``(value, hint)`` pairs naming known constant factors, e.g.
    ``(√d_k, "the scale 1/√d_k is missing")``.
    """
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    bad = ~np.isfinite(got)
    if bad.any():
        where = _rows(bad.any(axis=-1)) if got.ndim >= 2 else f"{int(bad.sum())} of {got.size} entries"
        return f"contains NaN or inf ({where}), where the right answer is finite"
    if not np.any(got):
        return "is all zeros: nothing was computed into it"
    c = constant_factor(got, want)
    if c is not None:
        named = name_factor(c, factors)
        return named if named else f"is {c:.4g} × the right answer, entry by entry: a constant factor is off"
    if got.ndim >= 2 and got.shape[-1] == got.shape[-2] and close(swap_last_two(got), want):
        return "is the transpose of the right answer"
    with np.errstate(all="ignore"):
        diff = np.abs(got - want)
        relative = float(np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-300))
    parts = [f"off by {relative:.2g} × the size of the right answer (‖yours − right‖ / ‖right‖)"]
    if got.ndim >= 2:
        wrong_rows = ~np.all(np.isclose(got, want, rtol=RTOL_FLOAT64, atol=ATOL), axis=-1)
        if not wrong_rows.all():
            parts.append(f"only {_rows(wrong_rows)} differ")
    i = np.unravel_index(int(np.argmax(diff)), diff.shape)
    index = ", ".join(str(int(j)) for j in i)
    parts.append(f"largest difference at [{index}]: yours {got[i]:.4g}, right {want[i]:.4g}")
    return "; ".join(parts)
