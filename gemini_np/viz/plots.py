"""Figures for class: attention heatmaps, patch-weight overlays, image grids.

    attention_heatmap(weights, row_labels, col_labels)   one attention matrix P,
        queries down, keys across, the value written in each cell of a small
        matrix, and a colour bar
    patch_overlay(image, weight_map, patch_size)         weights drawn over a picture
    query_weight_map(weights, patch_size, row, col)      one pixel's patch-attention
        weights as an (H, W) map, ready for patch_overlay

Chinese labels are drawn through :mod:`gemini_np.viz.fonts` (a CJK font, or
pinyin). The figure functions take NumPy or CuPy arrays (they copy to the host)
and return the matplotlib Figure; they never call ``plt.show()``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..files import atomic_open
from ..backend import to_numpy
from .fonts import LATIN_FAMILY, display_labels

#: Resolution of every figure made here (and of the PNGs in the notebooks).
DPI = 90


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
    from .. import article

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

