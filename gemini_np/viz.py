"""Figures for class: attention heatmaps and patch-weight overlays.

    attention_heatmap(weights, row_labels, col_labels)   one attention matrix P,
        queries down, keys across, the value written in each cell of a small
        matrix, and a colour bar
    patch_overlay(image, weight_map, patch_size)         weights drawn over a picture
    query_weight_map(weights, patch_size, row, col)      one pixel's patch-attention
        weights as an (H, W) map, ready for patch_overlay

Chinese labels. Matplotlib's default font (DejaVu Sans) has no Chinese glyphs,
so 猫 would come out as an empty box with a "Glyph 29483 missing" warning for
every character. Instead, every label goes through :func:`display_labels`:

* if the system has *any* font covering the characters (we search matplotlib's
  font list, and the system's font files in case matplotlib's font cache is
  older than the font), the label is drawn with that font, Latin text staying
  in DejaVu Sans;
* if not, the label is written in pinyin (猫 -> māo) from a small built-in
  table, characters outside the table as U+XXXX, and ONE :class:`CJKFontWarning`
  per process says how to install a font.

The environment variable ``GEMINI_NP_CJK_FONT`` picks a font family by name,
or, set to ``none``, forces the pinyin labels (say, for a projector without
the font). Figures are small (``DPI`` = 90) so that notebooks stay light.

The figure functions take NumPy or CuPy arrays (they copy to the host) and
return the matplotlib Figure; they never call ``plt.show()``.
"""
from __future__ import annotations

import os
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

from ._atomic import atomic_open
from .backend import to_numpy

__all__ = [
    "DPI",
    "CJKFontWarning",
    "attention_heatmap",
    "cjk_font",
    "display_labels",
    "has_cjk",
    "image_grid",
    "patch_overlay",
    "query_weight_map",
    "save_figure",
    "subplots",
    "to_pinyin",
    "worked_example_figure",
]

#: Resolution of every figure made here (and of the PNGs in the notebooks).
DPI = 90
#: Latin text (numbers, English labels) stays in matplotlib's default font.
LATIN_FAMILY = "DejaVu Sans"
#: Where no font covers a label's characters, this tells the user how to get one.
INSTALL_HINT = (
    "install any CJK font and restart Python, e.g. `sudo apt-get install fonts-wqy-microhei` "
    "(Debian/Ubuntu; or fonts-noto-cjk), `sudo dnf install google-noto-sans-cjk-fonts` (Fedora), "
    "or copy a .ttf/.otf/.ttc font with Chinese glyphs into ~/.fonts; no pip package is needed"
)
#: Families tried first (common CJK fonts); any other font covering the characters also works.
PREFERRED_FONTS = (
    "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Noto Sans CJK SC", "Noto Sans CJK JP",
    "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "Droid Sans Fallback",
    "AR PL UMing CN", "AR PL UKai CN", "SimHei", "Microsoft YaHei", "PingFang SC",
    "Heiti SC", "Hiragino Sans GB", "Arial Unicode MS",
)


class CJKFontWarning(UserWarning):
    """No installed font has the Chinese glyphs; labels fall back to pinyin."""


# ---------------------------------------------------------------- pinyin fallback

