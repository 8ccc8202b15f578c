"""gemini_np.data: the synthetic matching data (reproducible, hard negatives, neither modality
alone predicts the label), the tokenizer, and the inputs of a run (DataConfig, split, batches)."""
import dataclasses
from collections import Counter

import numpy as np
import pytest

from gemini_np.data import (
    COLORS,
    UNK,
    DataConfig,
    batches,
    load_split,
    model_inputs,
    take,
    PAD_ID,
    POSITIONS,
    SHAPES,
    UNK_ID,
    Vocabulary,
    all_captions,
    build_vocabulary,
    caption,
    make_dataset,
    render,
    split_indices,
    tokenize,
)


@pytest.fixture(scope="module")
def data():
    return make_dataset(1000, seed=0)


def test_sizes_and_dtypes(data):
    assert data.images.shape == (1000, 16, 16, 3) and data.images.dtype == np.float64
    assert data.tokens.shape == (1000, 4) and data.tokens.dtype == np.int64
    assert data.labels.shape == (1000,) and set(np.unique(data.labels)) == {0.0, 1.0}
    assert data.labels.sum() == 500  # 500 matching, 500 not: the article's protocol
    assert 0.0 <= data.images.min() and data.images.max() <= 1.0


def test_reproducible_for_a_seed_and_different_across_seeds(data):
    again = make_dataset(1000, seed=0)
    np.testing.assert_array_equal(again.images, data.images)
    np.testing.assert_array_equal(again.tokens, data.tokens)
    np.testing.assert_array_equal(again.labels, data.labels)
    other = make_dataset(1000, seed=1)
    assert not np.array_equal(other.labels, data.labels)


def test_positives_match_and_every_negative_differs_in_exactly_one_attribute(data):
    differing = (data.image_attrs != data.caption_attrs).sum(axis=1)
    assert np.all(differing[data.labels == 1] == 0)
    assert np.all(differing[data.labels == 0] == 1)
    # every attribute is the differing one for some negatives
    which = np.argmax(data.image_attrs != data.caption_attrs, axis=1)[data.labels == 0]
    assert set(which.tolist()) == {0, 1, 2}


def test_captions_spell_out_the_caption_attributes(data):
    for text, attrs in zip(data.captions[:50], data.caption_attrs[:50]):
        c, s, p = attrs
        assert text == f"{COLORS[c][0]} {SHAPES[s][0]} 在 {POSITIONS[p][0]}"
    assert [data.vocab.decode(row) for row in data.tokens[:20]] == [tokenize(t) for t in data.captions[:20]]


def test_every_caption_and_every_image_is_as_often_positive_as_negative(data):
    """The property that makes single-modality prediction impossible, counted exactly."""
    for keys in (data.captions, [img.tobytes() for img in data.images], data.image_ids.tolist()):
        positives = Counter(k for k, y in zip(keys, data.labels) if y == 1)
        negatives = Counter(k for k, y in zip(keys, data.labels) if y == 0)
        assert positives == negatives


def test_no_single_modality_classifier_beats_chance(data):
    """The best classifier that sees only the caption (or only the image) predicts, for
    each caption (image), its majority label: on this data it is right exactly half the time."""
    for keys in (data.captions, [img.tobytes() for img in data.images]):
        votes = {}
        for k, y in zip(keys, data.labels):
            votes.setdefault(k, []).append(y)
        best = sum(max(sum(v), len(v) - sum(v)) for v in votes.values())
        assert best == len(data) // 2


def test_images_show_the_named_colour_in_the_named_half(data):
    for img, (c, s, p) in zip(data.images[:60], data.image_attrs[:60]):
        lit = img.max(axis=-1) > 0.5
        assert lit.sum() > 10
        rows, cols = np.nonzero(lit)
        assert (cols.mean() < 8) == (POSITIONS[p][1] == "left")
        mean_colour = img[lit].mean(axis=0)
        assert np.argmax(mean_colour) == np.argmax(COLORS[c][2])


def test_the_three_shapes_are_drawn_differently():
    masks = [render((0, s, 0), noise=0.0).max(axis=-1) > 0 for s in range(3)]
    areas = [m.sum() for m in masks]
    assert areas[1] == 64  # the full 8×8 square
    assert all((a != b).sum() >= 20 for i, a in enumerate(masks) for b in masks[i + 1 :])


