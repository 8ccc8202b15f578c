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
import time

import numpy

from .backend import array_namespace, get_backend, to_numpy
from .data import DataConfig, MatchingDataset, batches, load_split, model_inputs, take
from .functional import bce_with_logits_backward, bce_with_logits_forward
from .model import GeminiModel, ModelConfig
from .optim import SGD, Adam
from .progress import ProgressBar
from .validation import check_choice, check_int, check_positive_int, check_real

OPTIMIZERS = ("adam", "sgd")


class TrainingDiverged(RuntimeError):
    """The loss or the parameters became NaN or infinite: the run stops and nothing is saved."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (and so its result).

    The data settings are those of :class:`gemini_np.data.DataConfig` (see
    :meth:`data_config`); ``model`` describes the network, its ``vocab_size``
    filled in from the data's vocabulary when left at None.
    """

    samples: int = 1000  # image-caption pairs, half matching
    epochs: int = 10
    batch_size: int = 32
    lr: float = 2e-3  # Adam's peak learning rate
    warmup: int = 25  # steps of linear learning-rate warm-up (0 = none)
    cosine: bool = True  # cosine decay of the learning rate to 0 over the run
    optimizer: str = "adam"  # or "sgd" (with momentum 0.9)
    clip_norm: float | None = None  # joint gradient-norm clipping; None = off
    seed: int = 0  # the batch order (the initial weights are model.seed's)
    data_seed: int = 0  # which pairs are drawn
    test_fraction: float = 0.2
    split_seed: int = 42  # the article's train_test_split(..., random_state=42)
    ablate: str | None = None  # "text" or "image": that input is replaced by a constant
    language: str = "zh"
    jitter: int = 0  # data: random shift of the shapes, in pixels
    noise: float = 0.03  # data: pixel noise
    model: ModelConfig = ModelConfig()  # the network (dtype included); vocab_size from the data

    def __post_init__(self):
        check_positive_int(self.epochs, "epochs")
        check_positive_int(self.batch_size, "batch_size")
        object.__setattr__(self, "lr", check_real(self.lr, "lr", positive=True))
        check_int(self.warmup, "warmup", minimum=0)
        if not isinstance(self.cosine, bool):
            raise TypeError(f"cosine must be True or False, got {self.cosine!r}")
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        if self.clip_norm is not None:
            object.__setattr__(self, "clip_norm", check_real(self.clip_norm, "clip_norm", positive=True))
        check_int(self.seed, "seed", minimum=0)
        if not isinstance(self.model, ModelConfig):
            raise TypeError(f"model must be a gemini_np.model.ModelConfig, got {type(self.model).__name__}")
        self.data_config()  # validates the data settings (samples, seeds, language, noise, ablate, ...)

    @property
    def dtype(self) -> str:
        """The model's (and so the data's) float dtype."""
        return self.model.dtype

    def data_config(self) -> DataConfig:
        """What is needed to rebuild exactly the same train/test split."""
        return DataConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(DataConfig)})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class TrainResult:
    model: GeminiModel
    config: TrainConfig
    metrics: dict  # test_accuracy, train_accuracy, train_seconds, ...
    history: list  # one dict per epoch: loss, train_accuracy (running), test_loss, test_accuracy
    step_losses: list  # the training loss of every batch
    test_set: MatchingDataset  # host data of the held-out pairs


# ----------------------------------------------------------------------------- train / evaluate


