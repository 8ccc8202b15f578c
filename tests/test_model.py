"""gemini_np.model: ModelConfig, and GeminiModel (every parameter against finite differences,
invariants, dtypes, input validation)."""
import dataclasses

import numpy as np
import pytest

from gemini_np.functional import patchify
from gemini_np.gradcheck import MODEL_BOUND, check_module_gradients, numerical_gradient, rel_error, small_model
from gemini_np.model import GeminiModel, ModelConfig, sinusoidal_positions

SMALL = dict(vocab_size=7, image_size=4, patch_size=2, channels=3, d_model=8, n_heads=2, d_ff=16)


@pytest.fixture(scope="module")
def checked():
    """Finite differences on every parameter tensor of a small model (up to 16 random entries
    of each tensor, all entries of the small ones), plus d images."""
    model, tokens, images = small_model(seed=0)
    errors = check_module_gradients(model, lambda: model.forward(tokens, images), seed=0, max_entries=16)
    return model, errors


def test_every_parameter_tensor_passes_finite_differences(checked):
    model, errors = checked
    assert set(errors) == set(model.params)  # every tensor, none skipped
    assert len(errors) == 61
    worst = max(errors, key=errors.get)
    assert errors[worst] < MODEL_BOUND, f"{worst}: {errors[worst]:.2e}"


def test_image_gradient_passes_finite_differences():
    model, tokens, images = small_model(seed=1)
    g = np.random.default_rng(2).standard_normal(3)
    model.forward(tokens, images)
    dimages = model.backward(g)
    numeric = numerical_gradient(lambda im: np.sum(model.forward(tokens, im) * g), images)
    assert dimages.shape == images.shape
    assert rel_error(dimages, numeric) < MODEL_BOUND


def test_every_parameter_gets_a_nonzero_gradient():
    """params/grads cover every trainable array, and each one is actually used."""
    model, tokens, images = small_model(seed=3)
    model.forward(tokens, images)
    model.backward(np.ones(3))
    assert set(model.grads) == set(model.params)
    unused = [k for k, g in model.grads.items() if not np.any(g)]
    assert unused == []


def test_a_fresh_model_starts_undecided():
    """The matching matrix starts at zero: every logit is 0 (p = 1/2), which is why the
    gradient checks above randomise it first."""
    model = GeminiModel(vocab_size=7, image_size=4, patch_size=2, d_model=8, n_heads=2, d_ff=16)
    logits = model.forward(np.array([[2, 3, 0]]), np.random.default_rng(0).random((1, 4, 4, 3)))
    assert logits.shape == (1,) and logits[0] == 0.0
    assert not np.any(model.params["head.bilinear.w"])


def test_padding_does_not_change_the_logits():
    model, tokens, images = small_model(seed=4)
    logits = model.forward(tokens, images)
    padded = np.concatenate([tokens, np.zeros((3, 3), dtype=tokens.dtype)], axis=1)
    np.testing.assert_allclose(model.forward(padded, images), logits, rtol=1e-12, atol=1e-12)


def test_the_caption_and_the_image_both_matter():
    model, tokens, images = small_model(seed=5)
    logits = model.forward(tokens, images)
    assert not np.allclose(model.forward(tokens[::-1].copy(), images), logits)
    assert not np.allclose(model.forward(tokens, images[::-1].copy()), logits)


def test_shapes_and_attention_maps():
    model = GeminiModel(vocab_size=10, image_size=8, patch_size=4, channels=3, d_model=8, n_heads=2, d_ff=16,
                        fusion_layers=2)
    tokens = np.array([[1, 2, 3, 0], [4, 5, 0, 0]])
    logits = model.forward(tokens, np.zeros((2, 8, 8, 3)))
    assert logits.shape == (2,)
    maps = model.attention_maps
    assert maps["text"][0].shape == (2, 2, 4, 4)
    assert maps["image"][0].shape == (2, 2, 2, 2, 16, 16)
    assert len(maps["fusion"]) == 2 and maps["fusion"][0].shape == (2, 2, 8, 8)  # 4 tokens + 4 patches
    np.testing.assert_allclose(maps["fusion"][0].sum(axis=-1), 1.0)
    assert np.all(maps["fusion"][0][1, :, :, 2:4] == 0)  # padded text keys


def test_pixel_embedding_mean_is_vits_linear_patch_embedding():
    """Mean-pooling W_r-embedded pixels = one linear map of the flattened patch (ViT)."""
    model = GeminiModel(vocab_size=5, image_size=4, patch_size=2, d_model=8, n_heads=2, d_ff=16, seed=6)
    images = np.random.default_rng(7).random((2, 4, 4, 3))
    w, b = model.params["image.embed.w"], model.params["image.embed.b"]  # (p², C, d), (d,)
    pixels = patchify(images, 2)  # (B, 2, 2, 4, 3)
    per_pixel = model.image.embed.forward(pixels)
    vit = pixels.reshape(2, 2, 2, 12) @ w.reshape(12, 8) / 4 + b
    np.testing.assert_allclose(per_pixel.mean(axis=-2), vit, rtol=1e-12, atol=1e-12)


