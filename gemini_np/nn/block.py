"""The transformer encoder block, in the pre-normalisation form:

    a = x + Attention(LayerNorm_1(x))
    y = a + FeedForward(LayerNorm_2(a))

The residual paths ("x +", "a +") carry the gradient straight through, which
is why the backward adds the gradient of each branch to the gradient of the
residual. (Pre-LN rather than the original post-LN: no LayerNorm sits on the
residual path, so the gradient reaches every block's input unscaled, and pre-LN
transformers train with little or no learning-rate warm-up (Xiong et al., 2020).
``gemini_np.train`` still uses a short one, 25 steps, found by its experiments.)
"""
from __future__ import annotations

from .attention import FusionAttention, MultiHeadSelfAttention, PatchSelfAttention
from .layers import FeedForward, LayerNorm
from .module import Module, resolve_rng


class EncoderBlock(Module):
    """Pre-LN encoder block; ``attention`` chooses the attention sublayer:

    "self":   x (B, n, d_model), forward(x, key_mask) with key_mask bool (B, n)
    "patch":  x (B, H/p, W/p, p·p, d_model), an image in patch layout; each
              pixel attends inside its own patch, forward(x)
    "fusion": x (B, L, d_model) a joint text+image sequence, summed-logit
              fusion attention, forward(x, key_mask)

    d_ff=0 leaves out the feed-forward sublayer (attention only).
    Returns the same shape as x.
    """

    def __init__(self, d_model, n_heads, d_ff, attention="self", rng=None, dtype="float64"):
        super().__init__(dtype)
        rng = resolve_rng(rng)
        self.ln1 = self.add_module("ln1", LayerNorm(d_model, dtype=dtype))
        if attention == "self":
            attn = MultiHeadSelfAttention(d_model, n_heads, rng=rng, dtype=dtype)
        elif attention == "patch":
            attn = PatchSelfAttention(d_model, n_heads, rng=rng, dtype=dtype)
        elif attention == "fusion":
            attn = FusionAttention(d_model, n_heads, rng=rng, dtype=dtype)
        else:
            raise ValueError(f"attention must be 'self', 'patch' or 'fusion', got {attention!r}")
        self.attn = self.add_module("attn", attn)
        self.has_ffn = d_ff != 0
        if self.has_ffn:
            self.ln2 = self.add_module("ln2", LayerNorm(d_model, dtype=dtype))
            self.ffn = self.add_module("ffn", FeedForward(d_model, d_ff, rng=rng, dtype=dtype))

    def forward(self, x, key_mask=None):
        h = self.ln1.forward(x)
        h = self.attn.forward(h) if key_mask is None else self.attn.forward(h, key_mask)
        a = x + h  # a = x + Attention(LN_1(x))
        if not self.has_ffn:
            return a
        return a + self.ffn.forward(self.ln2.forward(a))  # y = a + FFN(LN_2(a))

    def backward(self, dy):
        da = dy + self.ln2.backward(self.ffn.backward(dy)) if self.has_ffn else dy  # residual + FFN branch
        return da + self.ln1.backward(self.attn.backward(da))  # residual + attention branch
