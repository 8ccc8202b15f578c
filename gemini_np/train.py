"""Training and evaluation: the article's §5 experiment, for real.

The protocol (the defaults of :class:`TrainConfig` and of ``python -m gemini_np train``):
1000 image-caption pairs (500 matching, 500 not), an 80/20 train/test split
with seed 42, 10 epochs of mini-batches of 32, Adam, binary cross-entropy on
the matching logit, and the test accuracy at the end.

The loop is the plain one:

    for each epoch:
        shuffle the training pairs (host rng, so a seed fixes the order)
        for each batch:  logits = model.forward(tokens, images)
                         loss = BCE(logits, labels);  dlogits = dL/dlogits
                         model.backward(dlogits);     optimizer.step(model.params, model.grads)
        evaluate on the test pairs
"""
from __future__ import annotations

import dataclasses
import math
import sys
import time
from pathlib import Path

import numpy

from .backend import array_namespace, from_numpy, get_backend, to_numpy
from .data import MatchingDataset, UNK_ID, make_dataset, split_indices
from .functional import bce_with_logits_backward, bce_with_logits_forward
from .model import GeminiModel
from .optim import SGD, Adam

ABLATIONS = (None, "text", "image")


@dataclasses.dataclass
class TrainConfig:
    """Everything that determines a training run (and so its result)."""

    samples: int = 1000  # image-caption pairs, half matching
    epochs: int = 10
    batch_size: int = 32
    lr: float = 2e-3  # Adam's peak learning rate
    warmup: int = 25  # steps of linear learning-rate warm-up (0 = none)
    cosine: bool = True  # cosine decay of the learning rate to 0 over the run
    optimizer: str = "adam"  # or "sgd" (with momentum 0.9)
    clip_norm: float | None = None  # joint gradient-norm clipping; None = off
    seed: int = 0  # model initialisation and batch order
    data_seed: int = 0  # which pairs are drawn
    test_fraction: float = 0.2
    split_seed: int = 42  # the article's train_test_split(..., random_state=42)
    ablate: str | None = None  # "text" or "image": that input is replaced by a constant
    language: str = "zh"
    jitter: int = 0  # data: random shift of the shapes, in pixels
    noise: float = 0.03  # data: pixel noise
    dtype: str = "float64"
    d_model: int = 32
    n_heads: int = 2
    d_ff: int = 64
    patch_size: int = 4
    patch_layers: int = 1
    fusion_layers: int = 1

    def __post_init__(self):
        if self.ablate not in ABLATIONS:
            raise ValueError(f"ablate must be None, 'text' or 'image', got {self.ablate!r}")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        for name in ("samples", "epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")

    def data_config(self) -> dict:
        """What is needed to rebuild exactly the same train/test split."""
        keys = ("samples", "data_seed", "test_fraction", "split_seed", "language", "jitter", "noise", "ablate")
        return {k: getattr(self, k) for k in keys}


@dataclasses.dataclass
class TrainResult:
    model: GeminiModel
    config: TrainConfig
    metrics: dict  # test_accuracy, train_accuracy, train_seconds, ...
    history: list  # one dict per epoch: loss, train_accuracy (running), test_loss, test_accuracy
    step_losses: list  # the training loss of every batch
    test_set: MatchingDataset  # host data of the held-out pairs


# ----------------------------------------------------------------------------- data


def load_split(data_config: dict):
    """(train, test) MatchingDatasets for a :meth:`TrainConfig.data_config` dict."""
    data = make_dataset(data_config["samples"], seed=data_config["data_seed"], language=data_config["language"],
                        jitter=data_config["jitter"], noise=data_config["noise"])
    train_index, test_index = split_indices(len(data), data_config["test_fraction"], data_config["split_seed"])
    return data.subset(train_index), data.subset(test_index)


def model_inputs(data: MatchingDataset, dtype: str, ablate=None):
    """Host dataset -> (tokens, images, labels) on the current backend.

    ablate="text": every caption becomes the same all-``<unk>`` caption;
    ablate="image": every image becomes black. Either way that modality
    carries no information, at train and at test time.
    """
    tokens, images = data.tokens, data.images
    if ablate == "text":
        tokens = numpy.full_like(tokens, UNK_ID)
    elif ablate == "image":
        images = numpy.zeros_like(images)
    return (from_numpy(tokens), from_numpy(images.astype(dtype)), from_numpy(data.labels.astype(dtype)))