def test_sinusoidal_positions():
    pe = sinusoidal_positions(5, 8, like=np.zeros(1))
    assert pe.shape == (5, 8)
    np.testing.assert_allclose(pe[0], [0, 0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_allclose(pe[3, 0], np.sin(3.0))
    np.testing.assert_allclose(pe[3, 5], np.cos(3.0 / 10000 ** (2 / 8)))
    assert sinusoidal_positions(3, 4, like=np.zeros(1, np.float32)).dtype == np.float32


def test_same_seed_same_model():
    a, b, c = (GeminiModel(vocab_size=9, seed=s) for s in (0, 0, 1))
    assert set(a.params) == set(c.params)
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], b.params[name])
    assert not np.array_equal(a.params["text.embed.table"], c.params["text.embed.table"])


def test_float32_model_stays_float32_and_agrees_with_float64():
    model64, tokens, images = small_model(seed=8)
    model32 = GeminiModel(dataclasses.replace(model64.config, dtype="float32"))
    model32.load_params({k: v.astype(np.float32) for k, v in model64.params.items()})
    logits32 = model32.forward(tokens, images.astype(np.float32))
    assert logits32.dtype == np.float32
    g = np.random.default_rng(9).standard_normal(3)
    dimages32 = model32.backward(g.astype(np.float32))
    assert dimages32.dtype == np.float32
    logits64 = model64.forward(tokens, images)
    dimages64 = model64.backward(g)
    np.testing.assert_allclose(logits32, logits64, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dimages32, dimages64, rtol=1e-4, atol=1e-4)
    for name, g32 in model32.grads.items():
        assert g32.dtype == np.float32, name
        g64 = model64.grads[name]
        np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-4 * (1 + np.abs(g64).max()), err_msg=name)


def test_input_validation_names_the_problem():
    model = GeminiModel(**SMALL)
    good_tokens, good_images = np.array([[1, 2]]), np.zeros((1, 4, 4, 3))
    with pytest.raises(TypeError, match="integer"):
        model.forward(good_tokens.astype(float), good_images)
    with pytest.raises(TypeError, match="tokens must be an integer array of token ids, got list"):
        model.forward([[1, 2]], good_images)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, vocab_size=7\) .*\[1, 9\]"):
        model.forward(np.array([[1, 9]]), good_images)
    with pytest.raises(ValueError, match=r"\[-1, 2\]"):
        model.forward(np.array([[-1, 2]]), good_images)
    with pytest.raises(ValueError, match=r"\(B, n\)"):
        model.forward(np.array([1, 2]), good_images)
    with pytest.raises(ValueError, match=r"\(B, 4, 4, 3\).*\(1, 4, 4, 1\)"):
        model.forward(good_tokens, np.zeros((1, 4, 4, 1)))
    with pytest.raises(ValueError, match=r"\(1, 8, 8, 3\)"):
        model.forward(good_tokens, np.zeros((1, 8, 8, 3)))
    with pytest.raises(ValueError, match="batch size"):
        model.forward(good_tokens, np.zeros((2, 4, 4, 3)))
    with pytest.raises(TypeError, match="float32.*float64"):
        model.forward(good_tokens, np.zeros((1, 4, 4, 3), np.float32))
    with pytest.raises(TypeError, match="floating"):
        model.forward(good_tokens, np.zeros((1, 4, 4, 3), int))


def test_constructor_validation():
    with pytest.raises(ValueError, match="patch_size=3 must divide image_size=16"):
        GeminiModel(vocab_size=5, image_size=16, patch_size=3)
    with pytest.raises(ValueError, match="divisible by n_heads"):
        GeminiModel(vocab_size=5, d_model=10, n_heads=4)
    with pytest.raises(ValueError, match="vocab_size"):
        GeminiModel(vocab_size=0)
    with pytest.raises(TypeError, match="seed"):
        GeminiModel(vocab_size=5, seed=1.5)


# ----------------------------------------------------------------------------- ModelConfig


def test_model_config_defaults():
    c = ModelConfig()
    assert (c.vocab_size, c.image_size, c.patch_size, c.channels) == (None, 16, 4, 3)
    assert (c.d_model, c.n_heads, c.d_ff) == (32, 2, 64)
    assert (c.text_layers, c.image_layers, c.patch_layers, c.fusion_layers) == (1, 1, 1, 1)
    assert (c.seed, c.dtype) == (0, "float64")
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.d_model = 8


