"""The tutorials' other figures, kept here so a notebook cell stays about attention.

    temperature_figure(...)   01: the self weight of softmax(S/T) against T
    scaling_figure(...)       02: logit variance and softmax saturation against d_k
    patch_grid_figure(...)    03: an image cut into its p×p patches
    mask_figure(...)          03: boolean attention masks, side by side
    positions_figure(pe)      05: the sinusoidal position code as a heatmap
    memory_figure(...)        09: peak memory of plain and blocked attention

All get the defaults of :mod:`gemini_np.viz.style` and return the Figure.
"""
from __future__ import annotations

import numpy as np

from ..backend import to_numpy
from .plots import subplots
from .style import MARKERS, PALETTE, styled


@styled
def temperature_figure(temperatures, self_weights, marked: dict):
    """The self weight w_11 of softmax(S/T) against T (log axis).

    temperatures, self_weights: the curve. marked: {label: (T, w_11)} points drawn
    as vertical lines with their value in the legend.
    """
    fig, ax = subplots(figsize=(8.4, 4.2))
    ax.semilogx(temperatures, self_weights, color=PALETTE[0], label="self weight $w_{11}$")
    ax.axhline(1.0, color="black", linestyle=":", label="the article's claim (only as T → 0)")
    styles = ("--", "-.", (0, (1, 1)))
    for (label, (t, w)), color, style, marker in zip(marked.items(), PALETTE[1:], styles, MARKERS[1:]):
        ax.axvline(t, color=color, linestyle=style, linewidth=1.5)
        ax.plot([t], [w], marker=marker, color=color, markersize=10, linestyle="none", label=f"{label}: {w:.4f}")
    ax.set(xlabel="temperature T", ylabel="weight", ylim=(0.0, 1.05), title="softmax(S / T): the identity only as T → 0")
    ax.legend(loc="lower left")
    return fig


@styled
def scaling_figure(widths, var, var_scaled, max_w, max_w_scaled, n_keys: int):
    """Left: var(q·k) and var(q·k/√d_k) against d_k, with the line var = d_k drawn on top.
    Right: the mean largest softmax weight, unscaled and scaled."""
    fig, (ax1, ax2) = subplots(1, 2, figsize=(12.0, 4.4))
    ax1.loglog(widths, var, marker=MARKERS[0], markersize=9, linestyle="none", color=PALETTE[0],
               label="var(q·k), measured")
    ax1.loglog(widths, var_scaled, marker=MARKERS[1], color=PALETTE[3], label="var(q·k / √d_k), measured")
    # the reference line lies on the data, so it is drawn last, on top, dashed and dark
    ax1.loglog(widths, widths, linestyle="--", color="black", linewidth=1.5, zorder=5, label="var = d_k (theory)")
    ax1.set(xlabel="d_k", ylabel="variance of the logits", title="logit variance")
    ax1.legend(loc="upper left")
    ax2.semilogx(widths, max_w, marker=MARKERS[0], color=PALETTE[0], label="unscaled")
    ax2.semilogx(widths, max_w_scaled, marker=MARKERS[1], linestyle="--", color=PALETTE[3], label="scaled by 1/√d_k")
    ax2.axhline(1 / n_keys, color="black", linestyle=":", linewidth=1.5, label=f"uniform (1/{n_keys})")
    ax2.set(xlabel="d_k", ylabel=f"mean largest weight ({n_keys} keys)", ylim=(0, 1.02), title="saturation of the softmax")
    ax2.legend(loc="center right")
    return fig


