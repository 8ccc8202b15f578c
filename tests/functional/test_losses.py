"""sigmoid and binary cross-entropy on logits: stable forms, the whole verification ladder."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gemini_np.functional as F
import loops as ref
from helpers import assert_conditioned_finite_differences, assert_f32_matches_f64

TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-11, atol=1e-13)}
SEEDS = [0, 1, 2]
seeds = st.integers(0, 2**32 - 1)
dtypes = st.sampled_from([np.float32, np.float64])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", [(6,), (2, 3)])
def test_bce_finite_differences(seed, shape):
    def draw(rng):
        return {"logits": 2 * rng.standard_normal(shape)}, {"labels": rng.random(shape)}  # soft labels too

    assert_conditioned_finite_differences(F.bce_with_logits_forward, F.bce_with_logits_backward, draw, seed)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_and_sigmoid_match_loop_reference(dtype):
    rng = np.random.default_rng(7)
    z = (rng.standard_normal((3, 4)) * 4).astype(dtype)
    y = (rng.random((3, 4)) > 0.5).astype(dtype)
    np.testing.assert_allclose(F.sigmoid(z), ref.sigmoid(z), **TOL[dtype])
    loss, cache = F.bce_with_logits_forward(z, y)
    assert np.asarray(loss).dtype == dtype and np.ndim(loss) == 0
    np.testing.assert_allclose(float(loss), ref.bce(z, y), rtol=TOL[dtype]["rtol"])
    for dloss in (1.0, np.float64(2.0), np.asarray(0.5, dtype=dtype)):
        dz = F.bce_with_logits_backward(dloss, cache)
        assert dz.dtype == dtype
        np.testing.assert_allclose(dz, float(dloss) * ref.bce_grad(z, y), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_of_1e3_is_stable(dtype):
    z = np.array([1e3, -1e3, 1e3, -1e3], dtype=dtype)
    y = np.array([1.0, 0.0, 0.0, 1.0], dtype=dtype)
    np.testing.assert_array_equal(F.sigmoid(z), [1, 0, 1, 0])
    loss, cache = F.bce_with_logits_forward(z, y)
    # right answers: log(1 + e^-1000) ≈ 0 twice, and 1000 for each confidently wrong logit
    np.testing.assert_allclose(float(loss), (0 + 0 + 1e3 + 1e3) / 4, rtol=1e-6)
    dz = F.bce_with_logits_backward(1.0, cache)
    np.testing.assert_allclose(dz, np.array([0, 0, 1, -1]) / 4)
    assert dz.dtype == dtype


def test_bce_keeps_full_precision_for_confident_correct_logits():
    """Loss of a right answer at |z| = 40 is log(1 + e^-40) ≈ 4.2e-18: log1p keeps it, log(1 + ·) gives 0."""
    loss, _ = F.bce_with_logits_forward(np.array([40.0, -40.0]), np.array([1.0, 0.0]))
    np.testing.assert_allclose(float(loss), math.log1p(math.exp(-40.0)), rtol=1e-12)
    np.testing.assert_allclose(F.sigmoid(np.array([-40.0])), [math.exp(-40.0) / (1 + math.exp(-40.0))], rtol=1e-12)


@given(seed=seeds, n=st.integers(1, 6), dtype=dtypes)
def test_bce_symmetry_and_sigmoid_identity(seed, n, dtype):
    """BCE(z, y) = BCE(−z, 1 − y); σ(−z) = 1 − σ(z); loss ≥ 0; float32 backward ≈ float64."""
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal(n) * 5).astype(dtype)
    y = rng.random(n).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    loss, _ = F.bce_with_logits_forward(z, y)
    np.testing.assert_allclose(float(F.bce_with_logits_forward(-z, 1 - y)[0]), float(loss), **tol)
    assert float(loss) >= 0
    np.testing.assert_allclose(F.sigmoid(-z), 1 - F.sigmoid(z), **tol)
    z64, y64 = z.astype(np.float64), y.astype(np.float64)
    assert_f32_matches_f64(
        [F.bce_with_logits_backward(1.0, F.bce_with_logits_forward(z64.astype(np.float32), y64.astype(np.float32))[1])],
        [F.bce_with_logits_backward(1.0, F.bce_with_logits_forward(z64, y64)[1])],
    )
