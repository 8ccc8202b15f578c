"""Random inputs shared by the attention tests (plain and blocked path)."""
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