def test_english_captions():
    data = make_dataset(40, seed=3, language="en")
    assert all(t.startswith("a ") and " on the " in t for t in data.captions)
    assert caption((1, 2, 0), "en") == "a green triangle on the left"
    assert data.vocab.encode(data.captions).max() < len(data.vocab)


def test_bad_arguments():
    """ValueError for a bad count, TypeError for something that is not a count at all."""
    for n in (6, 1001):
        with pytest.raises(ValueError, match=rf"n_samples must be a positive multiple of 4 .*got {n}"):
            make_dataset(n)
    with pytest.raises(ValueError, match="n_samples must be a positive int, got 0"):
        make_dataset(0)
    for n in (2.0, True, "8"):
        with pytest.raises(TypeError, match="n_samples must be a positive int"):
            make_dataset(n)
    with pytest.raises(ValueError, match="language"):
        make_dataset(8, language="fr")
    with pytest.raises(ValueError, match="language"):
        caption((0, 0, 0), "fr")


# ----------------------------------------------------------------------------- split


def test_split_is_the_articles_80_20_with_seed_42():
    train, test = split_indices(1000)
    assert len(train) == 800 and len(test) == 200
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(1000))
    again_train, again_test = split_indices(1000, 0.2, 42)
    np.testing.assert_array_equal(test, again_test)
    assert not np.array_equal(split_indices(1000, 0.2, 0)[1], test)
    with pytest.raises(ValueError):
        split_indices(10, 1.0)
    with pytest.raises(ValueError):
        split_indices(1, 0.5)


def test_subset_keeps_everything_aligned(data):
    part = data.subset(np.array([5, 1, 7]))
    assert part.captions == [data.captions[i] for i in (5, 1, 7)]
    np.testing.assert_array_equal(part.images[1], data.images[1])
    np.testing.assert_array_equal(part.tokens[2], data.tokens[7])


# ----------------------------------------------------------------------------- tokenizer and vocabulary


def test_vocabulary_reserves_pad_and_unk():
    vocab = build_vocabulary("zh")
    assert vocab.itos[PAD_ID] == "<pad>" and vocab.itos[UNK_ID] == "<unk>"
    assert {"红色", "圆形", "在", "左边"} <= set(vocab.itos)
    assert len(vocab) == 2 + 3 + 3 + 1 + 2


def test_unknown_chinese_and_other_words_map_to_unk_and_never_crash():
    vocab = build_vocabulary("zh")
    ids = vocab.encode(["紫色 圆形 在 中间", "", "red ☃ 🐱", "红色"])
    assert ids.shape == (4, 4)
    assert ids[0].tolist() == [UNK_ID, vocab.token_id("圆形"), vocab.token_id("在"), UNK_ID]
    assert ids[1].tolist() == [PAD_ID] * 4
    assert ids[2].tolist() == [UNK_ID, UNK_ID, UNK_ID, PAD_ID]
    assert ids[3].tolist() == [vocab.token_id("红色"), PAD_ID, PAD_ID, PAD_ID]


def test_tokenizer_splits_on_any_whitespace_including_the_ideographic_space():
    assert tokenize("红色\u3000圆形  在\t左边\n") == ["红色", "圆形", "在", "左边"]
    with pytest.raises(TypeError):
        tokenize(["红色"])


def test_encode_pads_to_max_len_and_refuses_to_cut():
    vocab = Vocabulary(["a", "b"])
    assert vocab.encode(["a b", "b"], max_len=4).tolist() == [[2, 3, 0, 0], [3, 0, 0, 0]]
    with pytest.raises(ValueError, match="max_len"):
        vocab.encode(["a b a"], max_len=2)
    with pytest.raises(TypeError):
        vocab.encode("a b")
    with pytest.raises(ValueError):
        Vocabulary(["two words"])


def test_vocabulary_ids_do_not_depend_on_caption_order():
    texts = all_captions("zh")
    assert Vocabulary.from_texts(texts).itos == Vocabulary.from_texts(reversed(texts)).itos
    assert Vocabulary(build_vocabulary("zh").to_list()).itos == build_vocabulary("zh").itos


# ----------------------------------------------------------------------------- DataConfig and a run's inputs