def batches(n: int, batch_size: int, rng=None):
    """Index arrays of consecutive batches of range(n), shuffled when ``rng`` is given."""
    order = numpy.arange(n) if rng is None else rng.permutation(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def take(array, index):
    """array[index] for a host int index, on the array's backend (``take``, not fancy indexing)."""
    xp = array_namespace(array)
    return xp.take(array, from_numpy(index, like=array), axis=0)


# ----------------------------------------------------------------------------- progress


class ProgressBar:
    """A one-line progress bar on stderr: ``epoch  3/10 [#####.....] 12/25 loss 0.412 acc 0.812``.

    On a terminal the line is redrawn in place after every batch; into a file
    or a pipe only the finished line of each epoch is written (no \\r noise in logs).
    """

    def __init__(self, total: int, label: str, stream=None, width: int = 24, enabled: bool = True):
        self.total, self.label, self.width, self.enabled = total, label, width, enabled
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.live = bool(isatty and isatty())

    def _line(self, done: int, values: dict) -> str:
        filled = int(self.width * done / max(1, self.total))
        bar = "#" * filled + "." * (self.width - filled)
        extra = " ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items())
        return f"{self.label} [{bar}] {done}/{self.total} {extra}"

    def update(self, done: int, **values) -> None:
        if self.enabled and self.live:
            self.stream.write("\r" + self._line(done, values))
            self.stream.flush()

    def close(self, **values) -> None:
        if self.enabled:
            self.stream.write(("\r" if self.live else "") + self._line(self.total, values) + "\n")
            self.stream.flush()


# ----------------------------------------------------------------------------- train / evaluate


def evaluate(model: GeminiModel, tokens, images, labels, batch_size: int = 200) -> dict:
    """Mean BCE loss and accuracy (logit > 0 means "match") over a whole set.

    Returns {"loss", "accuracy", "pairs"} as Python numbers (one host copy per batch).
    """
    total_loss, correct, n = 0.0, 0, int(labels.shape[0])
    for index in batches(n, batch_size):
        t, im, y = take(tokens, index), take(images, index), take(labels, index)
        logits = model.forward(t, im)
        loss, _ = bce_with_logits_forward(logits, y)
        total_loss += float(to_numpy(loss)) * len(index)
        correct += count_correct(logits, y)
    return {"loss": total_loss / n, "accuracy": correct / n, "pairs": n}


def count_correct(logits, labels) -> int:
    """How many predictions (logit > 0 means "match") equal the labels; one host copy."""
    xp = array_namespace(logits, labels)
    right = (logits > 0.0) == (labels > 0.5)
    return int(to_numpy(xp.sum(xp.astype(right, xp.int64))))


def build_model(config: TrainConfig, vocab_size: int) -> GeminiModel:
    return GeminiModel(vocab_size=vocab_size, image_size=16, patch_size=config.patch_size, channels=3,
                       d_model=config.d_model, n_heads=config.n_heads, d_ff=config.d_ff,
                       patch_layers=config.patch_layers, fusion_layers=config.fusion_layers, seed=config.seed,
                       dtype=config.dtype)


def learning_rate(config: TrainConfig, step: int, total: int) -> float:
    """The learning rate at ``step`` (1-based) of ``total``: linear warm-up, then optional cosine decay."""
    lr = config.lr * min(1.0, step / config.warmup) if config.warmup else config.lr
    if config.cosine:
        lr *= 0.5 * (1.0 + math.cos(math.pi * (step - 1) / total))
    return lr


def make_optimizer(config: TrainConfig):
    if config.optimizer == "adam":
        return Adam(lr=config.lr, clip_norm=config.clip_norm)
    return SGD(lr=config.lr, momentum=0.9, clip_norm=config.clip_norm)


def train(config: TrainConfig | None = None, progress: bool = True, stream=None, threads: int | None = 1) -> TrainResult:
    """Run the protocol of ``config``; deterministic for a given config and thread count.

    progress: draw a progress bar per epoch on ``stream`` (stderr by default).
    threads: BLAS threads during the run (None: leave NumPy's setting alone).
        One is the default because this model's matrix products are small
        (32-wide): a second OpenBLAS thread gains little, and on a busy
        machine its spin-waiting made a run 5-10x slower (measured: 137-277 s
        with 2 threads against 20-23 s with 1, 2 cores at load average 4-7).
    Returns a TrainResult with the trained model, metrics and per-epoch history.
    """
    config = TrainConfig() if config is None else config
    if threads is None:
        return _train(config, progress, stream)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads, user_api="blas"):
        return _train(config, progress, stream)


