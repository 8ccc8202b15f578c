"""Pure math, one topic per file: ``forward(...) -> (out, cache)`` and
``backward(dout, cache) -> grads``. No state, no classes needed."""
from .activations import gelu_backward, gelu_forward, relu_backward, relu_forward
from .attention import AttentionCache, attention_backward, attention_forward
from .blocked import BlockedAttentionCache
from .embedding import embedding_backward, embedding_forward
from .fusion import FusionCache, fusion_attention_backward, fusion_attention_forward
from .grouped_linear import grouped_linear_backward, grouped_linear_forward
from .layernorm import layer_norm_backward, layer_norm_forward
from .linear import linear_backward, linear_forward
from .losses import bce_with_logits_backward, bce_with_logits_forward, sigmoid
from .patch import (
    PatchAttentionCache,
    patch_attention_backward,
    patch_attention_forward,
    patchify,
    unpatchify,
)
from .pooling import masked_mean_backward, masked_mean_forward
from .softmax import softmax, softmax_backward

__all__ = [
    "AttentionCache",
    "BlockedAttentionCache",
    "FusionCache",
    "PatchAttentionCache",
    "attention_backward",
    "attention_forward",
    "bce_with_logits_backward",
    "bce_with_logits_forward",
    "embedding_backward",
    "embedding_forward",
    "fusion_attention_backward",
    "fusion_attention_forward",
    "gelu_backward",
    "gelu_forward",
    "grouped_linear_backward",
    "grouped_linear_forward",
    "layer_norm_backward",
    "layer_norm_forward",
    "linear_backward",
    "linear_forward",
    "masked_mean_backward",
    "masked_mean_forward",
    "patch_attention_backward",
    "patch_attention_forward",
    "patchify",
    "relu_backward",
    "relu_forward",
    "sigmoid",
    "softmax",
    "softmax_backward",
    "unpatchify",
]
