"""The synthetic matching data: reproducible, hard negatives, and neither modality alone predicts the label."""
from collections import Counter

import numpy as np
import pytest

from gemini_np.data import (
    COLORS,
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
    for n in (0, 6, 1001, 2.0, True):
        with pytest.raises(ValueError, match="multiple of 4"):
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
