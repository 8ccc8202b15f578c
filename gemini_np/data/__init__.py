"""Synthetic image-text matching data and a whitespace tokenizer.

    make_dataset(n_samples, seed, language)   coloured shapes + captions, hard negatives,
                                              neither modality alone predicts the label
    split_indices(n, test_fraction, seed)     the article's 80/20 split (seed 42)
    Vocabulary, tokenize                      <pad> = 0, <unk> = 1, Chinese tokens welcome
    DataConfig, load_split, model_inputs      a run's split, as model inputs on the backend
"""
from .shapes import (
    ATTRIBUTES,
    COLORS,
    LANGUAGES,
    POSITIONS,
    SHAPES,
    MatchingDataset,
    all_captions,
    build_vocabulary,
    caption,
    make_dataset,
    render,
    split_indices,
)
from .inputs import ABLATIONS, DataConfig, batches, load_split, model_inputs, take
from .vocab import PAD, PAD_ID, UNK, UNK_ID, Vocabulary, tokenize

__all__ = [
    "ABLATIONS",
    "ATTRIBUTES",
    "COLORS",
    "DataConfig",
    "LANGUAGES",
    "MatchingDataset",
    "PAD",
    "PAD_ID",
    "POSITIONS",
    "SHAPES",
    "UNK",
    "UNK_ID",
    "Vocabulary",
    "all_captions",
    "batches",
    "build_vocabulary",
    "caption",
    "load_split",
    "make_dataset",
    "model_inputs",
    "render",
    "split_indices",
    "take",
    "tokenize",
]