#: Whole words whose reading differs from the characters' own (neutral tones).
PINYIN_WORDS = {"喜欢": "xǐhuan", "我们": "wǒmen", "你们": "nǐmen", "他们": "tāmen", "东西": "dōngxi"}
#: One reading per character: the tokens of the article's example and of the
#: synthetic captions (colours, shapes, positions, sizes) and a few common words.
PINYIN_CHARS = {
    # the article's example: 猫 / 喜欢 / 吃鱼
    "猫": "māo", "喜": "xǐ", "欢": "huān", "吃": "chī", "鱼": "yú", "狗": "gǒu",
    # colours
    "红": "hóng", "橙": "chéng", "黄": "huáng", "绿": "lǜ", "青": "qīng", "蓝": "lán",
    "紫": "zǐ", "粉": "fěn", "白": "bái", "黑": "hēi", "灰": "huī", "棕": "zōng", "色": "sè",
    # shapes
    "圆": "yuán", "形": "xíng", "方": "fāng", "正": "zhèng", "长": "cháng", "矩": "jǔ",
    "三": "sān", "角": "jiǎo", "星": "xīng", "十": "shí", "字": "zì", "菱": "líng",
    "椭": "tuǒ", "条": "tiáo", "线": "xiàn", "横": "héng", "竖": "shù", "点": "diǎn",
    "块": "kuài", "环": "huán", "叉": "chā", "心": "xīn",
    # positions
    "在": "zài", "左": "zuǒ", "右": "yòu", "上": "shàng", "下": "xià", "边": "biān",
    "中": "zhōng", "间": "jiān", "面": "miàn", "前": "qián", "后": "hòu", "里": "lǐ",
    "外": "wài", "侧": "cè", "部": "bù", "顶": "dǐng", "底": "dǐ", "央": "yāng",
    # sizes and counts
    "大": "dà", "小": "xiǎo", "一": "yī", "二": "èr", "两": "liǎng", "四": "sì", "五": "wǔ",
    "个": "gè", "多": "duō", "少": "shǎo",
    # common words
    "的": "de", "是": "shì", "有": "yǒu", "和": "hé", "与": "yǔ", "不": "bù", "没": "méi",
    "很": "hěn", "好": "hǎo", "看": "kàn", "我": "wǒ", "你": "nǐ", "他": "tā", "她": "tā",
    "它": "tā", "们": "men", "这": "zhè", "那": "nà", "图": "tú", "像": "xiàng",
    "片": "piàn", "文": "wén", "本": "běn", "词": "cí", "句": "jù", "东": "dōng", "西": "xī",
}


def has_cjk(text: str) -> bool:
    """True if ``text`` contains a character DejaVu Sans cannot draw (CJK and friends)."""
    return any(_is_cjk(ch) for ch in str(text))


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return (
        0x2E80 <= o <= 0x9FFF  # radicals, punctuation, kana, bopomofo, unified ideographs
        or 0xAC00 <= o <= 0xD7AF  # hangul
        or 0xF900 <= o <= 0xFAFF  # compatibility ideographs
        or 0xFE30 <= o <= 0xFE4F  # compatibility forms
        or 0xFF00 <= o <= 0xFFEF  # full-width forms
        or 0x20000 <= o <= 0x3FFFF  # extension B and later
    )


def to_pinyin(text: str) -> str:
    """Chinese text -> pinyin with tone marks, e.g. "吃鱼" -> "chīyú", "喜欢" -> "xǐhuan".

    Known words first, then characters; other non-Latin characters become
    "U+XXXX" (so nothing is ever drawn as a box); everything else is kept.
    """
    text, out, i = str(text), [], 0
    while i < len(text):
        word = next((w for w in PINYIN_WORDS if text.startswith(w, i)), None)
        if word:
            out.append(PINYIN_WORDS[word])
            i += len(word)
            continue
        ch = text[i]
        if ch in PINYIN_CHARS:
            out.append(PINYIN_CHARS[ch])
        elif _is_cjk(ch):
            out.append(f"U+{ord(ch):04X}")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


# ---------------------------------------------------------------- finding a CJK font

@lru_cache(maxsize=None)
def _charmap(fname: str) -> frozenset:
    """The code points a font file has glyphs for (empty if it cannot be read)."""
    from matplotlib import ft2font

    try:
        return frozenset(ft2font.FT2Font(fname).get_charmap())
    except Exception:  # unreadable or unsupported file: it covers nothing
        return frozenset()


def _covers(fname: str, chars: frozenset) -> bool:
    """True if the font file has a glyph for every character (a str) in ``chars``."""
    return {ord(ch) for ch in chars} <= _charmap(fname)


def _is_placeholder_font(family: str) -> bool:
    """Fonts that 'cover' every character with a box naming its Unicode block
    (matplotlib ships "Last Resort High-Efficiency"): tofu by design, never a CJK font."""
    return family.lower().startswith("last resort")


def _candidates():
    """(family, file) of matplotlib's known fonts, preferred CJK families first."""
    from matplotlib import font_manager

    entries = {(f.name, f.fname) for f in font_manager.fontManager.ttflist if not _is_placeholder_font(f.name)}
    rank = {name: i for i, name in enumerate(PREFERRED_FONTS)}
    return sorted(entries, key=lambda e: (rank.get(e[0], len(rank)), e[0], e[1]))


