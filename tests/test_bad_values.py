"""Hostile values for every scalar argument of the public ops: a ValueError or TypeError, never anything else.

The rule (gemini_np.validation): TypeError for the wrong kind of object, ValueError for the right
kind with a bad value. Hypothesis draws from every kind of bad value; an op may only answer with
one of those two, and valid values must be accepted.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gemini_np as gnp
import gemini_np.functional as F

rng = np.random.default_rng(0)
Q, K, V = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 2))
IMG = rng.standard_normal((1, 4, 4, 3))
X = rng.standard_normal((2, 3, 4))

#: Objects of the wrong kind for any number.
WRONG_KINDS = st.one_of(st.text(max_size=3), st.none(), st.booleans(), st.lists(st.integers(), max_size=2),
                        st.just(np.ones(2)), st.just(object()), st.just(1 + 2j), st.just(np.array(0.5)))
#: Real numbers of every size and sign, including the non-finite ones and ints beyond float range.
ANY_REAL = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-10**500, max_value=10**500),
                     st.sampled_from([0, 0.0, -0.0, 10**400, -10**400, 5e-324, 1.7e308, math.inf, -math.inf, math.nan]))


def answers_cleanly(call):
    """Run ``call``; return True if it succeeded, False if it raised ValueError/TypeError; fail otherwise.

    NumPy's overflow warnings are let through: a valid but enormous scale (say 1e308) makes the
    logits overflow, and then the op behaves as NumPy arithmetic does (it warns; inf/NaN result).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            call()
    except (ValueError, TypeError) as exc:
        assert str(exc), "an error without a message"
        return False
    return True


def positive_finite(value) -> bool:
    """A real number (not a bool) that is finite and > 0: what a scale or an eps may be."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value)) and value > 0
    except OverflowError:  # an int beyond float's range
        return False


SCALED_OPS = {
    "attention": lambda s: gnp.attention_forward(Q, K, V, scale=s),
    "blocked attention": lambda s: gnp.attention_forward(Q, K, V, scale=s, block_size=2),
    "fusion": lambda s: gnp.fusion_attention_forward(Q, K, Q, K, V, scale=s),
    "patch attention": lambda s: gnp.patch_attention_forward(IMG, IMG, IMG, 2, scale=s),
}


@pytest.mark.parametrize("op", SCALED_OPS)
@given(scale=st.one_of(ANY_REAL, WRONG_KINDS))
def test_scale_of_any_value(op, scale):
    accepted = answers_cleanly(lambda: SCALED_OPS[op](scale))
    assert accepted == (scale is None or positive_finite(scale))  # None means the default 1/√d_k


SIZE_ARGUMENTS = {
    "patchify p": lambda p: gnp.patchify(IMG, p),
    "unpatchify p": lambda p: gnp.unpatchify(gnp.patchify(IMG, 2), p),
    "patch attention p": lambda p: gnp.patch_attention_forward(IMG, IMG, IMG, p),
    "block_size": lambda b: gnp.attention_forward(Q, K, V, block_size=b),
    "softmax axis": lambda a: gnp.softmax(Q, axis=a),
    "embedding padding_id": lambda i: F.embedding_forward(np.array([[1, 2]]), np.ones((5, 3)), padding_id=i),
}


@pytest.mark.parametrize("argument", SIZE_ARGUMENTS)
@given(value=st.one_of(st.integers(min_value=-10**30, max_value=10**30), st.floats(), WRONG_KINDS))
def test_integer_arguments_of_any_value(argument, value):
    answers_cleanly(lambda: SIZE_ARGUMENTS[argument](value))  # only ValueError/TypeError may come out


@given(eps=st.one_of(ANY_REAL, WRONG_KINDS))
def test_layer_norm_eps_of_any_value(eps):
    accepted = answers_cleanly(lambda: F.layer_norm_forward(X, np.ones(4), np.zeros(4), eps=eps))
    assert accepted == positive_finite(eps)


@pytest.mark.parametrize("call", [
    lambda: gnp.attention_forward(np.ones((3, 0)), np.ones((4, 0)), np.ones((4, 2))),
    lambda: gnp.attention_forward(np.ones((3, 0)), np.ones((4, 0)), np.ones((4, 2)), block_size=2),
    lambda: gnp.fusion_attention_forward(np.ones((3, 0)), np.ones((4, 0)), np.ones((3, 2)), np.ones((4, 2)),
                                         np.ones((4, 2))),
    lambda: gnp.patch_attention_forward(np.ones((2, 2, 0)), np.ones((2, 2, 0)), np.ones((2, 2, 1)), 2),
], ids=["attention", "blocked", "fusion", "patch"])
def test_zero_width_queries_with_the_default_scale_name_d_k(call):
    with pytest.raises(ValueError, match=r"d_k = 0"):
        call()


def test_zero_width_queries_with_an_explicit_scale_are_fine():
    out, _ = gnp.attention_forward(np.ones((3, 0)), np.ones((4, 0)), np.ones((4, 2)), scale=1.0)
    np.testing.assert_allclose(out, np.ones((3, 2)))  # every logit 0: uniform weights over identical values


@pytest.mark.parametrize("op", SCALED_OPS)
def test_a_huge_integer_scale_names_the_value_briefly(op):
    with pytest.raises(ValueError, match=r"scale must be finite, got an integer of 401 digits"):
        SCALED_OPS[op](10**400)
