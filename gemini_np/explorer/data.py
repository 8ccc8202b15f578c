"""The numbers the explorer page embeds, all computed here with gemini_np (NumPy, float64).

    step_through_presets()     the article's worked example (猫 / 喜欢 / 吃鱼) and a random
                               one: inputs Q, K, V, dO, and gemini_np's own P, O, dQ, dK, dV,
                               which the page compares with what its JavaScript computes
    image_examples(...)        example images from gemini_np.data with their per-patch
                               attention (parameter-free and the trained model's) and the
                               fusion layer's weights over caption tokens and patches
    trained_model(...)         the model behind the image and fusion views: trained on the
                               fly in a few seconds, or read from a checkpoint
    page_data(...)             everything above as one JSON-ready dict

The page recomputes the step-through itself (float64 JavaScript, the same formulas);
everything in the image and fusion views is shown as NumPy computed it here.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from .. import article
from ..backend import to_numpy, use_backend
from ..functional import attention_backward, attention_forward, patch_attention_forward

#: The upstream gradient dO of the worked example, (3, 5). A story a class can follow:
#: the loss wants 猫's context vector to hold more of 吃鱼 (feature 3) and 吃鱼's to hold more
#: of 猫 (feature 1). dO = dL/dO, so "more of" is a NEGATIVE entry (gradient descent moves
#: O by −dO). 喜欢's row is zero: a query the loss does not care about gets no gradient.
WORKED_DOUT = np.array([
    [0.0, 0.0, -1.0, 0.0, 0.0],  # 猫: more 吃鱼
    [0.0, 0.0, 0.0, 0.0, 0.0],   # 喜欢: nothing asked
    [-1.0, 0.0, 0.0, 0.0, 0.0],  # 吃鱼: more 猫
])

#: The small model of the image and fusion views when no checkpoint is given: the demo's
#: size (600 pairs, 8 epochs, float32), a few seconds of training, test accuracy about 0.9.
TRAIN_SAMPLES, TRAIN_EPOCHS = 600, 8
#: How many example image-caption pairs the image and fusion views offer.
N_EXAMPLES = 4
#: Decimals kept for the image and fusion views' display data (the step-through is exact).
DISPLAY_DECIMALS = 5

def _caption_words() -> list[tuple[str, str]]:
    """(Chinese, English) for every word a synthetic caption can hold."""
    from ..data import COLORS, POSITIONS, SHAPES

    return [(zh, en) for zh, en, _ in COLORS] + [(zh, en) for zh, en in SHAPES + POSITIONS] + [("在", "on")]


def gloss(token: str) -> dict:
    """A caption token in both page languages: {"zh": ..., "en": ...}.

    Tokens of the synthetic captions are translated word by word; anything else
    keeps its own spelling, and Chinese without a translation is shown in
    pinyin in the English page (so that page holds no Chinese at all).
    """
    from ..viz.fonts import has_cjk, to_pinyin

    zh_to_en = dict(_caption_words())
    en_to_zh = {en: zh for zh, en in _caption_words()}
    if token in zh_to_en:
        return {"zh": token, "en": zh_to_en[token]}
    if token in en_to_zh:
        return {"zh": en_to_zh[token], "en": token}
    return {"zh": token, "en": to_pinyin(token) if has_cjk(token) else token}


# ----------------------------------------------------------------------------- step-through


def step_through_presets() -> list[dict]:
    """The step-through's starting points, each with gemini_np's results for it."""
    h = article.embeddings()  # (3, 5): the article's one-hot h_1, h_2, h_3
    rng = np.random.default_rng(0)
    q, k = np.round(rng.normal(size=(4, 3)), 1), np.round(rng.normal(size=(6, 3)), 1)
    v, dout = np.round(rng.normal(size=(6, 2)), 1), np.round(rng.normal(size=(4, 2)), 1)
    return [
        _preset("article", h, h, h, WORKED_DOUT,
                queries={"zh": list(article.TOKENS), "en": list(article.TOKENS_EN)}),
        _preset("random", q, k, v, dout,
                queries={lang: [f"q{i + 1}" for i in range(4)] for lang in ("zh", "en")},
                keys={lang: [f"k{j + 1}" for j in range(6)] for lang in ("zh", "en")}),
    ]


def _preset(name, q, k, v, dout, queries, keys=None) -> dict:
    """One preset: inputs (lists of lists), labels, and gemini_np's P, O, dQ, dK, dV for them."""
    out, cache = attention_forward(q, k, v)  # scale 1/√d_k, no mask
    dq, dk, dv = attention_backward(dout, cache)
    return {
        "name": name,
        "inputs": {"q": q.tolist(), "k": k.tolist(), "v": v.tolist(), "dout": dout.tolist()},
        "queries": queries,
        "keys": queries if keys is None else keys,
        "numpy": {"weights": to_numpy(cache.weights).tolist(), "out": out.tolist(), "dq": dq.tolist(),
                  "dk": dk.tolist(), "dv": dv.tolist()},
    }


# ----------------------------------------------------------------------------- the model


@dataclass
class ModelSource:
    """The model of the image and fusion views, the pairs to show, and where it came from."""

    model: object  # GeminiModel
    test_set: object  # MatchingDataset: held-out pairs the model never trained on
    ablate: str | None
    info: dict  # shown in the page: how it was made, its test accuracy


