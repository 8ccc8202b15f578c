"""embedding_forward / embedding_backward with a padding id: the whole verification ladder."""
import numpy as np
import pytest

import gemini_np.functional as F
import loops as ref
from helpers import assert_conditioned_finite_differences

TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-11, atol=1e-13)}
SEEDS = [0, 1, 2]


IDS = np.array([[3, 1, 0, 0], [2, 2, 4, 0]])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("padding_id", [0, None, 2])
def test_embedding_finite_differences(seed, padding_id):
    draw = lambda rng: ({"table": rng.standard_normal((5, 3))}, {"ids": IDS, "padding_id": padding_id})  # noqa: E731
    assert_conditioned_finite_differences(F.embedding_forward, F.embedding_backward, draw, seed)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padding_id", [0, None, 4])
def test_embedding_matches_loop_reference(dtype, padding_id):
    rng = np.random.default_rng(5)
    table = rng.standard_normal((6, 3)).astype(dtype)
    ids = rng.integers(0, 6, size=(2, 3, 4))
    out, cache = F.embedding_forward(ids, table, padding_id=padding_id)
    assert out.dtype == dtype and out.shape == (2, 3, 4, 3)
    np.testing.assert_array_equal(out, ref.embedding(ids, table, padding_id))
    dout = rng.standard_normal(out.shape).astype(dtype)
    dtable = F.embedding_backward(dout, cache)
    assert dtable.dtype == dtype
    np.testing.assert_allclose(dtable, ref.embedding_backward(dout, ids, 6, padding_id), **TOL[dtype])
    if padding_id is not None:
        assert not np.any(out[ids == padding_id]) and not np.any(dtable[padding_id])


def test_embedding_padding_row_content_never_matters():
    table = np.arange(12.0).reshape(4, 3)
    ids = np.array([0, 1, 0])
    out, _ = F.embedding_forward(ids, table)  # padding_id defaults to 0
    np.testing.assert_array_equal(out, [[0, 0, 0], [3, 4, 5], [0, 0, 0]])
