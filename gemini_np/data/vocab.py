"""A whitespace tokenizer and a vocabulary with ``<pad>`` (id 0) and ``<unk>`` (id 1).

Chinese text has no spaces between words, so the captions of this package are
written with spaces between the words ("红色 圆形 在 左边"), and splitting on
whitespace is the whole tokenizer. Any token, Chinese or not, that is not in
the vocabulary maps to ``<unk>``; encoding never fails on an unknown word.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1


def tokenize(text: str) -> list[str]:
    """Split on any whitespace (including the ideographic space U+3000)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return text.split()


class Vocabulary:
    """Token <-> id. ids 0 and 1 are ``<pad>`` and ``<unk>``; the rest follow in the given order.

    >>> v = Vocabulary(["红色", "圆形"])
    >>> v.encode(["红色 圆形 紫色"]).tolist()
    [[2, 3, 1]]
    """

    def __init__(self, tokens: Iterable[str]):
        self.itos: list[str] = [PAD, UNK]
        for t in tokens:
            if not isinstance(t, str) or not t or t != t.strip() or len(t.split()) != 1:
                raise ValueError(f"a vocabulary token must be one non-empty word without spaces, got {t!r}")
            if t not in self.itos:
                self.itos.append(t)
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> "Vocabulary":
        """Every distinct token of ``texts``, in sorted order (so the ids do not depend on text order)."""
        return cls(sorted({t for text in texts for t in tokenize(text)}))

    def __len__(self) -> int:
        return len(self.itos)

    def token_id(self, token: str) -> int:
        return self.stoi.get(token, UNK_ID)

    def encode(self, texts: Sequence[str], max_len: int | None = None) -> numpy.ndarray:
        """texts: N strings -> int64 host array (N, max_len), right-padded with 0.

        max_len defaults to the longest text; longer texts raise ValueError
        (silently cutting a caption would change its meaning).
        """
        if isinstance(texts, str):
            raise TypeError("encode takes a list of texts; wrap a single text in a list")
        ids = [[self.token_id(t) for t in tokenize(text)] for text in texts]
        longest = max((len(row) for row in ids), default=0)
        max_len = longest if max_len is None else max_len
        if longest > max_len:
            raise ValueError(f"a text has {longest} tokens but max_len is {max_len}")
        out = numpy.zeros((len(ids), max(max_len, 1)), dtype=numpy.int64)
        for i, row in enumerate(ids):
            out[i, : len(row)] = row
        return out

    def decode(self, ids) -> list[str]:
        """One row of ids -> its tokens, padding dropped."""
        return [self.itos[int(i)] for i in numpy.asarray(ids).reshape(-1) if int(i) != PAD_ID]

    def to_list(self) -> list[str]:
        """The tokens after ``<pad>`` and ``<unk>``, for saving (e.g. in a checkpoint's JSON)."""
        return self.itos[2:]
