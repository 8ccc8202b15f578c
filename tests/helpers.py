"""Inputs and comparisons shared by the op tests (attention, blocked, fusion, patch, blocks)."""
import numpy as np


def make_mask(kind, n_q, n_k, rng, free_key=0):
    """Masks of every flavour, shaped (n_q, n_k) so they broadcast over the batch.

    "bool_partial" / "float_partial" contain a fully masked row (row 0) and a
    partially masked one whose key ``free_key`` is always open; "float" is a finite
    additive bias; "causal" lets query i see keys 0..i (rectangular when n_q != n_k).
    """
    if kind is None:
        return None
    if kind == "causal":
        return np.tril(np.ones((n_q, n_k), dtype=bool))
    if kind == "bool_partial":
        mask = rng.random((n_q, n_k)) > 0.4
        mask[0] = False  # every key masked out for query 0
        mask[-1, free_key] = True  # at least one free key somewhere else
        return mask
    if kind == "float":
        return rng.standard_normal((n_q, n_k))
    if kind == "float_partial":
        mask = np.where(rng.random((n_q, n_k)) > 0.4, 0.0, -np.inf) + 0.5 * rng.standard_normal((n_q, n_k))
        mask[0] = -np.inf
        mask[-1, free_key] = 0.25
        return mask
    raise AssertionError(kind)


def random_qkv(rng, batch, n_q, n_k, d_k, d_v, dtype=np.float64):
    """q (*batch, n_q, d_k), k (*batch, n_k, d_k), v (*batch, n_k, d_v), standard normal."""
    shapes = [(*batch, n_q, d_k), (*batch, n_k, d_k), (*batch, n_k, d_v)]
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def conditioned(draw, forward, backward, seed, min_entry=1e-3, tries=50):
    """Draw ``(inputs, static) = draw(rng)`` until every analytic gradient entry is
    either 0 (masked, or 0 up to roundoff: below 1e-15) or at least ``min_entry`` in magnitude.

    Why: with h = 1e-5, float64 central differences carry an absolute error of
    about 1e-11, so an entry of 1e-5 that happens to cancel almost to zero would
    show a relative error of 1e-6 although the backward is exact. Such entries are
    checked by the loop-reference tests (absolute tolerance) instead. The upstream
    gradient is the one :func:`gnp.check_gradients` draws with the same ``seed``.
    A wrong backward is still compared entry by entry against the differences.
    """
    rng = np.random.default_rng(seed)
    for _ in range(tries):
        inputs, static = draw(rng)
        out, cache = forward(**inputs, **static)
        upstream = np.random.default_rng(seed).standard_normal(np.shape(out))
        grads = backward(upstream, cache)
        grads = grads if isinstance(grads, tuple) else (grads,)
        if all(np.all((np.abs(g) < 1e-15) | (np.abs(g) >= min_entry)) for g in grads):
            return inputs, static
    raise AssertionError(f"no well-conditioned draw in {tries} tries (seed {seed})")


def assert_f32_matches_f64(grads32, grads64):
    """The float32 gradients stay float32 and match the float64 ones, entry by entry.

    rtol 1e-4 elementwise; the atol (1e-4 of the largest float64 entry) covers entries
    that are 0 in exact arithmetic (dq when n_k = 1) and come out as ±1e-18 in float64.
    """
    size = max(np.abs(g).max() for g in grads64)
    for g32, g64 in zip(grads32, grads64):
        assert g32.dtype == np.float32
        np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-4 * size)
