"""A synthetic image-text matching dataset: coloured shapes and their captions.

Each image is a small RGB picture (16×16 by default, black background) of one
shape with three attributes: a colour (红色 red, 绿色 green, 蓝色 blue), a shape
(圆形 circle, 方形 square, 三角形 triangle) and a position (左边 left half,
右边 right half). A caption names the three, e.g. "红色 圆形 在 左边"
(English: "a red circle on the left"). The label says whether caption and
image match. 3 × 3 × 2 = 18 attribute combinations; images of the same
combination differ by pixel noise (and by a few pixels of position when
``jitter`` > 0).

**Hard negatives.** A negative caption differs from its image in exactly one
attribute ("红色 圆形 在 右边" for a red circle on the left), so the model must
check all three attributes, in both modalities, to get it right.

**Neither modality alone predicts the label.** The pairs are made in units of
four from two images a and b that differ in one attribute:

    (image a, caption a, 1)   (image b, caption b, 1)
    (image a, caption b, 0)   (image b, caption a, 0)

so every rendered image and every caption occurs exactly as often in a
positive pair as in a negative one. A model that sees only the text (or only
the image) can do no better than chance: the fusion is what must work.

Why this small a world: with the article's budget (800 training pairs, 10
epochs) a model trained from scratch has to learn what a colour, a shape and
a position look like from the matching label alone. The shapes are drawn to
differ clearly (a small disc, a full square, a triangle), so that is possible.
"""
from __future__ import annotations

import dataclasses
import numpy

from ..validation import check_choice, check_int, check_positive_int, check_real
from .vocab import Vocabulary

#: (Chinese word, English word, RGB) for each colour.
COLORS = (
    ("红色", "red", (0.90, 0.10, 0.10)),
    ("绿色", "green", (0.10, 0.80, 0.15)),
    ("蓝色", "blue", (0.15, 0.25, 0.95)),
)
SHAPES = (("圆形", "circle"), ("方形", "square"), ("三角形", "triangle"))
POSITIONS = (("左边", "left"), ("右边", "right"))
ATTRIBUTES = ("color", "shape", "position")
#: How many values each attribute takes, in the order of ATTRIBUTES.
SIZES = (len(COLORS), len(SHAPES), len(POSITIONS))
LANGUAGES = ("zh", "en")
#: The disc's radius as a fraction of the box half-width r (a full-size disc would differ from the
#: square by a few corner pixels only).
CIRCLE_RADIUS = 0.75


def caption(attrs, language: str = "zh") -> str:
    """The caption of (color, shape, position) indices, words separated by spaces.

    >>> caption((0, 0, 0))
    '红色 圆形 在 左边'
    >>> caption((2, 1, 1), "en")
    'a blue square on the right'
    """
    c, s, p = (int(a) for a in attrs)
    if language == "zh":
        return f"{COLORS[c][0]} {SHAPES[s][0]} 在 {POSITIONS[p][0]}"
    if language == "en":
        return f"a {COLORS[c][1]} {SHAPES[s][1]} on the {POSITIONS[p][1]}"
    raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")


def all_captions(language: str = "zh") -> list[str]:
    """Every possible caption (3 colours × 3 shapes × 2 positions = 18)."""
    return [caption((c, s, p), language) for c in range(SIZES[0]) for s in range(SIZES[1]) for p in range(SIZES[2])]


def build_vocabulary(language: str = "zh") -> Vocabulary:
    """The vocabulary of every possible caption; it does not depend on the sample drawn."""
    return Vocabulary.from_texts(all_captions(language))


def render(attrs, image_size: int = 16, rng=None, jitter: int = 0, noise: float = 0.03) -> numpy.ndarray:
    """Draw one shape: (image_size, image_size, 3) float64 in [0, 1], black background.

    The shape fits a square box of half-width r = image_size/4 centred in the
    named half of the image (shifted by up to ``jitter`` pixels each way):
    a full square, an apex-up triangle, or a disc of radius 0.75·r; ``noise``
    is the standard deviation of Gaussian pixel noise.
    """
    rng = numpy.random.default_rng(0) if rng is None else rng
    c, s, p = (int(a) for a in attrs)
    n, r = image_size, image_size / 4
    cy, cx = n / 2, (n / 4 if POSITIONS[p][1] == "left" else 3 * n / 4)
    if jitter:
        cy, cx = cy + rng.integers(-jitter, jitter + 1), cx + rng.integers(-jitter, jitter + 1)
    y, x = numpy.mgrid[0:n, 0:n] + 0.5  # pixel centres
    dy, dx = y - cy, x - cx
    kind = SHAPES[s][1]
    if kind == "circle":
        inside = dy**2 + dx**2 <= (CIRCLE_RADIUS * r) ** 2
    elif kind == "square":
        inside = (numpy.abs(dy) < r) & (numpy.abs(dx) < r)
    else:  # triangle, apex up: half-width grows from 0 at the top to r at the bottom
        inside = (dy >= -r) & (dy < r) & (numpy.abs(dx) <= (dy + r) / 2)
    image = inside[..., None] * numpy.array(COLORS[c][2])
    image = image + noise * rng.standard_normal(image.shape)
    return numpy.clip(image, 0.0, 1.0)