def evaluate(model: GeminiModel, tokens, images, labels, batch_size: int = 200) -> dict:
    """Mean BCE loss, accuracy and balanced accuracy (logit > 0 means "match") over a whole set.

    Balanced accuracy is the mean of the accuracy on the matching pairs and on the
    others: a model that always answers the same scores exactly 0.5 on it, whatever
    the share of matching pairs (accuracy would give that share, e.g. 0.545 on the
    article's test split, whose 200 pairs hold 109 matches).
    Returns {"loss", "accuracy", "balanced_accuracy", "pairs"} as Python numbers
    (one host copy per batch).
    """
    total_loss, n = 0.0, int(labels.shape[0])
    right = numpy.zeros(2)  # correct answers among the non-matching (0) and the matching (1) pairs
    for index in batches(n, batch_size):
        t, im, y = take(tokens, index), take(images, index), take(labels, index)
        logits = model.forward(t, im)
        loss, _ = bce_with_logits_forward(logits, y)
        total_loss += float(to_numpy(loss)) * len(index)
        truth = to_numpy(y) > 0.5
        correct = (to_numpy(logits) > 0.0) == truth
        right += [numpy.sum(correct & ~truth), numpy.sum(correct & truth)]
    host_labels = to_numpy(labels) > 0.5
    per_class = right / numpy.maximum(1, [numpy.sum(~host_labels), numpy.sum(host_labels)])
    return {"loss": total_loss / n, "accuracy": float(right.sum()) / n,
            "balanced_accuracy": float(per_class.mean()), "pairs": n}


def count_correct(logits, labels) -> int:
    """How many predictions (logit > 0 means "match") equal the labels; one host copy."""
    xp = array_namespace(logits, labels)
    right = (logits > 0.0) == (labels > 0.5)
    return int(to_numpy(xp.sum(xp.astype(right, xp.int64))))


def build_model(config: TrainConfig, data: MatchingDataset) -> GeminiModel:
    """The model ``config.model`` describes, its vocabulary the data's; the images must fit it."""
    model_config = config.model.complete(vocab_size=len(data.vocab))
    image_shape = tuple(data.images.shape[1:])
    expected = (model_config.image_size, model_config.image_size, model_config.channels)
    if image_shape != expected:
        raise ValueError(f"the data's images are {image_shape} but the model config expects "
                         f"(image_size, image_size, channels) = {expected}")
    return GeminiModel(model_config)


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
    Raises :class:`TrainingDiverged` as soon as the loss is NaN or infinite.
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
    model = build_model(config, train_set)
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
            # logging: one host copy of the loss and of the number correct per batch
            step_losses.append(float(to_numpy(loss)))
            if not math.isfinite(step_losses[-1]):
                raise TrainingDiverged(
                    f"training diverged at epoch {epoch}, batch {b}: the loss is {step_losses[-1]} "
                    f"(learning rate {config.lr:g} too large?); nothing was saved")
            model.backward(bce_with_logits_backward(1.0, cache))
            optimizer.step(model.params, model.grads)
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
    _check_finite(model, final_train, history[-1])
    metrics = {
        "test_accuracy": history[-1]["test_accuracy"],
        "test_balanced_accuracy": test["balanced_accuracy"],
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


def _check_finite(model: GeminiModel, final_train: dict, last_epoch: dict) -> None:
    """After the last step: every parameter and loss finite, else TrainingDiverged."""
    losses = (final_train["loss"], last_epoch["test_loss"])
    bad = [name for name, p in model.params.items() if not numpy.all(numpy.isfinite(to_numpy(p)))]
    if bad or not all(math.isfinite(x) for x in losses):
        what = f"parameters {', '.join(bad[:3])} hold NaN or inf" if bad else f"the final losses are {losses}"
        raise TrainingDiverged(f"training diverged: {what}; nothing was saved")


# ----------------------------------------------------------------------------- checkpoint-level evaluation


def evaluate_model_on_split(model: GeminiModel, data_config: DataConfig, batch_size: int = 200) -> dict:
    """Accuracy and loss of ``model`` on the held-out pairs that ``data_config`` describes.

    data_config: stored in every checkpoint, so a saved model is evaluated on
    exactly its own test split.
    """
    _, test_set = load_split(data_config)
    inputs = model_inputs(test_set, model.dtype, data_config.ablate)
    return evaluate(model, *inputs, batch_size=batch_size)
