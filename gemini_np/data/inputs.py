"""From the synthetic data set to the model's inputs: the split, the arrays, the batches.

    DataConfig                the settings that rebuild a run's exact train/test split
                              (stored in every checkpoint, validated on load)
    load_split(config)        (train, test) MatchingDatasets
    model_inputs(data, dtype) (tokens, images, labels) on the current backend
    batches(n, size, rng)     index arrays of (shuffled) mini-batches
    take(array, index)        array[index] on the array's own backend
"""
from __future__ import annotations

import dataclasses

import numpy

from ..backend import array_namespace, from_numpy
from ..validation import check_choice, check_fields, check_int, check_positive_int, check_real
from .shapes import LANGUAGES, MatchingDataset, make_dataset, split_indices
from .vocab import UNK_ID

#: What ``ablate`` may be: None, or the modality replaced by a constant.
ABLATIONS = (None, "text", "image")
#: The most pairs a data set may hold (about 6 GB of 16×16 RGB float64 images).
MAX_SAMPLES = 1_000_000


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Which image-caption pairs a run uses, and how they are split (the article's §5 by default)."""

    samples: int = 1000  # image-caption pairs, half matching; a multiple of 4
    data_seed: int = 0  # which pairs are drawn
    test_fraction: float = 0.2
    split_seed: int = 42  # the article's train_test_split(..., random_state=42)
    language: str = "zh"  # captions in Chinese ("zh") or English ("en")
    jitter: int = 0  # random shift of the shapes, in pixels
    noise: float = 0.03  # standard deviation of the pixel noise
    ablate: str | None = None  # "text" or "image": that input is replaced by a constant

    def __post_init__(self):
        if check_positive_int(self.samples, "samples") % 4:
            raise ValueError(f"samples must be a multiple of 4 (pairs come in balanced units of four), "
                             f"got {self.samples}")
        if self.samples > MAX_SAMPLES:  # the pairs are drawn in memory: 6 KB of float64 pixels each
            raise ValueError(f"samples must be at most {MAX_SAMPLES:,} (the data set is held in memory), "
                             f"got {self.samples}")
        check_int(self.data_seed, "data_seed", minimum=0)
        check_int(self.split_seed, "split_seed", minimum=0)
        check_int(self.jitter, "jitter", minimum=0)
        object.__setattr__(self, "test_fraction", check_real(self.test_fraction, "test_fraction"))
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {self.test_fraction}")
        object.__setattr__(self, "noise", check_real(self.noise, "noise", minimum=0.0))
        check_choice(self.language, "language", LANGUAGES)
        check_choice(self.ablate, "ablate", ABLATIONS)

    @classmethod
    def from_dict(cls, fields: dict) -> "DataConfig":
        """A config from a dict such as a checkpoint's JSON; unknown or ill-typed fields raise."""
        return cls(**check_fields(cls, fields, "data config"))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def load_split(config: DataConfig):
    """(train, test) MatchingDatasets for ``config``."""
    data = make_dataset(config.samples, seed=config.data_seed, language=config.language, jitter=config.jitter,
                        noise=config.noise)
    train_index, test_index = split_indices(len(data), config.test_fraction, config.split_seed)
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
