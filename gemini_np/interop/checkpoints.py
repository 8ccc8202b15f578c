"""gemini_np checkpoints for the PyTorch twin: the same ``.npz`` files, read and written by gemini_np.checkpoint.

    twin, info = load_checkpoint_to_torch("model.npz")     # any checkpoint `train --save` wrote
    ...train the twin with PyTorch...
    save_torch_checkpoint("more.npz", twin, extra=info)    # `python -m gemini_np evaluate more.npz` reads it

A twin's ``state_dict()`` has the checkpoint's parameter names and values, so
nothing is translated: these two functions only convert between the twin and
:class:`~gemini_np.model.GeminiModel` (``to_torch`` / ``from_torch``) and let
:mod:`gemini_np.checkpoint` do the file work (validation, atomic writes).
"""
from __future__ import annotations

from ..checkpoint import load_checkpoint, save_checkpoint
from .twin import GeminiTwin, from_torch, to_torch

__all__ = ["load_checkpoint_to_torch", "save_torch_checkpoint"]

#: Entries of a checkpoint's info that describe the file and the model; a save writes them itself.
_FILE_ENTRIES = ("format", "version", "model")


def load_checkpoint_to_torch(path):
    """Read a gemini_np checkpoint into a twin. Returns (GeminiTwin, info dict).

    ``info`` is the checkpoint's stored JSON (its data split under "data", the
    run under "train", ...). Raises gemini_np.checkpoint.CheckpointError (one
    line) for an unusable file.
    """
    model, info = load_checkpoint(path)
    return to_torch(model), info


def save_torch_checkpoint(path, module: GeminiTwin, extra: dict | None = None):
    """Write the twin's parameters and config as a gemini_np checkpoint (atomically). Returns the path.

    extra: JSON-serialisable entries to store beside them, typically the
    ``info`` of the checkpoint training started from: its "data" entry is what
    ``python -m gemini_np evaluate`` needs to rebuild the held-out split. The
    entries naming the format, version and model config are always this
    module's own, never copied from ``extra``.
    """
    extra = {k: v for k, v in (extra or {}).items() if k not in _FILE_ENTRIES}
    return save_checkpoint(path, from_torch(module), extra)
