"""The one-line answer to a missing PyTorch (this module itself never imports torch)."""
from __future__ import annotations

INSTALL_HINT = 'pip install torch (the CPU build is enough), or from this repository pip install -e ".[torch]"'


class TorchMissing(ImportError):
    """PyTorch is not installed; the message is one line and says how to install it."""


def torch_missing() -> TorchMissing:
    return TorchMissing(f"gemini_np.interop needs PyTorch, which is not installed: {INSTALL_HINT}")