def _register_uncached_fonts(chars: frozenset) -> None:
    """Add system font files matplotlib's (possibly stale) cache does not know, if they cover ``chars``."""
    from matplotlib import font_manager

    known = {f.fname for f in font_manager.fontManager.ttflist}
    for fname in font_manager.findSystemFonts():
        if fname not in known and "lastresort" not in Path(fname).name.lower() and _covers(fname, chars):
            try:
                font_manager.fontManager.addfont(fname)
            except Exception:  # a file matplotlib cannot parse: skip it
                continue


_font_cache: dict = {}  # (chars, GEMINI_NP_CJK_FONT) -> family or None


def _find_font(chars: frozenset) -> str | None:
    """Family name of an installed font that covers every character in ``chars``."""
    override = os.environ.get("GEMINI_NP_CJK_FONT", "").strip()
    if override.lower() == "none":
        return None
    key = (chars, override)
    if key not in _font_cache:
        _font_cache[key] = _search_font(chars, override)
    return _font_cache[key]


def _search_font(chars: frozenset, override: str) -> str | None:
    for attempt in range(2):
        candidates = _candidates()
        if override:  # the user's choice, if it exists and covers the characters
            candidates = [c for c in candidates if c[0] == override] or candidates
        for family, fname in candidates:
            if _covers(fname, chars):
                return family
        if attempt == 0:
            _register_uncached_fonts(chars)
    return None


def cjk_font(text: str = "猫喜欢吃鱼") -> str | None:
    """Family name of a font that draws every CJK character of ``text``, or None."""
    chars = frozenset(ch for ch in str(text) if _is_cjk(ch))
    if not chars:
        return LATIN_FAMILY
    return _find_font(chars)


_warned = False


def _warn_no_font(example: str) -> None:
    global _warned
    if _warned:
        return
    _warned = True
    warnings.warn(
        f"no installed font has Chinese glyphs, so Chinese labels are shown in pinyin "
        f"({example} -> {to_pinyin(example)}); to see the characters, {INSTALL_HINT}",
        CJKFontWarning,
        stacklevel=3,
    )


def display_labels(labels) -> tuple[list[str], list[str]]:
    """Labels as they will be drawn, and the font families to draw them with.

    labels: strings (or anything with str()). Returns (texts, families): texts
    are the labels themselves when a CJK font covers all their characters (or
    they have none), otherwise their pinyin; families is [LATIN_FAMILY, cjk
    font] or [LATIN_FAMILY]. Warns once per process (CJKFontWarning) when a
    fallback was needed.
    """
    labels = [str(t) for t in labels]
    cjk = [t for t in labels if has_cjk(t)]
    if not cjk:
        return labels, [LATIN_FAMILY]
    font = cjk_font("".join(cjk))
    if font is not None:
        return labels, [LATIN_FAMILY, font]
    _warn_no_font(cjk[0])
    return [to_pinyin(t) for t in labels], [LATIN_FAMILY]


# ---------------------------------------------------------------- figures

def subplots(nrows: int = 1, ncols: int = 1, figsize=None, **kwargs):
    """``plt.subplots`` at this module's DPI, with a layout that keeps labels inside."""
    import matplotlib.pyplot as plt

    kwargs.setdefault("layout", "constrained")
    return plt.subplots(nrows, ncols, figsize=figsize, dpi=DPI, **kwargs)


