"""The figures of a training run: loss and accuracy curves, and the fusion attention.

    save_run_figures(result, directory)   curves.png and attention.png, returns their paths
    curves_figure(result)                 loss per batch and per epoch; train and test accuracy
    attention_figure(model, data)         a few test pairs: the image, and the fusion attention
                                          of each caption token over the image patches
"""
from __future__ import annotations

from pathlib import Path

import numpy

from ..backend import to_numpy
from ..data import model_inputs
from .plots import attention_heatmap, save_figure, subplots


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


def curves_figure(result):
    """Loss (every batch, and the test loss per epoch) and accuracy per epoch. Returns the Figure."""
    fig, (ax_loss, ax_acc) = subplots(1, 2, figsize=(9.0, 3.2))
    steps_per_epoch = len(result.step_losses) / max(1, len(result.history))
    epochs = [h["epoch"] for h in result.history]
    ax_loss.plot([(i + 1) / steps_per_epoch for i in range(len(result.step_losses))], result.step_losses,
                 linewidth=0.8, label="train (each batch)")
    ax_loss.plot(epochs, [h["test_loss"] for h in result.history], "o-", label="test (end of epoch)")
    ax_loss.set(xlabel="epoch", ylabel="binary cross-entropy", title="loss")
    ax_loss.legend()
    ax_acc.plot(epochs, [h["train_accuracy"] for h in result.history], "o-", label="train (running)")
    ax_acc.plot(epochs, [h["test_accuracy"] for h in result.history], "s-", label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", ylim=(0.0, 1.05), title="accuracy")
    ax_acc.legend()
    return fig


def attention_figure(model, data, n_examples: int = 4, ablate=None):
    """Images of the first ``n_examples`` pairs of ``data`` and, below each, the
    last fusion layer's attention from the caption tokens (rows) to the image
    patches (columns), averaged over heads. Returns the Figure."""
    picked = data.subset(numpy.arange(min(n_examples, len(data))))
    tokens, images, labels = model_inputs(picked, model.dtype, ablate)
    logits = to_numpy(model.forward(tokens, images))
    weights = to_numpy(model.attention_maps["fusion"][-1]).mean(axis=1)  # (B, n+m, n+m), mean over heads
    n = picked.tokens.shape[1]
    fig, axes = subplots(2, len(picked), figsize=(3.2 * len(picked), 5.4), squeeze=False)
    for j in range(len(picked)):
        words = picked.vocab.decode(picked.tokens[j])
        verdict = "match" if logits[j] > 0 else "no match"
        truth = "match" if picked.labels[j] > 0.5 else "no match"
        axes[0, j].imshow(numpy.clip(picked.images[j], 0.0, 1.0), interpolation="nearest")
        axes[0, j].set_xticks([])
        axes[0, j].set_yticks([])
        axes[0, j].set_title(f"model: {verdict} (p={1 / (1 + numpy.exp(-logits[j])):.2f})\nlabel: {truth}", fontsize=8)
        text_to_image = weights[j, : len(words), n:]  # caption tokens -> patches
        patch_labels = [str(k) for k in range(text_to_image.shape[1])]
        attention_heatmap(text_to_image, words, patch_labels, ax=axes[1, j], colorbar=False, annotate=False,
                          xlabel="image patch (row-major)", ylabel="caption token")
    return fig