@styled
def patch_grid_figure(patches, title: str):
    """patches: (H/p, W/p, p·p, 3) from patchify; each patch drawn on its own, with its number."""
    a = np.asarray(to_numpy(patches), dtype=np.float64)
    rows, cols, pp, c = a.shape
    p = int(round(pp ** 0.5))
    # a little taller than wide: the titles take height, and the square panels must still fill the width
    fig, axes = subplots(rows, cols, figsize=(9.0, 9.0 * rows / cols + 1.6), layout=None, squeeze=False)
    for (i, j), ax in np.ndenumerate(axes):
        ax.imshow(np.clip(a[i, j].reshape(p, p, c), 0, 1), interpolation="nearest")
        ax.set(xticks=[], yticks=[])
        ax.set_title(f"patch {i * cols + j} = ({i}, {j})", fontsize=11)
    fig.suptitle(title)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.9, wspace=0.08, hspace=0.3)
    return fig


@styled
def mask_figure(masks, titles, xlabel: str = "key", ylabel: str = "query"):
    """Boolean masks side by side: dark = may attend, light = masked (a two-entry colour bar says so)."""
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap(["#f2f2f2", PALETTE[0]])
    fig, axes = subplots(1, len(masks), figsize=(6.0 * len(masks), 5.4), squeeze=False)
    for ax, mask, title in zip(axes[0], masks, titles):
        image = ax.imshow(np.asarray(mask, dtype=float), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    bar = fig.colorbar(image, ax=list(axes[0]), shrink=0.8, ticks=[0.25, 0.75])
    bar.ax.set_yticklabels(["masked\n(False)", "may attend\n(True)"])
    return fig


@styled
def positions_figure(pe, title: str = "sinusoidal position code"):
    """pe: (n, d). Positions down, features across; sines left of the dashed line, cosines right."""
    a = np.asarray(to_numpy(pe), dtype=np.float64)
    n, d = a.shape
    fig, ax = subplots(figsize=(10.0, 4.8))
    image = ax.imshow(a, cmap="PuOr", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
    ax.axvline(d / 2 - 0.5, color="black", linestyle="--", linewidth=2)
    top = ax.secondary_xaxis("top")
    top.set_xticks([d / 4 - 0.5, 3 * d / 4 - 0.5], ["sin(pos·ω_i), i < d/2", "cos(pos·ω_i)"], fontweight="bold")
    top.tick_params(length=0)
    ax.set(xlabel="feature", ylabel="position", title=title)
    fig.colorbar(image, ax=ax, shrink=0.9, label="value")
    return fig


@styled
def memory_figure(block_sizes, blocked_mib, plain_mib, ns, plain_by_n, blocked_by_n, n: int, d: int,
                  block_for_n: int):
    """Left: peak MiB against the block size at one n. Right: peak MiB against n, plain and blocked."""
    fig, (ax1, ax2) = subplots(1, 2, figsize=(12.0, 4.6))
    ax1.plot(block_sizes, blocked_mib, marker=MARKERS[0], color=PALETTE[0], label="blocked")
    ax1.axhline(plain_mib, color=PALETTE[3], linestyle="--", label="plain")
    ax1.set(xscale="log", ylim=(0, 1.1 * plain_mib), xlabel="block size b", ylabel="peak MiB",
            title=f"n = {n}, d = {d}, float64")
    ax1.set_xticks(block_sizes, [str(b) for b in block_sizes])
    ax1.minorticks_off()
    ax1.legend(loc="center right")
    ax2.plot(ns, plain_by_n, marker=MARKERS[1], linestyle="--", color=PALETTE[3], label="plain  (~n²)")
    ax2.plot(ns, blocked_by_n, marker=MARKERS[0], color=PALETTE[0], label=f"blocked, b = {block_for_n}  (~n)")
    ax2.set(xscale="log", yscale="log", xlabel="sequence length n", ylabel="peak MiB", title="forward + backward")
    ax2.minorticks_off()
    ax2.set_xticks(ns, [str(x) for x in ns])
    ticks = [t for t in (1, 4, 16, 64, 256, 1024) if min(blocked_by_n) / 2 <= t <= 2 * max(plain_by_n)]
    ax2.set_yticks(ticks, [str(t) for t in ticks])
    ax2.legend(loc="upper left")
    return fig
