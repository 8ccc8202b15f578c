"""Embedding lookup with a padding id: token ids -> rows of a table."""
from __future__ import annotations

from ..validation import check_dout, check_float_array, is_int, is_integer
from ..backend import array_namespace, device_kwargs, is_array


def embedding_forward(ids, table, padding_id=0):
    """out[..., :] = table[ids[...], :], and exactly 0 where ids == padding_id.

    ids: integer array (...); table: (vocab_size, d); padding_id: int or None.
    Returns (out (..., d), cache). Padding tokens embed to the zero vector
    whatever the table holds, so the padding row never matters and never
    receives a gradient.
    """
    if not is_array(ids) or not is_integer(ids):
        raise TypeError(f"ids must be an integer array, got {getattr(ids, 'dtype', type(ids).__name__)}")
    check_float_array(table, "table", min_ndim=2)
    if table.ndim != 2:
        raise ValueError(f"table must be (vocab_size, d), got shape {tuple(table.shape)}")
    if padding_id is not None and not is_int(padding_id):
        raise TypeError(f"padding_id must be an int or None, got {padding_id!r}")
    xp = array_namespace(ids, table)
    vocab, d = table.shape
    if padding_id is not None and not 0 <= padding_id < vocab:
        raise ValueError(f"padding_id must lie in [0, {vocab}) for a table of {vocab} rows, got {padding_id}")
    # A deliberate, explicit device -> host read of two scalars: CuPy's take() silently
    # wraps out-of-range ids around instead of raising, so the check must happen here.
    lo, hi = (int(xp.min(ids)), int(xp.max(ids))) if ids.size else (0, 0)
    if lo < 0 or hi >= vocab:
        raise ValueError(f"ids must lie in [0, vocab_size={vocab}) for a table of {vocab} rows; "
                         f"got values in [{lo}, {hi}]")
    flat = xp.reshape(ids, (-1,))
    out = xp.reshape(xp.take(table, flat, axis=0), (*ids.shape, d))  # out = table[ids]
    if padding_id is not None:
        out = xp.where((ids == padding_id)[..., None], 0.0, out)
    return out, (ids, vocab, padding_id, out)


def embedding_backward(dout, cache):
    """dout: (..., d). Returns dtable (vocab_size, d): row t is the sum of dout
    over every position holding token t (padding positions excluded).

    The scatter-add is written as a one-hot matrix product,
    dtable = onehot(ids)ᵀ dout, which runs on every array backend (NumPy's
    ``np.add.at`` has no array-API equivalent). Cost O(N · vocab · d).
    """
    ids, vocab, padding_id, out = cache
    check_dout(dout, out)
    xp = array_namespace(dout, ids)
    d = dout.shape[-1]
    flat = xp.reshape(ids, (-1, 1))
    tokens = xp.arange(vocab, dtype=flat.dtype, **device_kwargs(flat))
    onehot = flat == tokens  # (N, vocab): onehot[i, t] = (ids_i == t)
    if padding_id is not None:
        onehot = onehot & (flat != padding_id)
    onehot = xp.astype(onehot, dout.dtype)
    return onehot.mT @ xp.reshape(dout, (-1, d))  # dtable = onehotᵀ dout
