"""Module classes (parameters + gradients) built only from ``gemini_np.functional``.

    Module, ModuleList        base: params / grads dicts with flat dotted keys
    Linear, LayerNorm, Embedding, FeedForward, GroupedLinear (one weight matrix per group)
    MultiHeadSelfAttention    heads split and merged explicitly (split_heads / merge_heads)
    PatchSelfAttention        attention inside each p×p image patch
    FusionAttention           summed-logit text-view + image-view attention over a joint sequence
    EncoderBlock              pre-LN: x + Attn(LN(x)), then + FFN(LN(.))

Their gradients are checked by gemini_np.gradcheck.check_module_gradients.
"""
from .attention import FusionAttention, MultiHeadSelfAttention, PatchSelfAttention, merge_heads, split_heads
from .block import EncoderBlock
from .layers import Embedding, FeedForward, GroupedLinear, LayerNorm, Linear
from .module import Module, ModuleList

__all__ = [
    "Embedding",
    "EncoderBlock",
    "FeedForward",
    "FusionAttention",
    "GroupedLinear",
    "LayerNorm",
    "Linear",
    "Module",
    "ModuleList",
    "MultiHeadSelfAttention",
    "PatchSelfAttention",
    "merge_heads",
    "split_heads",
]
