"""functional/masking.py: masks, and the fully-masked-row rule, written once for every kernel.

A query whose keys are all masked out has only -inf logits; the textbook softmax then
computes (-inf) − (-inf) = NaN. The rule: such a row gets weights 0, output 0 and
gradients 0, never NaN. It holds for softmax itself, plain attention, the blocked
(online-softmax) path, including a row whose first key *block* is fully masked, and
fusion attention, with bool and float masks, in float32 and float64.
"""
import numpy as np
import pytest

import gemini_np as gnp
from gemini_np.functional.masking import apply_mask, finite_shift, nonzero
from helpers import random_qkv

DTYPES = [np.float32, np.float64]
#: Query 0 may attend to nothing; query 1 to keys 0 and 2 only (key 1 is masked for everyone).
BOOL_MASK = np.array([[False, False, False], [True, False, True]])
FLOAT_MASK = np.array([[-np.inf, -np.inf, -np.inf], [0.0, -np.inf, 1.0]])


# ---------------------------------------------------------------- the helpers


def test_apply_mask_bool_sets_minus_inf_where_false():
    s = np.arange(6.0).reshape(2, 3)
    masked = apply_mask(s.copy(), BOOL_MASK)
    np.testing.assert_array_equal(masked, np.where(BOOL_MASK, s, -np.inf))
    assert apply_mask(s, None) is s


def test_apply_mask_float_is_added_in_the_logits_dtype():
    s = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    bias = np.array([[0.5, -1.0, 2.0]])  # float64, broadcast over the rows
    masked = apply_mask(s.copy(), bias)
    assert masked.dtype == np.float32
    np.testing.assert_array_equal(masked, s + bias.astype(np.float32))


def test_finite_shift_replaces_only_minus_inf():
    m = np.array([[-np.inf], [3.0], [-2.5]])
    np.testing.assert_array_equal(finite_shift(m), [[0.0], [3.0], [-2.5]])


def test_nonzero_replaces_only_zero():
    total = np.array([[0.0], [1e-300], [2.0]])
    np.testing.assert_array_equal(nonzero(total), [[1.0], [1e-300], [2.0]])


# ---------------------------------------------------------------- softmax


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_of_an_all_minus_inf_row_is_zero(dtype):
    x = np.array([[-np.inf, -np.inf], [0.0, -np.inf]], dtype=dtype)
    y = gnp.softmax(x)
    np.testing.assert_array_equal(y, [[0, 0], [1, 0]])
    dx = gnp.softmax_backward(np.array([[1.0, 2.0], [3.0, 4.0]], dtype=dtype), y)
    np.testing.assert_array_equal(dx, np.zeros_like(x))


# ---------------------------------------------------------------- attention, plain and blocked


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mask", [BOOL_MASK, FLOAT_MASK], ids=["bool", "float"])
@pytest.mark.parametrize("block_size", [None, 1, 2])
def test_attention_fully_masked_row_gives_zeros_not_nan(dtype, mask, block_size):
    rng = np.random.default_rng(0)
    q, k, v = random_qkv(rng, (), 2, 3, 2, 2, dtype)
    out, cache = gnp.attention_forward(q, k, v, mask=mask, block_size=block_size)
    np.testing.assert_array_equal(out[0], 0)
    if block_size is None:
        np.testing.assert_array_equal(cache.weights[0], 0)
    assert np.all(np.isfinite(out))
    dq, dk, dv = gnp.attention_backward(rng.standard_normal(out.shape).astype(dtype), cache)
    np.testing.assert_array_equal(dq[0], 0)  # the fully masked query has no gradient
    np.testing.assert_array_equal(dk[1], 0)  # key 1 is masked for every query
    np.testing.assert_array_equal(dv[1], 0)
    assert all(np.all(np.isfinite(g)) for g in (dq, dk, dv))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", [bool, float])
def test_blocked_path_with_a_fully_masked_first_block(dtype, kind):
    """Query 0: every key masked. Query 1: the whole first block of keys masked (its running
    max stays -inf for a block, then becomes finite). Key 2: masked for everyone.
    The blocked path gives the plain path's numbers."""
    allowed = np.array([[0, 0, 0, 0, 0], [0, 0, 0, 1, 1], [1, 1, 0, 0, 1]], dtype=bool)
    mask = allowed if kind is bool else np.where(allowed, 0.0, -np.inf)
    rng = np.random.default_rng(0)
    q, k, v = random_qkv(rng, (), 3, 5, 2, 2, dtype)
    dout = rng.standard_normal((3, 2)).astype(dtype)
    out, cache = gnp.attention_forward(q, k, v, mask=mask, block_size=2)
    dq, dk, dv = gnp.attention_backward(dout, cache)
    np.testing.assert_array_equal(out[0], 0)
    np.testing.assert_array_equal(dq[0], 0)
    np.testing.assert_array_equal(dk[2], 0)
    np.testing.assert_array_equal(dv[2], 0)
    out_plain, cache_plain = gnp.attention_forward(q, k, v, mask=mask)
    rtol = 1e-10 if dtype == np.float64 else 1e-6
    for got, want in zip((out, dq, dk, dv), (out_plain, *gnp.attention_backward(dout, cache_plain))):
        assert np.all(np.isfinite(got))
        assert np.max(np.abs(got - want)) <= rtol * np.max(np.abs(want))


@pytest.mark.parametrize("block_size", [None, 3])
def test_every_row_masked_everywhere(block_size):
    rng = np.random.default_rng(1)
    q, k, v = random_qkv(rng, (2,), 3, 4, 2, 2)
    out, cache = gnp.attention_forward(q, k, v, mask=np.zeros((3, 4), dtype=bool), block_size=block_size)
    assert not np.any(out)
    assert not any(np.any(g) for g in gnp.attention_backward(np.ones_like(out), cache))


def test_blocked_log_sum_exp_of_a_fully_masked_row_is_zero():
    """lse = m + log l with the shift 0 and l replaced by 1: log 1 = 0, so exp(S − lse) stays 0."""
    rng = np.random.default_rng(2)
    q, k, v = random_qkv(rng, (), 2, 3, 2, 2)
    _, cache = gnp.attention_forward(q, k, v, mask=BOOL_MASK, block_size=2)
    assert cache.lse[0, 0] == 0.0 and np.isfinite(cache.lse[1, 0])


# ---------------------------------------------------------------- fusion


@pytest.mark.parametrize("mask", [np.array([[False, False], [True, False]]),
                                  np.array([[-np.inf, -np.inf], [0.0, -np.inf]])], ids=["bool", "float"])
def test_fusion_fully_masked_row_gives_zeros(mask):
    rng = np.random.default_rng(1)
    shapes = [(3, 2, 2), (3, 2, 2), (3, 2, 3), (3, 2, 3), (3, 2, 2)]
    q_t, k_t, q_i, k_i, v = (rng.standard_normal(s) for s in shapes)
    out, cache = gnp.fusion_attention_forward(q_t, k_t, q_i, k_i, v, mask=mask)
    assert not np.any(out[:, 0]) and np.all(np.isfinite(out))
    assert not np.any(cache.weights[:, 0])
    dq_t, dk_t, dq_i, dk_i, dv = gnp.fusion_attention_backward(np.ones_like(out), cache)
    assert not np.any(dq_t[:, 0]) and not np.any(dq_i[:, 0])
    assert not np.any(dk_t[:, 1]) and not np.any(dk_i[:, 1]) and not np.any(dv[:, 1])  # key 1 never attended
    assert all(np.all(np.isfinite(g)) for g in (dq_t, dk_t, dq_i, dk_i, dv))