def trained_model(checkpoint=None) -> ModelSource:
    """The model of the image and fusion views.

    checkpoint: None trains a small model now (TRAIN_SAMPLES pairs, TRAIN_EPOCHS
    epochs, float32, no progress output: a few seconds); or a path written by
    ``python -m gemini_np train --save`` (raises CheckpointError, one line, if unusable).
    """
    if checkpoint is not None:
        return _from_checkpoint(checkpoint)
    from ..model import ModelConfig
    from ..train import TrainConfig, train

    config = TrainConfig(samples=TRAIN_SAMPLES, epochs=TRAIN_EPOCHS, model=ModelConfig(dtype="float32"))
    result = train(config, progress=False)
    m = result.metrics
    info = {"source": "trained", "samples": m["samples"], "epochs": m["epochs"],
            "seconds": round(m["train_seconds"], 1), "test_accuracy": round(m["test_accuracy"], 4),
            "test_pairs": m["test_pairs"], "language": m["language"]}
    return ModelSource(result.model, result.test_set, None, info)


def _from_checkpoint(path) -> ModelSource:
    from pathlib import Path

    from ..checkpoint import CheckpointError, load_checkpoint
    from ..data import DataConfig, load_split
    from ..train import evaluate_model_on_split

    model, info = load_checkpoint(path)
    try:
        data_config = DataConfig.from_dict(info.get("data"))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: its data settings are unusable: {exc}") from None
    _, test_set = load_split(data_config)
    accuracy = evaluate_model_on_split(model, data_config)["accuracy"]
    page_info = {"source": "checkpoint", "file": Path(path).name, "test_accuracy": round(accuracy, 4),
                 "test_pairs": len(test_set), "language": data_config.language}
    return ModelSource(model, test_set, data_config.ablate, page_info)


# ----------------------------------------------------------------------------- image and fusion


def pick_examples(test_set, n: int = N_EXAMPLES) -> list[int]:
    """Indices of up to n matching pairs of the test set, with different colours and shapes where possible."""
    chosen, seen = [], set()
    matching = [i for i in range(len(test_set)) if test_set.labels[i] > 0.5]
    for pass_ in (0, 1):  # first distinct (colour, shape) pairs, then any matching pair
        for i in matching:
            key = tuple(test_set.image_attrs[i][:2])
            if len(chosen) < n and i not in chosen and (pass_ == 1 or key not in seen):
                chosen.append(i)
                seen.add(key)
    return chosen


def image_examples(source: ModelSource) -> list[dict]:
    """The example pairs with everything the image and fusion views draw.

    Per example: the image (H, W, 3) in [0, 1]; the caption's tokens (padding
    dropped) in both languages; P(match); and three attention tensors:

    pixel   (H/p, W/p, p², p²)     patch attention with Q = K = V = the pixels' colours
                                   (no parameters: a pixel attends to pixels of similar colour)
    image   (h, H/p, W/p, p², p²)  the trained model's first per-patch attention layer
    fusion  (h, n+m, n+m)          its last fusion layer: rows and columns are the n caption
                                   tokens, then the m patches (row-major)
    """
    from ..data import model_inputs

    model, data = source.model, source.test_set
    index = np.array(pick_examples(data))
    examples = data.subset(index)
    tokens, images, _ = model_inputs(examples, model.dtype, source.ablate)
    logits = to_numpy(model.forward(tokens, images))
    maps = model.attention_maps
    image_maps = to_numpy(maps["image"][0]).astype(np.float64)  # (B, h, H/p, W/p, p², p²)
    fusion_maps = to_numpy(maps["fusion"][-1]).astype(np.float64)  # (B, h, n+m, n+m)
    p = model.config.patch_size
    out = []
    for b in range(len(index)):
        picture = examples.images[b]  # host float64 (H, W, 3)
        _, pixel_cache = patch_attention_forward(picture, picture, picture, p)  # Q = K = V = colours
        real = np.flatnonzero(examples.tokens[b] != 0)  # drop padding: it is masked out as a key anyway
        n = examples.tokens.shape[1]
        keep = np.concatenate([real, n + np.arange(fusion_maps.shape[-1] - n)])  # real tokens, then patches
        words = examples.vocab.decode(examples.tokens[b])
        out.append({
            "image": _rounded(picture, 3),
            "tokens": [gloss(w) for w in words],
            "caption": examples.captions[b],
            "p_match": round(float(1 / (1 + math.exp(-float(logits[b])))), 4),
            "pixel": _rounded(pixel_cache.weights),
            "image_attention": _rounded(image_maps[b]),
            "fusion": _rounded(fusion_maps[b][:, keep][:, :, keep]),
        })
    return out


def _rounded(a, decimals: int = DISPLAY_DECIMALS):
    """A host array as nested lists, rounded for display (keeps the page small)."""
    return np.round(np.asarray(a, dtype=np.float64), decimals).tolist()


# ----------------------------------------------------------------------------- colours


#: The page's two colour scales, both readable by colour-blind eyes: viridis for weights
#: (sequential, dark to light) and RdBu_r for signed numbers (blue < 0 < red; never red/green).
COLORMAPS = {"seq": "viridis", "div": "RdBu_r"}


def colormaps(stops: int = 17) -> dict:
    """matplotlib's colour maps as lists of hex stops, which the page interpolates linearly."""
    import matplotlib
    from matplotlib.colors import to_hex

    return {key: [to_hex(matplotlib.colormaps[name](x)) for x in np.linspace(0.0, 1.0, stops)]
            for key, name in COLORMAPS.items()}


# ----------------------------------------------------------------------------- everything


def page_data(checkpoint=None) -> dict:
    """Everything the page embeds, as a JSON-ready dict (computed with NumPy, whatever the backend)."""
    start = time.perf_counter()
    with use_backend("numpy"):
        source = trained_model(checkpoint)
        c = source.model.config
        data = {
            "presets": step_through_presets(),
            "examples": image_examples(source),
            "model": {**source.info, "patch_size": c.patch_size, "image_size": c.image_size,
                      "heads": c.n_heads, "d_model": c.d_model},
        }
    data["model"]["build_seconds"] = round(time.perf_counter() - start, 1)
    return data