@dataclasses.dataclass
class MatchingDataset:
    """N image-caption pairs, all host NumPy arrays.

    images: (N, H, W, 3) float64; tokens: (N, n) int64 (0 = padding);
    labels: (N,) float64, 1 = caption matches image; captions: N strings;
    image_attrs / caption_attrs: (N, 3) int64 (color, shape, position);
    image_ids: (N,) int64, which rendered image a pair uses (each appears twice);
    vocab: the Vocabulary that made ``tokens``.
    """

    images: numpy.ndarray
    tokens: numpy.ndarray
    labels: numpy.ndarray
    captions: list
    image_attrs: numpy.ndarray
    caption_attrs: numpy.ndarray
    image_ids: numpy.ndarray
    vocab: Vocabulary
    language: str

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index) -> "MatchingDataset":
        """The pairs at ``index`` (an int array), in that order."""
        index = numpy.asarray(index)
        return dataclasses.replace(
            self,
            images=self.images[index],
            tokens=self.tokens[index],
            labels=self.labels[index],
            captions=[self.captions[i] for i in index],
            image_attrs=self.image_attrs[index],
            caption_attrs=self.caption_attrs[index],
            image_ids=self.image_ids[index],
        )


def make_dataset(n_samples: int = 1000, seed: int = 0, language: str = "zh", image_size: int = 16,
                 jitter: int = 0, noise: float = 0.03) -> MatchingDataset:
    """``n_samples`` pairs (half positive, half hard negative), reproducible for a seed.

    n_samples must be a positive multiple of 4 (pairs come in balanced units of
    four, see the module docstring). The pairs are shuffled.
    """
    if check_positive_int(n_samples, "n_samples") % 4:
        raise ValueError(
            f"n_samples must be a positive multiple of 4 (pairs come in balanced units of four), got {n_samples!r}"
        )
    check_choice(language, "language", LANGUAGES)
    check_int(image_size, "image_size", minimum=8)
    check_int(seed, "seed", minimum=0)
    check_int(jitter, "jitter", minimum=0)
    check_real(noise, "noise", minimum=0.0)
    rng = numpy.random.default_rng(seed)
    units = n_samples // 4
    images, image_attrs, caption_attrs, image_ids, labels = [], [], [], [], []
    for u in range(units):
        a = numpy.array([rng.integers(k) for k in SIZES])
        changed = rng.integers(len(ATTRIBUTES))  # the one attribute in which a and b differ
        b = a.copy()
        b[changed] = (a[changed] + rng.integers(1, SIZES[changed])) % SIZES[changed]  # any *other* value
        img_a = render(a, image_size, rng, jitter, noise)
        img_b = render(b, image_size, rng, jitter, noise)
        for img, img_id, img_attrs, cap_attrs, label in (
            (img_a, 2 * u, a, a, 1.0),
            (img_b, 2 * u + 1, b, b, 1.0),
            (img_a, 2 * u, a, b, 0.0),
            (img_b, 2 * u + 1, b, a, 0.0),
        ):
            images.append(img)
            image_ids.append(img_id)
            image_attrs.append(img_attrs)
            caption_attrs.append(cap_attrs)
            labels.append(label)
    order = rng.permutation(n_samples)
    captions = [caption(caption_attrs[i], language) for i in order]
    vocab = build_vocabulary(language)
    return MatchingDataset(
        images=numpy.stack(images)[order],
        tokens=vocab.encode(captions),
        labels=numpy.array(labels)[order],
        captions=captions,
        image_attrs=numpy.array(image_attrs, dtype=numpy.int64)[order],
        caption_attrs=numpy.array(caption_attrs, dtype=numpy.int64)[order],
        image_ids=numpy.array(image_ids, dtype=numpy.int64)[order],
        vocab=vocab,
        language=language,
    )


def split_indices(n: int, test_fraction: float = 0.2, seed: int = 42):
    """A random train/test split of range(n), like scikit-learn's ``train_test_split``.

    Returns (train_index, test_index), int64 arrays; the test part has
    ceil(test_fraction · n) pairs (200 of 1000 by default).
    """
    if not 0.0 < check_real(test_fraction, "test_fraction") < 1.0:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    n_test = int(numpy.ceil(test_fraction * n))
    if not 0 < n_test < n:
        raise ValueError(f"a test fraction of {test_fraction} of {n} pairs leaves an empty train or test set")
    order = numpy.random.default_rng(seed).permutation(n)
    return order[n_test:], order[:n_test]