def _train(config: TrainConfig, progress: bool, stream) -> TrainResult:
    train_set, test_set = load_split(config.data_config())
    tokens, images, labels = model_inputs(train_set, config.dtype, config.ablate)
    test_inputs = model_inputs(test_set, config.dtype, config.ablate)
    model = build_model(config, len(train_set.vocab))
    optimizer = make_optimizer(config)
    rng = numpy.random.default_rng(config.seed)
    n = len(train_set)
    n_batches = math.ceil(n / config.batch_size)
    history, step_losses = [], []
    start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        bar = ProgressBar(n_batches, f"epoch {epoch:>2}/{config.epochs}", stream, enabled=progress)
        loss_sum, correct, seen = 0.0, 0, 0
        for b, index in enumerate(batches(n, config.batch_size, rng), start=1):
            step = (epoch - 1) * n_batches + b
            optimizer.lr = learning_rate(config, step, config.epochs * n_batches)
            t, im, y = take(tokens, index), take(images, index), take(labels, index)
            logits = model.forward(t, im)
            loss, cache = bce_with_logits_forward(logits, y)
            model.backward(bce_with_logits_backward(1.0, cache))
            optimizer.step(model.params, model.grads)
            # logging: one host copy of the loss and of the number correct per batch
            step_losses.append(float(to_numpy(loss)))
            loss_sum += step_losses[-1] * len(index)
            correct += count_correct(logits, y)
            seen += len(index)
            bar.update(b, loss=loss_sum / seen, acc=correct / seen)
        test = evaluate(model, *test_inputs)
        history.append({"epoch": epoch, "loss": loss_sum / seen, "train_accuracy": correct / seen,
                        "test_loss": test["loss"], "test_accuracy": test["accuracy"]})
        bar.close(loss=loss_sum / seen, acc=correct / seen, test_acc=test["accuracy"])
    train_seconds = time.perf_counter() - start
    final_train = evaluate(model, tokens, images, labels)
    metrics = {
        "test_accuracy": history[-1]["test_accuracy"],
        "test_loss": history[-1]["test_loss"],
        "train_accuracy": final_train["accuracy"],
        "train_loss": final_train["loss"],
        "train_seconds": train_seconds,
        "epochs": config.epochs,
        "samples": config.samples,
        "train_pairs": n,
        "test_pairs": len(test_set),
        "batch_size": config.batch_size,
        "lr": config.lr,
        "optimizer": config.optimizer,
        "seed": config.seed,
        "ablate": config.ablate,
        "language": config.language,
        "dtype": config.dtype,
        "backend": get_backend().__name__,
        "parameters": model.num_params(),
    }
    return TrainResult(model, config, metrics, history, step_losses, test_set)


# ----------------------------------------------------------------------------- checkpoint-level evaluation


def evaluate_model_on_split(model: GeminiModel, data_config: dict, batch_size: int = 200) -> dict:
    """Accuracy and loss of ``model`` on the held-out pairs that ``data_config`` describes.

    data_config: as from :meth:`TrainConfig.data_config` (stored in every
    checkpoint), so a saved model is evaluated on exactly its own test split.
    """
    _, test_set = load_split(data_config)
    inputs = model_inputs(test_set, model.dtype, data_config.get("ablate"))
    return evaluate(model, *inputs, batch_size=batch_size)


# ----------------------------------------------------------------------------- figures


def save_plots(result: TrainResult, directory, n_examples: int = 4) -> list:
    """Write the run's figures as PNG files into ``directory``; returns their paths.

    curves.png     left: the training loss of every batch and the test loss after
                   each epoch; right: train (running) and test accuracy per epoch
    attention.png  for a few test pairs: the image, and the fusion attention of
                   each caption token over the image patches (mean over heads)

    Drawn with ``gemini_np.viz`` (Chinese labels in a CJK font when one is
    installed, else in pinyin). Every figure is closed after saving.
    """
    import matplotlib.pyplot as plt

    from . import viz

    directory = Path(directory)
    fig, (ax_loss, ax_acc) = viz.subplots(1, 2, figsize=(9.0, 3.2))
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
    paths = [viz.save_figure(fig, directory / "curves.png")]
    plt.close(fig)

    fig = attention_figure(result.model, result.test_set, n_examples, result.config.ablate)
    paths.append(viz.save_figure(fig, directory / "attention.png"))
    plt.close(fig)
    return paths


def attention_figure(model: GeminiModel, data: MatchingDataset, n_examples: int = 4, ablate=None):
    """Images of the first ``n_examples`` pairs of ``data`` and, below each, the
    last fusion layer's attention from the caption tokens (rows) to the image
    patches (columns), averaged over heads. Returns the Figure."""
    from . import viz

    picked = data.subset(numpy.arange(min(n_examples, len(data))))
    tokens, images, labels = model_inputs(picked, model.dtype, ablate)
    logits = to_numpy(model.forward(tokens, images))
    weights = to_numpy(model.attention_maps["fusion"][-1]).mean(axis=1)  # (B, n+m, n+m), mean over heads
    n = picked.tokens.shape[1]
    fig, axes = viz.subplots(2, len(picked), figsize=(3.2 * len(picked), 5.4), squeeze=False)
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
        viz.attention_heatmap(text_to_image, words, patch_labels, ax=axes[1, j], colorbar=False, annotate=False,
                              xlabel="image patch (row-major)", ylabel="caption token")
    return fig
