"""The figures of a training run: loss and accuracy curves, and the fusion attention.

    save_run_figures(result, directory)   curves.png and attention.png, returns their paths
    curves_figure(result)                 loss per batch and per epoch; train and test accuracy,
                                          with what "always answer match" scores on the test split
    attention_figure(model, data)         a few test pairs: the image with its patches numbered,
                                          and the fusion attention of each caption word over them
"""
from __future__ import annotations

from pathlib import Path

import numpy

from ..backend import to_numpy
from ..data import model_inputs
from .fonts import display_labels
from .plots import attention_heatmap, draw_patch_grid, save_figure, subplots
from .style import MARKERS, MATCH, NO_MATCH, PALETTE, styled


def save_run_figures(result, directory, n_examples: int = 4) -> list:
    """Write the figures of a :class:`gemini_np.train.TrainResult` as PNG files; returns their paths.

    curves.png     left: the training loss of every batch and the test loss after
                   each epoch; right: train (running) and test accuracy per epoch
    attention.png  see :func:`attention_figure`
    Every figure is closed after saving.
    """
    import matplotlib.pyplot as plt

    directory = Path(directory)
    paths = []
    for name, fig in (("curves.png", curves_figure(result)),
                      ("attention.png", attention_figure(result.model, result.test_set, n_examples,
                                                         result.config.ablate))):
        paths.append(save_figure(fig, directory / name))
        plt.close(fig)
    return paths


def majority_accuracy(labels) -> float:
    """The accuracy of always giving the more frequent answer: the floor any model must beat."""
    share = float(numpy.mean(numpy.asarray(labels) > 0.5))
    return max(share, 1.0 - share)


@styled
def curves_figure(result):
    """Loss (every batch, and the test loss per epoch) and accuracy per epoch. Returns the Figure."""
    fig, (ax_loss, ax_acc) = subplots(1, 2, figsize=(12.0, 4.4))
    steps_per_epoch = len(result.step_losses) / max(1, len(result.history))
    epochs = [h["epoch"] for h in result.history]
    ax_loss.plot([(i + 1) / steps_per_epoch for i in range(len(result.step_losses))], result.step_losses,
                 linewidth=1.0, color=PALETTE[5], label="train (each batch)")
    ax_loss.plot(epochs, [h["test_loss"] for h in result.history], marker=MARKERS[1], color=PALETTE[3],
                 label="test (end of epoch)")
    ax_loss.set(xlabel="epoch", ylabel="binary cross-entropy", title="loss")
    ax_loss.legend()
    ax_acc.plot(epochs, [h["train_accuracy"] for h in result.history], marker=MARKERS[0], color=PALETTE[0],
                label="train (running)")
    ax_acc.plot(epochs, [h["test_accuracy"] for h in result.history], marker=MARKERS[1], color=PALETTE[3],
                linestyle="--", label="test")
    floor = majority_accuracy(result.test_set.labels)
    ax_acc.axhline(floor, color="black", linestyle=":", linewidth=1.5,
                   label=f"always 'match' on the test split ({floor:.3f})")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", ylim=(0.4, 1.02), title="accuracy")
    ax_acc.legend(loc="lower right")
    return fig


@styled
def attention_figure(model, data, n_examples: int = 4, ablate=None):
    """The first ``n_examples`` pairs of ``data``: each image (patch grid, patches numbered)
    with its caption and the model's verdict as title, and below it the last fusion
    layer's attention from the caption words (rows) to the image patches (columns),
    averaged over heads, on one shared colour scale with a colour bar. Returns the Figure."""
    picked = data.subset(numpy.arange(min(n_examples, len(data))))
    tokens, images, _ = model_inputs(picked, model.dtype, ablate)
    logits = to_numpy(model.forward(tokens, images))
    weights = to_numpy(model.attention_maps["fusion"][-1]).mean(axis=1)  # (B, n+m, n+m), mean over heads
    n = picked.tokens.shape[1]
    rows = [weights[j, : len(picked.vocab.decode(picked.tokens[j])), n:] for j in range(len(picked))]
    top = max(float(r.max()) for r in rows)  # one colour scale for every example
    p = model.config.patch_size
    fig, axes = subplots(2, len(picked), figsize=(4.6 * len(picked), 9.0), squeeze=False,
                         gridspec_kw={"height_ratios": [1.25, 1.0]})
    for j in range(len(picked)):
        words = picked.vocab.decode(picked.tokens[j])
        kind = MATCH if logits[j] > 0 else NO_MATCH
        truth = "match" if picked.labels[j] > 0.5 else "no match"
        caption, families = display_labels([" ".join(words)])
        image_ax = axes[0, j]
        image_ax.imshow(numpy.clip(picked.images[j], 0.0, 1.0), interpolation="nearest")
        draw_patch_grid(image_ax, picked.images[j].shape[0], picked.images[j].shape[1], p, numbers=True)
        image_ax.set(xticks=[], yticks=[])
        image_ax.set_title(f"{caption[0]}\nmodel: {kind['symbol']} {kind['word']} "
                           f"(p = {1 / (1 + numpy.exp(-logits[j])):.2f})\nlabel: {truth}",
                           fontfamily=families, fontsize=11)
        attention_heatmap(rows[j], words, [str(k) for k in range(rows[j].shape[1])], ax=axes[1, j],
                          colorbar=False, annotate=False, vmax=top, xlabel="image patch (numbered above)",
                          ylabel="caption word" if j == 0 else "")
        axes[1, j].tick_params(axis="x", labelrotation=0, labelsize=10)
    fig.colorbar(axes[1, 0].images[0], ax=list(axes[1]), shrink=0.9, label="weight (shared scale)")
    fig.suptitle("fusion attention of each caption word over the image patches (last layer, mean over heads)")
    return fig
