"""Checkpoints: exact round trip, atomic writes, no pickles, one-line errors."""
import json
import os

import numpy as np
import pytest

import gemini_np.checkpoint as ckpt
from gemini_np.checkpoint import CONFIG_KEY, CheckpointError, load_checkpoint, save_checkpoint
from gemini_np.model import GeminiModel, ModelConfig

CONFIG = dict(vocab_size=7, image_size=4, patch_size=2, channels=3, d_model=8, n_heads=2, d_ff=16, seed=3)


@pytest.fixture
def model():
    m = GeminiModel(**CONFIG)
    m.set_param("head.bilinear.w", np.random.default_rng(0).standard_normal((8, 8)))
    return m


def batch(dtype="float64"):
    rng = np.random.default_rng(1)
    return np.array([[1, 2, 3], [4, 0, 0]]), rng.random((2, 4, 4, 3)).astype(dtype)


def test_round_trip_is_exact(tmp_path, model):
    path = save_checkpoint(tmp_path / "m.npz", model, {"data": {"samples": 8}, "note": "红色 圆形"})
    loaded, info = load_checkpoint(path)
    assert info["model"] == model.config.to_dict() and info["data"] == {"samples": 8} and info["note"] == "红色 圆形"
    assert set(loaded.params) == set(model.params)
    for name, p in model.params.items():
        np.testing.assert_array_equal(loaded.params[name], p)
    np.testing.assert_array_equal(loaded.forward(*batch()), model.forward(*batch()))
    assert loaded.config == model.config


def test_every_config_field_survives_the_round_trip(tmp_path):
    """The checkpoint stores the whole ModelConfig: layer counts and channels included."""
    config = ModelConfig(vocab_size=9, image_size=4, patch_size=2, channels=1, d_model=8, n_heads=2, d_ff=16,
                         text_layers=2, image_layers=2, patch_layers=0, fusion_layers=2, seed=7, dtype="float32")
    loaded, info = load_checkpoint(save_checkpoint(tmp_path / "m.npz", GeminiModel(config)))
    assert loaded.config == config and ModelConfig.from_dict(info["model"]) == config


def test_float32_round_trip(tmp_path):
    model = GeminiModel(**CONFIG, dtype="float32")
    loaded, _ = load_checkpoint(save_checkpoint(tmp_path / "m32.npz", model))
    assert all(p.dtype == np.float32 for p in loaded.params.values())
    assert loaded.forward(*batch("float32")).dtype == np.float32


def test_the_file_holds_plain_arrays_and_json(tmp_path, model):
    path = save_checkpoint(tmp_path / "m.npz", model)
    with np.load(path, allow_pickle=False) as f:
        assert set(f.files) == set(model.params) | {CONFIG_KEY}
        assert json.loads(str(f[CONFIG_KEY]))["format"] == "gemini_np.checkpoint"
        assert all(f[k].dtype != object for k in f.files)


def test_an_interrupted_save_keeps_the_previous_checkpoint(tmp_path, model, monkeypatch):
    path = save_checkpoint(tmp_path / "m.npz", model)
    before = path.read_bytes()

    def crash(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt  # the user pressed Ctrl-C in the middle of the write

    monkeypatch.setattr(ckpt.numpy, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]  # no temporary file left behind
    load_checkpoint(path)


def test_loading_never_unpickles(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, **{CONFIG_KEY: np.array(["{}"], dtype=object)}, w=np.zeros(2))
    with pytest.raises(CheckpointError, match=r"evil.npz is not a gemini_np checkpoint: not an .npz archive of arrays"):
        load_checkpoint(path)


def corrupt_files(tmp_path, model):
    good = save_checkpoint(tmp_path / "good.npz", model)
    data = good.read_bytes()
    cases = {}
    cases["missing"] = tmp_path / "nothing-here.npz"
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    cases["truncated"] = tmp_path / "truncated.npz"
    (tmp_path / "empty.npz").write_bytes(b"")
    cases["empty"] = tmp_path / "empty.npz"
    (tmp_path / "garbage.npz").write_bytes(os.urandom(2000))
    cases["garbage"] = tmp_path / "garbage.npz"
    np.save(tmp_path / "single.npy", np.zeros(3))
    cases["single array"] = tmp_path / "single.npy"
    arrays = {k: np.asarray(v) for k, v in model.params.items()}
    config = model.config.to_dict()
    info = {"format": "gemini_np.checkpoint", "version": 1, "model": config}

    def write(name, arrays, info):
        np.savez(tmp_path / name, **arrays, **{CONFIG_KEY: np.array(json.dumps(info))})
        cases[name] = tmp_path / name

    np.savez(tmp_path / "no-config.npz", **arrays)
    cases["no-config.npz"] = tmp_path / "no-config.npz"
    np.savez(tmp_path / "bad-json.npz", **arrays, **{CONFIG_KEY: np.array("{not json")})
    cases["bad-json.npz"] = tmp_path / "bad-json.npz"
    write("other-format.npz", arrays, {**info, "format": "something else"})
    write("future-version.npz", arrays, {**info, "version": 99})
    write("bad-model-config.npz", arrays, {**info, "model": {**config, "patch_size": 3}})
    write("missing-param.npz", {k: v for k, v in arrays.items() if k != "head.b"}, info)
    write("wrong-shape.npz", {**arrays, "head.b": np.zeros(2)}, info)
    write("wrong-dtype.npz", {**arrays, "head.b": np.zeros(1, np.float32)}, info)
    write("nan.npz", {**arrays, "head.b": np.array([np.nan])}, info)
    write("unknown-config-field.npz", arrays, {**info, "model": {**config, "depth": 2}})
    write("no-vocab-size.npz", arrays, {**info, "model": {**config, "vocab_size": None}})
    write("config-not-a-dict.npz", arrays, {**info, "model": [1, 2]})
    write("incompatible-size.npz", arrays, {**info, "model": {**config, "d_model": 16}})
    return cases


def test_every_bad_file_gives_a_one_line_checkpoint_error(tmp_path, model):
    for name, path in corrupt_files(tmp_path, model).items():
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(path)
        message = str(info.value)
        assert "\n" not in message and str(path) in message, (name, message)
        assert info.value.__cause__ is None or name in ("missing",), name


def test_checkpoint_error_is_a_value_error():
    assert issubclass(CheckpointError, ValueError)
