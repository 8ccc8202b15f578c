"""gemini_np: multimodal attention from scratch in NumPy, with hand-written backprop.

The public API (fixed; see docs/architecture.md) is importable from here:

    softmax, softmax_backward
    attention_forward, attention_backward                 softmax(Q Kᵀ/√d_k) V
    patchify, unpatchify
    patch_attention_forward, patch_attention_backward     softmax(Q_ij K_ijᵀ/√d_k) V_ij
    fusion_attention_forward, fusion_attention_backward   softmax(Q_t K_tᵀ/√d_k + Q_i K_iᵀ/√d_k) V
    numerical_gradient, rel_error, check_gradients
    set_backend, get_backend, use_backend, to_numpy

The textbook version of every attention op, plain math to read: gemini_np.reference.
"""
from .backend import BackendError, array_namespace, from_numpy, get_backend, set_backend, to_numpy, use_backend
from .functional import (
    attention_backward,
    attention_forward,
    fusion_attention_backward,
    fusion_attention_forward,
    patch_attention_backward,
    patch_attention_forward,
    patchify,
    softmax,
    softmax_backward,
    unpatchify,
)
from .gradcheck import check_gradients, numerical_gradient, rel_error
from . import reference  # gnp.reference: the textbook version of each attention op (a submodule: its names match the ops')

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "array_namespace",
    "attention_backward",
    "attention_forward",
    "check_gradients",
    "from_numpy",
    "fusion_attention_backward",
    "fusion_attention_forward",
    "get_backend",
    "numerical_gradient",
    "patch_attention_backward",
    "patch_attention_forward",
    "patchify",
    "rel_error",
    "set_backend",
    "softmax",
    "softmax_backward",
    "to_numpy",
    "unpatchify",
    "use_backend",
]
