"""Figures for class: attention heatmaps, patch-weight overlays, image grids.

    attention_heatmap(weights, row_labels, col_labels)   one attention matrix P,
        queries down, keys across, the value written in each cell of a small
        matrix, and a colour bar
    fusion_heatmap(weights, words, patches)              a fusion matrix whose keys are
        caption words, then image patches: the two groups separated and labelled
    patch_overlay(image, weight_map, patch_size)         weights drawn over a picture
    query_weight_map(weights, patch_size, row, col)      one pixel's patch-attention
        weights as an (H, W) map, ready for patch_overlay
    word_overlays(image, weights, words, grid)           each word's weights over the
        image patches, one panel per word, one shared colour scale

Every figure gets the defaults of :mod:`gemini_np.viz.style` (150 dpi, at least
1260 px wide, text >= 10 pt, colour-blind-safe colours). Chinese labels are
drawn through :mod:`gemini_np.viz.fonts` (a CJK font, or pinyin). The functions
take NumPy or CuPy arrays (they copy to the host) and return the matplotlib
Figure; they never call ``plt.show()``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..backend import to_numpy
from ..files import atomic_open
from .fonts import LATIN_FAMILY, display_labels
from .style import DPI, GRID_COLOR, MATCH, MIN_FONT_PT, NO_MATCH, WEIGHT_CMAP, figure_size, styled


@styled
def subplots(nrows: int = 1, ncols: int = 1, figsize=None, **kwargs):
    """``plt.subplots`` at :data:`DPI`, at least the minimum width, with a layout that keeps labels inside."""
    import matplotlib.pyplot as plt

    kwargs.setdefault("layout", "constrained")
    width, height = figsize if figsize is not None else (8.4, 4.0)
    return plt.subplots(nrows, ncols, figsize=figure_size(width, height), dpi=DPI, **kwargs)


def _host(x, name: str, ndim: int | tuple) -> np.ndarray:
    a = np.asarray(to_numpy(x), dtype=np.float64)
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if a.ndim not in allowed:
        raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimensions, got shape {a.shape}")
    return a


@styled
def attention_heatmap(
    weights,
    row_labels=None,
    col_labels=None,
    *,
    ax=None,
    title: str | None = None,
    annotate: bool | None = None,
    digits: int = 2,
    cmap: str = WEIGHT_CMAP,
    vmin: float | None = 0.0,
    vmax: float | None = None,
    log: bool = False,
    colorbar: bool = True,
    xlabel: str = "key",
    ylabel: str = "query",
):
    """Draw one attention matrix, queries down and keys across.

    weights: (n_q, n_k) array (NumPy or CuPy), e.g. ``cache.weights[0]``.
    row_labels / col_labels: n_q / n_k token strings (Chinese is fine).
    annotate: write each value in its cell; by default only when the matrix
        has at most 10×10 cells (so the numbers stay >= 10 pt). digits: decimals.
    vmin, vmax: colour range; weights live in [0, 1], so vmin defaults to 0.
        Give several heatmaps the same vmax to compare them.
    log: a logarithmic colour scale (vmin defaults to 1e-3 then), for matrices
        where a few large weights would hide the small ones.
    ax: draw into an existing Axes (several heatmaps in one figure).
    Returns the Figure.
    """
    from matplotlib.colors import LogNorm

    w = _host(weights, "weights (n_q, n_k)", 2)
    n_q, n_k = w.shape
    for name, labels, n in (("row_labels", row_labels, n_q), ("col_labels", col_labels, n_k)):
        if labels is not None and len(labels) != n:
            raise ValueError(f"{name} has {len(labels)} labels but weights {w.shape} need {n}")
    if ax is None:
        width = min(12.0, max(8.4, 2.2 + 0.62 * n_k))
        height = min(9.0, max(3.6, 1.6 + 0.5 * n_q))
        fig, ax = subplots(figsize=(width, height))
    fig = ax.figure
    if log:
        low = vmin if vmin else 1e-3
        norm = LogNorm(vmin=low, vmax=vmax if vmax is not None else max(float(w.max()), low * 10))
        image = ax.imshow(np.clip(w, low, None), cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
    else:
        image = ax.imshow(w, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest")
    _set_tick_labels(ax, "x", col_labels, n_k)
    _set_tick_labels(ax, "y", row_labels, n_q)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if annotate is None:
        annotate = n_q <= 10 and n_k <= 10
    if annotate:
        _annotate(ax, image, w, digits)
    if colorbar:
        fig.colorbar(image, ax=ax, shrink=0.9, label="weight (log scale)" if log else "weight")
    return fig


def _set_tick_labels(ax, axis: str, labels, n: int) -> None:
    getattr(ax, f"set_{axis}ticks")(list(range(n)))
    if labels is None:
        return
    texts, families = display_labels(labels)
    getattr(ax, f"set_{axis}ticklabels")(texts, fontfamily=families)
    if axis == "x" and (max((len(t) for t in texts), default=0) > 3 or n > 12):
        ax.tick_params(axis="x", labelrotation=60)


def _annotate(ax, image, w: np.ndarray, digits: int) -> None:
    """Write each value in its cell, black on light colours and white on dark ones."""
    for (i, j), value in np.ndenumerate(w):
        r, g, b, _ = image.cmap(image.norm(value))
        luminance = 0.299 * r + 0.587 * g + 0.114 * b
        ax.text(j, i, f"{value:.{digits}f}", ha="center", va="center", fontsize=max(MIN_FONT_PT, 11),
                color="black" if luminance > 0.5 else "white")


@styled
def fusion_heatmap(weights, words, patch_labels, *, ax=None, title: str | None = None, log: bool = True,
                   rows: str = "words", colorbar: bool = True):
    """A fusion attention matrix over the joint sequence [caption words; image patches].

    weights: (n + m, n + m) over the joint sequence, or (n, n + m) for the words' rows only.
    words: the n caption tokens; patch_labels: the m patch names.
    rows: "words" (draw only the caption words' rows) or "all".
    log: a logarithmic colour scale, so the small word->patch weights stay
        visible next to large word->word ones (the colour bar says so).
    A thick line separates word keys from patch keys, labelled above the matrix.
    Returns the Figure.
    """
    w = _host(weights, "weights", 2)
    n, m = len(words), len(patch_labels)
    if w.shape[1] != n + m:
        raise ValueError(f"weights {w.shape} must have n + m = {n} + {m} = {n + m} key columns")
    if rows == "words":
        w, row_labels = w[:n], list(words)
    elif rows == "all":
        row_labels = list(words) + list(patch_labels)
    else:
        raise ValueError(f"rows must be 'words' or 'all', got {rows!r}")
    fig = attention_heatmap(w, row_labels, list(words) + list(patch_labels), ax=ax, title=title, log=log,
                            annotate=w.shape[0] <= 8 and w.shape[1] <= 8, colorbar=colorbar, xlabel="key: caption words | image patches",
                            ylabel="query")
    ax = fig.axes[0] if ax is None else ax
    separate_groups(ax, n, n + m, horizontal=rows == "all", names=("words", "patches"))
    return fig


def separate_groups(ax, split: int, total: int, horizontal: bool = True, names=("text", "image")) -> None:
    """A thick line between keys [0, split) and [split, total), and each group's name on a top axis."""
    from matplotlib import patheffects

    outline = [patheffects.withStroke(linewidth=5, foreground="black")]
    ax.axvline(split - 0.5, color="white", linewidth=2.5, path_effects=outline)
    if horizontal:
        ax.axhline(split - 0.5, color="white", linewidth=2.5, path_effects=outline)
    top = ax.secondary_xaxis("top")
    top.set_xticks([(split - 1) / 2, (split + total - 1) / 2], [names[0], names[1]], fontweight="bold")
    top.tick_params(length=0)


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
    full[i * p: (i + 1) * p, j * p: (j + 1) * p] = w[i, j, query].reshape(p, p)
    return full


def draw_patch_grid(ax, height: int, width: int, patch_size: int, numbers: bool = False) -> None:
    """Patch borders every ``patch_size`` pixels (white lines with a dark edge), optionally each patch's number."""
    from matplotlib import patheffects

    outline = [patheffects.withStroke(linewidth=2.6, foreground="black")]
    for x in range(0, width + 1, patch_size):
        ax.axvline(x - 0.5, color=GRID_COLOR, linewidth=1.2, path_effects=outline)
    for y in range(0, height + 1, patch_size):
        ax.axhline(y - 0.5, color=GRID_COLOR, linewidth=1.2, path_effects=outline)
    if numbers:
        per_row = width // patch_size
        for i in range(height // patch_size):
            for j in range(per_row):
                ax.text(j * patch_size - 0.2, i * patch_size - 0.2, str(i * per_row + j), ha="left", va="top",
                        fontsize=MIN_FONT_PT, color="white", path_effects=outline)


@styled
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
    numbers: bool = False,
):
    """Draw weights over a picture.

    image: (H, W, 3) RGB in [0, 1] or (H, W) grey. weight_map: (h, w) with h
        dividing H and w dividing W, e.g. (H/p, W/p) weights of a text token
        over the image patches, or (H, W) from :func:`query_weight_map`; each
        cell is stretched over its block of pixels.
    patch_size: draw the patch grid every ``patch_size`` pixels (numbers: label each patch).
    mark: optional (row, col) pixel to ring (the query).
    vmax: top of the colour scale (default: the map's maximum); give several
        panels the same vmax to compare them.
    Returns the Figure.
    """
    img = _host(image, "image", (2, 3))
    wmap = _host(weight_map, "weight_map", 2)
    H, W = img.shape[:2]
    if H % wmap.shape[0] or W % wmap.shape[1]:
        raise ValueError(f"weight_map {wmap.shape} must divide the image size {H}×{W}")
    big = np.kron(wmap, np.ones((H // wmap.shape[0], W // wmap.shape[1])))  # each weight over its block
    if ax is None:
        fig, ax = subplots(figsize=(8.4, 7.8))  # tall enough that the square picture fills the width
    fig = ax.figure
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="nearest")
    overlay = ax.imshow(big, cmap=cmap, alpha=alpha, interpolation="nearest", vmin=0.0, vmax=vmax)
    if patch_size:
        draw_patch_grid(ax, H, W, patch_size, numbers=numbers)
    if mark is not None:
        ax.plot(mark[1], mark[0], marker="o", markersize=14, markerfacecolor="none", markeredgecolor="white",
                markeredgewidth=2.5)
        ax.plot(mark[1], mark[0], marker="o", markersize=18, markerfacecolor="none", markeredgecolor="black",
                markeredgewidth=1.5)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    if colorbar:
        fig.colorbar(overlay, ax=ax, shrink=0.85, label="weight")
    return fig


@styled
def word_overlays(image, weights, words, grid: int, *, title: str | None = None):
    """Each caption word's weights over the image patches, drawn on the image.

    image: (H, W, 3). weights: (n_words, grid·grid), row j = word j's weights
    over the patches (row-major). One panel for the image, one per word, one
    shared colour scale and colour bar. Returns the Figure.
    """
    img = _host(image, "image", 3)
    w = _host(weights, "weights (n_words, patches)", 2)
    if w.shape != (len(words), grid * grid):
        raise ValueError(f"weights {w.shape} must be (len(words), grid²) = ({len(words)}, {grid * grid})")
    p = img.shape[0] // grid
    fig, axes = subplots(1, len(words) + 1, figsize=(max(8.4, 2.9 * (len(words) + 1)), 3.6))
    axes[0].imshow(np.clip(img, 0.0, 1.0), interpolation="nearest")
    draw_patch_grid(axes[0], img.shape[0], img.shape[1], p, numbers=True)
    axes[0].set(xticks=[], yticks=[], title="image, patches numbered")
    texts, families = display_labels(words)
    top = float(w.max())  # one colour scale for every word
    for ax, row, word in zip(axes[1:], w, texts):
        patch_overlay(img, row.reshape(grid, grid), p, ax=ax, colorbar=False, alpha=0.75, vmax=top)
        ax.set_title(word, fontfamily=families)
    fig.colorbar(axes[1].images[1], ax=list(axes[1:]), shrink=0.85, label="weight (shared scale)")
    if title:
        fig.suptitle(title)
    return fig


@styled
def image_grid(images, titles=None, ncols: int = 4, size: float = 2.4, matches=None, patch_size: int | None = None):
    """Small images side by side, each with a (possibly Chinese) title.

    images: (N, H, W, 3) RGB in [0, 1] (NumPy or CuPy). titles: N strings,
    drawn through :func:`display_labels` (real glyphs or pinyin).
    matches: optional N booleans; each title then starts with "✓ match" or
    "✗ no match" (a symbol and a word, not only a colour).
    patch_size: draw the patch grid every ``patch_size`` pixels. Returns the Figure.
    """
    imgs = _host(images, "images (N, H, W, C)", 4)
    n = imgs.shape[0]
    for name, values in (("titles", titles), ("matches", matches)):
        if values is not None and len(values) != n:
            raise ValueError(f"{len(values)} {name} for {n} images")
    texts, families = display_labels(titles) if titles is not None else ([""] * n, [LATIN_FAMILY])
    nrows = -(-n // ncols)
    fig, axes = subplots(nrows, ncols, figsize=(size * ncols, (size + 0.7) * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.set_axis_off()
            continue
        ax.imshow(np.clip(imgs[i], 0.0, 1.0), interpolation="nearest")
        if patch_size:
            draw_patch_grid(ax, imgs.shape[1], imgs.shape[2], patch_size)
        text, color = texts[i], "black"
        if matches is not None:
            kind = MATCH if matches[i] else NO_MATCH
            text, color = f"{kind['symbol']} {kind['word']}\n{text}", kind["color"]
            for spine in ax.spines.values():
                spine.set(color=color, linewidth=3, linestyle="-" if matches[i] else "--")
        ax.set_title(text, fontfamily=families, fontsize=11, color=color)
    return fig


@styled
def worked_example_figure():
    """The article's §4.3 example as three heatmaps: its claim, and the correct weights.

    Left: the identity the article prints for softmax(s_ij). Middle: row-wise
    softmax(S). Right: softmax(S/√d_k) with d_k = 5, its own formula's scaling.
    Tokens 猫 / 喜欢 / 吃鱼 label the rows (queries) and columns (keys); one
    shared colour scale. Returns the Figure (used by notebook 01 and the README).
    """
    from .. import article

    panels = [
        ("article's claim (wrong)", article.claimed_weights()),
        ("softmax(S), row-wise", article.correct_weights(scaled=False)),
        ("softmax(S/√5), d_k = 5", article.correct_weights(scaled=True)),
    ]
    fig, axes = subplots(1, 3, figsize=(12.0, 4.0))
    for ax, (title, weights) in zip(axes, panels):
        attention_heatmap(weights, article.TOKENS, article.TOKENS, ax=ax, title=title, vmax=1.0, digits=4,
                          colorbar=False, ylabel="query" if ax is axes[0] else "")
    fig.colorbar(axes[0].images[0], ax=list(axes), shrink=0.9, label="weight (shared scale)")
    return fig


def save_figure(fig, path) -> Path:
    """Save ``fig`` as a PNG at :data:`DPI`, atomically (temp file, then os.replace), without a Software chunk."""
    path = Path(path)
    with atomic_open(path, "wb") as f:
        fig.savefig(f, dpi=DPI, format="png", bbox_inches="tight", metadata={"Software": None})
    return path
