"""Exercises of notebook 05 (multi-head attention, positional encoding): split_heads, sinusoidal_positions."""
from __future__ import annotations

import math

import numpy as np

from ..model import sinusoidal_positions
from ..nn import split_heads
from .harness import Case, Exercise, Mistake

# ----------------------------------------------------------------------------- split_heads


def _split_heads_case(shape, n_heads):
    b, n, d = shape
    d_head = d // n_heads
    x = np.arange(math.prod(shape), dtype=np.float64).reshape(shape)  # distinct values: every feature can be traced
    want = np.array(split_heads(x, n_heads))
    mistakes = [
        Mistake("plain-reshape", "a plain reshape to (B, h, n, d/h) mixes tokens and heads: first cut each token's "
                                 "features into heads, (B, n, h, d/h), then swap the token and head axes",
                x.reshape(b, n_heads, n, d_head)),
        Mistake("no-transpose", "the head axis must come before the tokens: (B, n, h, d/h) -> (B, h, n, d/h), "
                                "e.g. .transpose(0, 2, 1, 3)", x.reshape(b, n, n_heads, d_head)),
        Mistake("interleaved", "your heads are interleaved: head j must get the contiguous block of features "
                               "j·d/h … (j+1)·d/h − 1, yours takes every h-th feature (reshape to (B, n, h, d/h), "
                               "not (B, n, d/h, h))", x.reshape(b, n, d_head, n_heads).transpose(0, 3, 1, 2)),
        Mistake("heads-and-size-swapped", f"you made d/h = {d_head} heads of n_heads = {n_heads} features: reshape to "
                                          f"(B, n, n_heads, d/h), n_heads first",
                x.reshape(b, n, d_head, n_heads).transpose(0, 2, 1, 3)),
        Mistake("features-before-tokens", "the order is (B, h, n, d/h): tokens, then the features of a head",
                np.swapaxes(want, -1, -2)),
    ]
    shapes = {"x": x.shape, "the result": want.shape}
    return Case(f"x {shape}, {n_heads} heads", (x, n_heads), want, mistakes, shapes=shapes)


def _split_heads_cases():
    return [_split_heads_case((2, 5, 12), 3), _split_heads_case((1, 4, 6), 2), _split_heads_case((2, 3, 4), 1)]


def _split_heads_diagnose(got, case):
    (heads,), x = got, case.args[0]
    want = case.want
    _, n, d = x.shape
    index = tuple(int(i) for i in np.argwhere(heads != want)[0])
    b, j, t = index[0], index[1], index[2]
    values = heads[b, j, t]
    right = want[b, j, t]
    if np.all(np.isin(values, x)):
        tokens = sorted({int(v) // d % n for v in values})
        features = [int(v) % d for v in values]
        return (f"head {j} of token {t} should hold features {int(right[0]) % d} … {int(right[-1]) % d} of token {t}; "
                f"yours holds features {features} of token{'s' if len(tokens) > 1 else ''} {tokens}")
    return f"head {j} of token {t} holds values that are not features of x: {np.round(values, 4).tolist()}"


SPLIT_HEADS = Exercise(
    name="split_heads",
    params=("x", "n_heads"),
    outputs=("heads",),
    cases=_split_heads_cases,
    diagnose=_split_heads_diagnose,
    passed="head j gets features j·d/h … (j+1)·d/h − 1 of every token, in the order (B, h, n, d/h)",
    explanation="reshape (B, n, d) -> (B, n, h, d/h) cuts each token's features into h contiguous blocks; the\n"
                "transpose to (B, h, n, d/h) makes each head a batch entry, so one batched attention runs all\n"
                "heads at once. merge_heads is the inverse (transpose back, reshape), and also its adjoint.",
)

# ----------------------------------------------------------------------------- sinusoidal_positions


def _code(pos, rate, *, interleave=False, cos_first=False, divide=True):
    """A position code from positions (n, 1) and rates (1, f), with one of the typical variations."""
    angle = pos / rate if divide else pos * rate
    first, second = (np.cos(angle), np.sin(angle)) if cos_first else (np.sin(angle), np.cos(angle))
    if interleave:
        pe = np.empty((pos.shape[0], 2 * rate.shape[-1]))
        pe[:, 0::2], pe[:, 1::2] = first, second
        return pe
    return np.concatenate([first, second], axis=-1)


def _sinusoidal_case(n, d):
    want = sinusoidal_positions(n, d, like=np.zeros(1))
    pos = np.arange(n, dtype=np.float64)[:, None]
    i = np.arange(d // 2, dtype=np.float64)[None, :]
    rate = 10000.0 ** (2 * i / d)  # the rates of the right code, to vary one thing at a time
    mistakes = [
        Mistake("interleaved", "sines and cosines are interleaved (the paper's layout); here the sines fill the "
                               "first half of the features and the cosines the second: pe[pos, i] = sin(...), "
                               "pe[pos, d/2 + i] = cos(...)", _code(pos, rate, interleave=True)),
        Mistake("cos-first", "the cosines come first: the sines fill the first half, pe[pos, i] = sin(...)",
                _code(pos, rate, cos_first=True)),
        Mistake("exponent-i/d", "wrong exponent: the rate is 10000^(2i/d) for i = 0 … d/2 − 1; yours is "
                                "10000^(i/d)", _code(pos, 10000.0 ** (i / d))),
        Mistake("exponent-doubled", "wrong exponent: with i = 0 … d/2 − 1 the rate is 10000^(2i/d); yours is "
                                    "10000^(4i/d) (with i already counting in steps of 2, write 10000^(i/d))",
                _code(pos, 10000.0 ** (4 * i / d))),
        Mistake("multiplied", "the angle is pos / 10000^(2i/d), a division: yours multiplies",
                _code(pos, rate, divide=False)),
        Mistake("positions-from-1", "positions start at 0: the first row is sin(0) = 0 and cos(0) = 1",
                _code(pos + 1, rate)),
        Mistake("d-frequencies", f"you used d = {d} frequencies, so 2d features: use d/2 = {d // 2} frequencies "
                                 f"(i < d/2), one sine and one cosine each",
                _code(pos, 10000.0 ** (2 * np.arange(d, dtype=np.float64)[None, :] / d))),
        Mistake("transposed", f"the result is (n, d) = ({n}, {d}), one row per position; yours is (d, n)", want.T),
    ]
    return Case(f"n = {n}, d = {d}", (n, d), want, mistakes)


def _sinusoidal_cases():
    return [_sinusoidal_case(6, 8), _sinusoidal_case(10, 4), _sinusoidal_case(3, 16)]


SINUSOIDAL_POSITIONS = Exercise(
    name="sinusoidal_positions",
    params=("n", "d"),
    outputs=("pe",),
    cases=_sinusoidal_cases,
    passed="pe[pos, i] = sin(pos / 10000^(2i/d)) and pe[pos, d/2 + i] = cos(same), for three sizes",
    explanation="Each pair (sin, cos) of one rate turns pos into a point on a circle; moving by k positions is a\n"
                "rotation that depends only on k, so the model can learn relative offsets. The rates run from 1\n"
                "to 1/10000, from fast to slow, like the hands of a clock.",
)
