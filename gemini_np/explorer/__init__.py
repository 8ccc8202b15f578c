"""The classroom explorer: one offline HTML page that steps through attention, forward and backward.

    python -m gemini_np explore [--out FILE.html] [--lang zh|en] [--checkpoint CKPT]

    build_page(lang, checkpoint)   -> Page: the HTML text, and what went into it
    write_page(path, lang, ...)    -> Page, written atomically to ``path``

The page is one file: its script (explorer.js), style (explorer.css), numbers
(JSON computed by :mod:`.data`) and a subset of a Chinese font (:mod:`.font`)
are all inside it, so it opens from disk with the network off. A Content
Security Policy in the page forbids every fetch.

What it shows:

* a step-through of the article's worked example (猫 / 喜欢 / 吃鱼): S = Q Kᵀ,
  the scaling, softmax row by row, P, O = P V, then the backward pass dV, dP,
  dS (with its row-sum term), dQ, dK, each step's matrices with their numbers.
  Cells of Q, K, V and dO can be edited, the temperature changed, keys masked;
  the page recomputes in float64 JavaScript, equal to gemini_np's to 1e-12;
* per-patch attention over an image, and the fusion layer's weights between a
  caption's tokens and an image's patches, from a model trained on the fly (a
  few seconds) or from a checkpoint;
* the online softmax (:mod:`gemini_np.functional.blocked`) replayed block by block.

Pinned scripting hook (for tests and teachers, from the browser's console)::

    gnpExplorer.set({q, k, v, dout, scale, mask})   arrays of arrays; mask True = may attend
    gnpExplorer.state()  -> {weights, out, dq, dk, dv}
"""
from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..files import atomic_open
from .data import colormaps, page_data
from .font import EmbeddedFont, embedded_font

LANGS = ("zh", "en")
#: Where the CLI writes the page when --out is not given.
DEFAULT_OUT = "explorer.html"


@dataclass
class Page:
    """A built page: its text and what went into it."""

    html: str
    lang: str
    font: EmbeddedFont | None  # None: no CJK font installed, the browser's fonts draw the Chinese
    model: dict  # how the model of the image and fusion views was made, its test accuracy
    seconds: float  # time to build it

    @property
    def size(self) -> int:
        """Bytes of the page in UTF-8."""
        return len(self.html.encode("utf-8"))


def build_page(lang: str = "zh", checkpoint=None) -> Page:
    """The explorer page as one self-contained HTML string.

    lang: the language the page opens in, "zh" or "en" (the page switches live).
    checkpoint: None trains a small model for the image and fusion views (a few
    seconds); or the path of a checkpoint written by ``python -m gemini_np train --save``.
    Raises ValueError for a bad ``lang``, CheckpointError for an unusable checkpoint.
    """
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, got {lang!r}")
    start = time.perf_counter()
    data = page_data(checkpoint)
    data["colormaps"] = colormaps()
    js, css, template = (_asset(name) for name in ("explorer.js", "explorer.css", "explorer.html"))
    data_json = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    data_json = data_json.replace("</", "<\\/")  # a "</script>" inside the JSON must not end its element
    parts = {
        "__HTML_LANG__": "zh-Hans" if lang == "zh" else "en",
        "__LANG__": lang,
        "__VERSION__": _version(),
        "__CSS__": css,
        "__JS__": js,
        "__DATA__": data_json,
    }
    # The font holds exactly the Chinese characters of everything else in the page.
    page = _fill(template, {**parts, "__FONT_FACE__": "", "__FONT_NOTICE__": ""})
    font = embedded_font(page)
    notice = font.notice if font else "No Chinese font was embedded: the browser's own fonts draw the Chinese text."
    page = _fill(template, {**parts, "__FONT_FACE__": font.css if font else "", "__FONT_NOTICE__": html.escape(notice)})
    return Page(page, lang, font, data["model"], time.perf_counter() - start)


def write_page(path, lang: str = "zh", checkpoint=None) -> Page:
    """Build the page and write it to ``path`` atomically (no half-written file, ever). Returns the Page."""
    page = build_page(lang, checkpoint)
    with atomic_open(Path(path), "w", encoding="utf-8") as f:
        f.write(page.html)
    return page


def _fill(template: str, parts: dict) -> str:
    """The template with every placeholder replaced, each exactly once (in one pass, so a part
    that happens to contain another placeholder's name is left alone)."""
    import re

    pattern = re.compile("|".join(re.escape(k) for k in parts))
    return pattern.sub(lambda m: parts[m.group(0)], template)


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _version() -> str:
    from .. import __version__

    return __version__
