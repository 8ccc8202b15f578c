"""Bridges to other frameworks; today one: the PyTorch twin of :class:`~gemini_np.model.GeminiModel`.

    to_torch(model) -> GeminiTwin              the same model as a torch.nn.Module, weight for weight
    from_torch(twin) -> GeminiModel            the inverse; a round trip is exact (bit for bit)
    load_checkpoint_to_torch(path)             a gemini_np .npz checkpoint -> (twin, info)
    save_torch_checkpoint(path, twin, extra)   a twin -> a gemini_np checkpoint (`evaluate` reads it)
    python -m gemini_np.interop.ddp ...        continue training a checkpoint with DistributedDataParallel

PyTorch is an optional extra (``pip install torch``, or from this repository
``pip install -e ".[torch]"``). Nothing in the core imports this package, and
importing the package itself does not import torch: the names above are looked
up on first use (PEP 562), so a missing torch is reported then, in one line.
"""
from __future__ import annotations

import importlib

#: Where each public name lives (the modules that need torch).
_PUBLIC = {
    "GeminiTwin": "twin",
    "to_torch": "twin",
    "from_torch": "twin",
    "load_checkpoint_to_torch": "checkpoints",
    "save_torch_checkpoint": "checkpoints",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f".{_PUBLIC[name]}", __name__)  # raises TorchMissing without torch
    return getattr(module, name)


def __dir__():
    return sorted(list(globals()) + __all__)