def attention_heatmap(
    weights,
    row_labels=None,
    col_labels=None,
    *,
    ax=None,
    title: str | None = None,
    annotate: bool | None = None,
    digits: int = 2,
    cmap: str = "viridis",
    vmin: float | None = 0.0,
    vmax: float | None = None,
    colorbar: bool = True,
    xlabel: str = "key",
    ylabel: str = "query",
):
    """Draw one attention matrix, queries down and keys across.

    weights: (n_q, n_k) array (NumPy or CuPy), e.g. ``cache.weights[0]``.
    row_labels / col_labels: n_q / n_k token strings (Chinese is fine).
    annotate: write each value in its cell; by default only when the matrix
        has at most 12×12 cells. digits: decimals written.
    vmin, vmax: colour range; weights live in [0, 1], so vmin defaults to 0.
    ax: draw into an existing Axes (several heatmaps in one figure).
    Returns the Figure.
    """
    w = np.asarray(to_numpy(weights), dtype=np.float64)
    if w.ndim != 2:
        raise ValueError(f"attention_heatmap needs a 2-D (n_q, n_k) matrix, got shape {w.shape}")
    n_q, n_k = w.shape
    for name, labels, n in (("row_labels", row_labels, n_q), ("col_labels", col_labels, n_k)):
        if labels is not None and len(labels) != n:
            raise ValueError(f"{name} has {len(labels)} labels but weights {w.shape} need {n}")
    if ax is None:
        cell = min(0.6, 7.0 / max(n_k, 1), 5.0 / max(n_q, 1))  # inches per cell: small matrices readable, big ones fit
        fig, ax = subplots(figsize=(1.4 + cell * max(n_k, 3), 0.9 + cell * 0.85 * max(n_q, 3)))
    fig = ax.figure
    image = ax.imshow(w, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    _set_tick_labels(ax, "x", row_or_col_labels=col_labels, n=n_k)
    _set_tick_labels(ax, "y", row_or_col_labels=row_labels, n=n_q)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if annotate is None:
        annotate = n_q <= 12 and n_k <= 12
    if annotate:
        _annotate(ax, image, w, digits)
    if colorbar:
        fig.colorbar(image, ax=ax, shrink=0.9)
    return fig


def _set_tick_labels(ax, axis: str, row_or_col_labels, n: int) -> None:
    ticks = list(range(n))
    getattr(ax, f"set_{axis}ticks")(ticks)
    if row_or_col_labels is None:
        return
    texts, families = display_labels(row_or_col_labels)
    getattr(ax, f"set_{axis}ticklabels")(texts, fontfamily=families)
    if axis == "x" and max((len(t) for t in texts), default=0) > 3:
        ax.tick_params(axis="x", labelrotation=45)


def _annotate(ax, image, w: np.ndarray, digits: int) -> None:
    """Write each value in its cell, black on light colours and white on dark ones."""
    for (i, j), value in np.ndenumerate(w):
        r, g, b, _ = image.cmap(image.norm(value))
        luminance = 0.299 * r + 0.587 * g + 0.114 * b
        ax.text(j, i, f"{value:.{digits}f}", ha="center", va="center", fontsize=8,
                color="black" if luminance > 0.5 else "white")


def query_weight_map(weights, patch_size: int, row: int, col: int) -> np.ndarray:
    """One pixel's patch-attention weights, placed back on the image grid.

    weights: ``cache.weights`` of :func:`gemini_np.patch_attention_forward` for
        one image, (H/p, W/p, p·p, p·p). row, col: the query pixel.
    Returns an (H, W) float64 array: the query's weights over the p×p pixels of
    its own patch, zero everywhere else (it cannot see them).
    """
    w = np.asarray(to_numpy(weights), dtype=np.float64)
    p = int(patch_size)
    if w.ndim != 4 or w.shape[2] != p * p or w.shape[3] != p * p:
        raise ValueError(f"weights must be (H/p, W/p, p·p, p·p) with p = {p}, got shape {w.shape}")
    h, wd = w.shape[0] * p, w.shape[1] * p
    if not (0 <= row < h and 0 <= col < wd):
        raise ValueError(f"query pixel ({row}, {col}) is outside the {h}×{wd} image")
    i, j = row // p, col // p  # its patch
    query = (row % p) * p + (col % p)  # its index inside the patch, row-major like patchify
    full = np.zeros((h, wd))
    full[i * p : (i + 1) * p, j * p : (j + 1) * p] = w[i, j, query].reshape(p, p)
    return full


def patch_overlay(
    image,
    weight_map,
    patch_size: int | None = None,
    *,
    ax=None,
    title: str | None = None,
    alpha: float = 0.6,
    cmap: str = "magma",
    colorbar: bool = True,
    mark=None,
    vmax: float | None = None,
):
    """Draw weights over a picture.

    image: (H, W, 3) RGB in [0, 1] or (H, W) grey. weight_map: (h, w) with h
        dividing H and w dividing W, e.g. (H/p, W/p) weights of a text token
        over the image patches, or (H, W) from :func:`query_weight_map`; each
        cell is stretched over its block of pixels.
    patch_size: draw the patch grid every ``patch_size`` pixels.
    mark: optional (row, col) pixel to circle (the query).
    vmax: top of the colour scale (default: the map's maximum); give several
        panels the same vmax to compare them.
    Returns the Figure.
    """
    img = np.asarray(to_numpy(image), dtype=np.float64)
    wmap = np.asarray(to_numpy(weight_map), dtype=np.float64)
    if img.ndim not in (2, 3) or wmap.ndim != 2:
        raise ValueError(f"image must be (H, W) or (H, W, C) and weight_map (h, w); got {img.shape} and {wmap.shape}")
    H, W = img.shape[:2]
    if H % wmap.shape[0] or W % wmap.shape[1]:
        raise ValueError(f"weight_map {wmap.shape} must divide the image size {H}×{W}")
    big = np.kron(wmap, np.ones((H // wmap.shape[0], W // wmap.shape[1])))  # each weight over its block
    if ax is None:
        fig, ax = subplots(figsize=(3.4, 2.9))
    fig = ax.figure
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="nearest")
    overlay = ax.imshow(big, cmap=cmap, alpha=alpha, interpolation="nearest", vmin=0.0, vmax=vmax)
    if patch_size:
        for x in range(0, W + 1, patch_size):
            ax.axvline(x - 0.5, color="white", linewidth=0.6)
        for y in range(0, H + 1, patch_size):
            ax.axhline(y - 0.5, color="white", linewidth=0.6)
    if mark is not None:
        ax.plot(mark[1], mark[0], marker="o", markersize=8, markerfacecolor="none", markeredgecolor="cyan")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    if colorbar:
        fig.colorbar(overlay, ax=ax, shrink=0.85, label="weight")
    return fig


def image_grid(images, titles=None, ncols: int = 4, size: float = 1.5, title_colors=None):
    """Small images side by side, each with a (possibly Chinese) title.

    images: (N, H, W, 3) RGB in [0, 1] (NumPy or CuPy). titles: N strings,
    drawn through :func:`display_labels` (real glyphs or pinyin).
    title_colors: optional N matplotlib colours (e.g. green for a match).
    Returns the Figure.
    """
    imgs = np.asarray(to_numpy(images), dtype=np.float64)
    if imgs.ndim != 4:
        raise ValueError(f"images must be (N, H, W, C), got shape {imgs.shape}")
    n = imgs.shape[0]
    if titles is not None and len(titles) != n:
        raise ValueError(f"{len(titles)} titles for {n} images")
    texts, families = display_labels(titles) if titles is not None else ([""] * n, [LATIN_FAMILY])
    nrows = -(-n // ncols)
    fig, axes = subplots(nrows, ncols, figsize=(size * ncols, (size + 0.35) * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.set_axis_off()
            continue
        ax.imshow(np.clip(imgs[i], 0.0, 1.0), interpolation="nearest")
        color = title_colors[i] if title_colors is not None else "black"
        ax.set_title(texts[i], fontfamily=families, fontsize=8, color=color)
    return fig


def worked_example_figure():
    """The article's §4.3 example as three heatmaps: its claim, and the correct weights.

    Left: the identity the article prints for softmax(s_ij). Middle: row-wise
    softmax(S). Right: softmax(S/√d_k) with d_k = 5, its own formula's scaling.
    Tokens 猫 / 喜欢 / 吃鱼 label the rows (queries) and columns (keys).
    Returns the Figure (used by notebook 01 and for the README's figure).
    """
    from . import article

    panels = [
        ("article's claim (wrong)", article.claimed_weights()),
        ("softmax(S), row-wise", article.correct_weights(scaled=False)),
        ("softmax(S/√5), d_k = 5", article.correct_weights(scaled=True)),
    ]
    fig, axes = subplots(1, 3, figsize=(8.4, 2.7))
    for ax, (title, weights) in zip(axes, panels):
        attention_heatmap(weights, article.TOKENS, article.TOKENS, ax=ax, title=title, vmax=1.0, digits=4,
                          colorbar=False, ylabel="query" if ax is axes[0] else "")
    fig.colorbar(axes[0].images[0], ax=list(axes), shrink=0.9, label="weight")
    return fig


def save_figure(fig, path) -> Path:
    """Save ``fig`` as a PNG at :data:`DPI`, atomically (temp file, then os.replace)."""
    path = Path(path)
    with atomic_open(path, "wb") as f:
        fig.savefig(f, dpi=DPI, format="png", bbox_inches="tight", metadata={"Software": None})
    return path

