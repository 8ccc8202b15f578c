"""Checkpoints: one ``.npz`` file with every parameter and the model's config as JSON.

    save_checkpoint(path, model, extra={...})   atomic: a temporary file in the same
                                                folder, then os.replace, so an
                                                interrupted save never destroys the
                                                previous checkpoint
    load_checkpoint(path) -> (model, info)      numpy.load(allow_pickle=False): loading
                                                never runs code from the file

Parameters are always stored as host NumPy arrays (under their dotted names,
e.g. ``text.blocks.0.attn.w_q``) and loaded onto the current backend. The
entry ``__config__`` is a JSON string: {"format", "version", "model": the
fields of the ModelConfig, plus whatever ``extra`` held (data split, training
settings, metrics)}. Anything wrong with a file (missing, truncated, not a
checkpoint, another version, parameters that do not fit the config) raises
:class:`CheckpointError` with a one-line message.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy

from .files import atomic_open
from .backend import from_numpy, to_numpy
from .model import GeminiModel

FORMAT = "gemini_np.checkpoint"
VERSION = 1
CONFIG_KEY = "__config__"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message is one line."""


def save_checkpoint(path, model: GeminiModel, extra: dict | None = None) -> Path:
    """Write ``model``'s parameters and config (plus ``extra``, JSON-serialisable) to ``path``.

    The file is written to a temporary file next to ``path`` and renamed over
    it only when complete. Returns the path.
    """
    path = Path(path)
    reserved = sorted({"format", "version", "model"} & set(extra or {}))
    if reserved:  # these describe the file and the model being saved: only this function writes them
        raise ValueError(f"extra may not set {', '.join(reserved)}: the checkpoint writes them itself")
    info = {"format": FORMAT, "version": VERSION, "model": model.config.to_dict(), **(extra or {})}
    arrays = {name: numpy.asarray(to_numpy(p)) for name, p in model.params.items()}
    arrays[CONFIG_KEY] = numpy.array(json.dumps(info, ensure_ascii=False))  # a unicode array: no pickle needed
    with atomic_open(path, "wb") as f:  # an interrupted save leaves the previous checkpoint intact
        numpy.savez(f, **arrays)
    return path


def load_checkpoint(path):
    """Read a checkpoint; returns (model on the current backend, info dict).

    info is the stored JSON (``info["model"]``: the fields of the model's
    :class:`~gemini_np.model.ModelConfig`, validated as strictly as the CLI's
    flags). Raises CheckpointError for any unusable file.
    """
    path = Path(path)
    arrays, info = _read(path)
    if info.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a gemini_np checkpoint (format {info.get('format')!r})")
    if info.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {info.get('version')!r}; this gemini_np reads version {VERSION}")
    try:
        model = GeminiModel.from_config(info["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} has an unusable model config: {_one_line(exc)}") from None
    expected = model.params
    missing, extra = sorted(set(expected) - set(arrays)), sorted(set(arrays) - set(expected))
    if missing or extra:
        raise CheckpointError(f"{path} does not fit its model config: missing {missing[:3]}, unexpected {extra[:3]}")
    for name, value in arrays.items():
        want = expected[name]
        if value.shape != tuple(want.shape) or value.dtype != numpy.dtype(model.dtype):
            raise CheckpointError(
                f"{path}: parameter {name} is {value.dtype}{list(value.shape)} but the config needs "
                f"{model.dtype}{list(want.shape)}"
            )
        if not numpy.all(numpy.isfinite(value)):
            raise CheckpointError(f"{path}: parameter {name} holds NaN or infinite values")
    model.load_params({name: from_numpy(value) for name, value in arrays.items()})
    return model, info


def _read(path: Path):
    """All arrays of the .npz (without pickles) and the parsed JSON config."""
    try:
        f = numpy.load(path, allow_pickle=False)
        if not isinstance(f, numpy.lib.npyio.NpzFile):
            raise CheckpointError(f"{path} holds a single array, not a checkpoint (.npz)")
        with f:
            arrays = {name: f[name] for name in f.files}
    except CheckpointError:
        raise
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {path}") from None
    except ValueError as exc:
        if "pickle" in str(exc):  # numpy offers to unpickle: never
            raise CheckpointError(f"{path} is not a gemini_np checkpoint: not an .npz archive of arrays "
                                  f"(such as `python -m gemini_np train --save` writes)") from None
        raise CheckpointError(f"cannot read checkpoint {path} (truncated or corrupt?): {_one_line(exc)}") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise CheckpointError(f"cannot read checkpoint {path} (truncated or corrupt?): {_one_line(exc)}") from None
    if CONFIG_KEY not in arrays:
        raise CheckpointError(f"{path} has no {CONFIG_KEY} entry: not a gemini_np checkpoint")
    try:
        info = json.loads(str(arrays.pop(CONFIG_KEY)))
    except ValueError as exc:
        raise CheckpointError(f"{path} has a corrupt config: {_one_line(exc)}") from None
    if not isinstance(info, dict):
        raise CheckpointError(f"{path} has a corrupt config (not a JSON object)")
    return arrays, info


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]