@pytest.mark.parametrize("field, value, error, message", [
    ("vocab_size", "12", TypeError, r"vocab_size must be a positive int, got '12' \(str\)"),
    ("vocab_size", 0, ValueError, "vocab_size must be a positive int, got 0"),
    ("image_size", 16.0, TypeError, r"image_size must be a positive int, got 16.0 \(float\)"),
    ("patch_size", True, TypeError, r"patch_size must be a positive int, got True \(bool\)"),
    ("channels", -3, ValueError, "channels must be a positive int, got -3"),
    ("d_model", None, TypeError, "d_model must be a positive int, got None"),
    ("n_heads", 0, ValueError, "n_heads must be a positive int, got 0"),
    ("d_ff", 0, ValueError, "d_ff must be a positive int, got 0"),
    ("text_layers", 0, ValueError, "text_layers must be a positive int, got 0"),
    ("image_layers", 1.5, TypeError, "image_layers must be a positive int"),
    ("fusion_layers", 0, ValueError, "fusion_layers must be a positive int, got 0"),
    ("patch_layers", -1, ValueError, "patch_layers must be an int >= 0, got -1"),
    ("patch_layers", "1", TypeError, "patch_layers must be an int, got '1'"),
    ("seed", -1, ValueError, "seed must be an int >= 0, got -1"),
    ("seed", 1.0, TypeError, r"seed must be an int, got 1.0 \(float\)"),
    ("dtype", "float16", ValueError, "dtype must be 'float64' or 'float32', got 'float16'"),
    ("dtype", 3.5, TypeError, "dtype must be 'float64' or 'float32', got 3.5"),
    ("patch_size", 3, ValueError, "patch_size=3 must divide image_size=16"),
    ("d_model", 9, ValueError, "d_model=9 must be even and divisible by n_heads=2"),
])
def test_model_config_validation(field, value, error, message):
    """TypeError for the wrong kind of value, ValueError for the right kind with a bad value."""
    with pytest.raises(error, match=message):
        ModelConfig(**{field: value})


def test_model_config_accepts_numpy_ints_and_dtypes():
    c = ModelConfig(vocab_size=np.int64(9), d_model=np.int32(8), dtype=np.float32)
    assert c.dtype == "float32"
    assert GeminiModel(dataclasses.replace(c, d_ff=16)).num_params() > 0


def test_model_config_dict_round_trip_and_strict_from_dict():
    c = ModelConfig(vocab_size=12, d_model=8, n_heads=2, d_ff=16, fusion_layers=2, seed=5, dtype="float32")
    fields = c.to_dict()
    assert fields["vocab_size"] == 12 and fields["dtype"] == "float32" and fields["fusion_layers"] == 2
    assert set(fields) == {f.name for f in dataclasses.fields(ModelConfig)}
    assert ModelConfig.from_dict(fields) == c
    with pytest.raises(ValueError, match="unknown model config fields: colour, depth"):
        ModelConfig.from_dict({**fields, "depth": 3, "colour": "red"})
    with pytest.raises(TypeError, match="a model config must be a dict of fields, got list"):
        ModelConfig.from_dict([("d_model", 8)])
    with pytest.raises(ValueError, match="n_heads must be a positive int, got 0"):
        ModelConfig.from_dict({**fields, "n_heads": 0})


def test_model_config_complete():
    c = ModelConfig(d_model=8)
    assert c.complete(11).vocab_size == 11 and c.vocab_size is None
    assert ModelConfig(vocab_size=11).complete(11).vocab_size == 11
    with pytest.raises(ValueError, match="the model config says vocab_size=12 but the data's vocabulary has 11 tokens"):
        ModelConfig(vocab_size=12).complete(11)


def test_three_ways_to_build_one_model_give_identical_parameters():
    fields = dict(SMALL, seed=3, fusion_layers=2)
    models = [GeminiModel(ModelConfig(**fields)), GeminiModel(**fields), GeminiModel.from_config(fields),
              GeminiModel.from_config(ModelConfig(**fields))]
    for m in models[1:]:
        assert m.config == models[0].config
        assert m.params.keys() == models[0].params.keys()
        for name, p in models[0].params.items():
            np.testing.assert_array_equal(m.params[name], p)
    assert isinstance(models[0].config, ModelConfig)


def test_every_size_of_the_config_is_used():
    """build_model hard-codes nothing: layer counts, channels and sizes all reach the model."""
    model = GeminiModel(**{**SMALL, "channels": 1, "text_layers": 2, "image_layers": 3, "patch_layers": 0,
                           "fusion_layers": 2})
    assert (len(model.text.blocks), len(model.image.blocks), len(model.image.patch_blocks),
            len(model.fusion.blocks)) == (2, 3, 0, 2)
    logits = model.forward(np.array([[1, 2, 0]]), np.zeros((1, 4, 4, 1)))
    assert logits.shape == (1,)


def test_a_model_needs_a_vocabulary_size():
    with pytest.raises(ValueError, match="the model config has vocab_size=None: set it to the size of the vocabulary"):
        GeminiModel(ModelConfig())
    with pytest.raises(ValueError, match="vocab_size=None"):
        GeminiModel()


def test_config_and_keywords_cannot_be_mixed_and_the_config_must_be_one():
    with pytest.raises(TypeError, match="give either a ModelConfig or its fields as keywords, not both"):
        GeminiModel(ModelConfig(vocab_size=5), d_model=8)
    with pytest.raises(TypeError, match="config must be a ModelConfig .* got dict"):
        GeminiModel({"vocab_size": 5})
    with pytest.raises(TypeError, match="unexpected keyword argument 'depth'"):
        GeminiModel(vocab_size=5, depth=3)