def test_data_config_defaults_are_the_articles_protocol():
    c = DataConfig()
    assert (c.samples, c.test_fraction, c.split_seed, c.data_seed) == (1000, 0.2, 42, 0)
    assert (c.language, c.jitter, c.noise, c.ablate) == ("zh", 0, 0.03, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.samples = 8


@pytest.mark.parametrize("field, value, error, message", [
    ("samples", 10, ValueError, "samples must be a multiple of 4"),
    ("samples", 0, ValueError, "samples must be a positive int, got 0"),
    ("samples", 8.0, TypeError, r"samples must be a positive int, got 8.0 \(float\)"),
    ("samples", 4_000_000, ValueError, "samples must be at most 1,000,000"),
    ("data_seed", -1, ValueError, "data_seed must be an int >= 0, got -1"),
    ("split_seed", "42", TypeError, "split_seed must be an int"),
    ("jitter", 1.5, TypeError, "jitter must be an int"),
    ("test_fraction", 1.0, ValueError, "test_fraction must lie strictly between 0 and 1, got 1.0"),
    ("test_fraction", "0.2", TypeError, "test_fraction must be a real number, got str"),
    ("test_fraction", float("nan"), ValueError, "test_fraction must be finite, got nan"),
    ("noise", -0.1, ValueError, r"noise must lie in \[0, inf\], got -0.1"),
    ("language", "fr", ValueError, "language must be one of 'zh', 'en'; got 'fr'"),
    ("ablate", "audio", ValueError, "ablate must be one of None, 'text', 'image'; got 'audio'"),
])
def test_data_config_validation(field, value, error, message):
    with pytest.raises(error, match=message):
        DataConfig(**{field: value})


def test_data_config_from_dict_is_strict_and_round_trips():
    c = DataConfig(samples=40, language="en", ablate="text", noise=0.1)
    assert DataConfig.from_dict(c.to_dict()) == c
    assert DataConfig.from_dict({}) == DataConfig()
    with pytest.raises(ValueError, match="unknown data config fields: dtype, epochs"):
        DataConfig.from_dict({**c.to_dict(), "epochs": 3, "dtype": "float32"})
    with pytest.raises(TypeError, match="a data config must be a dict of fields, got NoneType"):
        DataConfig.from_dict(None)
    with pytest.raises(ValueError, match="samples must be a multiple of 4"):
        DataConfig.from_dict({"samples": 41})


def test_load_split_is_the_configured_split_of_the_configured_data():
    config = DataConfig(samples=40, data_seed=3, test_fraction=0.25, split_seed=5)
    train, test = load_split(config)
    assert (len(train), len(test)) == (30, 10)
    data = make_dataset(40, seed=3)
    train_index, test_index = split_indices(40, 0.25, 5)
    np.testing.assert_array_equal(train.images, data.images[train_index])
    np.testing.assert_array_equal(test.tokens, data.tokens[test_index])
    again, _ = load_split(config)
    np.testing.assert_array_equal(again.labels, train.labels)


def test_model_inputs_dtype_and_ablations():
    _, test = load_split(DataConfig(samples=40))
    tokens, images, labels = model_inputs(test, "float32")
    assert tokens.dtype == np.int64 and images.dtype == np.float32 and labels.dtype == np.float32
    np.testing.assert_array_equal(tokens, test.tokens)
    no_text, _, _ = model_inputs(test, "float64", ablate="text")
    assert np.all(no_text == test.vocab.token_id(UNK))  # every caption the same all-<unk> caption
    _, no_image, same_labels = model_inputs(test, "float64", ablate="image")
    assert not np.any(no_image) and np.array_equal(same_labels, test.labels)


def test_batches_cover_every_index_once():
    plain = list(batches(10, 4))
    assert [b.tolist() for b in plain] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    shuffled = list(batches(10, 4, np.random.default_rng(0)))
    assert sorted(np.concatenate(shuffled).tolist()) == list(range(10))
    assert np.concatenate(shuffled).tolist() == np.random.default_rng(0).permutation(10).tolist()


def test_take_selects_rows():
    a = np.arange(12.0).reshape(4, 3)
    np.testing.assert_array_equal(take(a, np.array([2, 0])), a[[2, 0]])
