"""The article's worked example (§4.3), recomputed.

Three words, 猫 (cat) / 喜欢 (like) / 吃鱼 (eat fish), embedded as one-hot
vectors h_1, h_2, h_3 in R^5. The article computes the similarities
s_ij = h_i · h_j (the identity matrix), then applies softmax to each *scalar*
s_ij on its own and claims the weights are the identity too.

Softmax normalises a row, not a number: softmax([1, 0, 0]) = [0.5761, 0.2119,
0.2119]. With its own formula's 1/√d_k scaling (d_k = 5) the row is
softmax([0.4472, 0, 0]) = [0.4388, 0.2806, 0.2806]. The identity is only the
limit of softmax(S / T) as the temperature T → 0 (a hard max).
"""
from __future__ import annotations

import math

import numpy as np

from .functional import attention_forward, softmax

TOKENS = ("猫", "喜欢", "吃鱼")
TOKENS_EN = ("cat", "like", "eat-fish")
D_MODEL = 5


def embeddings() -> np.ndarray:
    """h: (3, 5), the article's one-hot word vectors h_1, h_2, h_3."""
    return np.eye(len(TOKENS), D_MODEL)


def similarities() -> np.ndarray:
    """S = h hᵀ: (3, 3), the article's s_ij (here the identity)."""
    h = embeddings()
    return h @ h.T


def claimed_weights() -> np.ndarray:
    """What the article prints for w_ij = softmax(s_ij): the identity matrix (wrong)."""
    return np.eye(len(TOKENS))


def softmax_of_scalars() -> np.ndarray:
    """The article's operation taken literally: softmax of each 1-element list.

    Every entry is exp(s)/exp(s) = 1, not the identity: the article's own
    procedure does not even give the numbers it prints.
    """
    s = similarities()
    return softmax(s[..., None], axis=-1)[..., 0]


def correct_weights(scaled: bool = False) -> np.ndarray:
    """Row-wise softmax of S, optionally scaled by 1/√d_k with d_k = 5. (3, 3)."""
    s = similarities()
    if scaled:
        s = s / math.sqrt(D_MODEL)
    return softmax(s, axis=-1)


def temperature_weights(temperature: float) -> np.ndarray:
    """softmax(S / T): tends to the article's identity as T → 0. (3, 3)."""
    return softmax(similarities() / temperature, axis=-1)


def context_vectors(scaled: bool = True) -> np.ndarray:
    """h_fused = softmax(h hᵀ · scale) h, with Q = K = V = h (no projections). (3, 5)."""
    h = embeddings()
    out, _ = attention_forward(h, h, h, scale=1.0 / math.sqrt(D_MODEL) if scaled else 1.0)
    return out


def format_matrix(m: np.ndarray, labels=TOKENS, digits: int = 4) -> str:
    """A small labelled matrix as text, rows and columns named by the tokens."""
    width = max(digits + 3, *(_display_width(t) for t in labels))
    head = " " * width + " ".join(_pad(t, width) for t in labels[: m.shape[1]])
    rows = [_pad(labels[i], width) + " ".join(f"{v:>{width}.{digits}f}" for v in m[i]) for i in range(m.shape[0])]
    return "\n".join([head, *rows])


def _display_width(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return " " * (width - _display_width(text)) + text
