"""The PyTorch twin of :class:`~gemini_np.model.GeminiModel`: the same model, weight for weight.

    twin = to_torch(model)            # a torch.nn.Module: forward(tokens, images) -> logits (B,)
    logits = twin(torch.from_numpy(tokens), torch.from_numpy(images))
    model2 = from_torch(twin)         # back to gemini_np, bit for bit

Every line of the forward is here, in plain PyTorch; autograd writes the
backward that ``gemini_np`` writes by hand (``gemini_np.nn``,
``gemini_np.functional``, and the textbook ``gemini_np.reference``). The tests
(tests/test_interop.py) check that both compute the same logits (to 1e-12) and
the same gradient for every parameter (to 1e-10) in float64.

**The design: gemini_np's names and layouts, PyTorch's functions.**
``dict(twin.named_parameters())`` has exactly the keys of ``model.params``
(``text.blocks.0.attn.w_q``, ``head.bilinear.w``, ...) and equal values, so a
twin's ``state_dict()`` *is* a gemini_np checkpoint's contents, with no
translation table. That rules out ``nn.Linear``, ``nn.LayerNorm`` and
``nn.Embedding`` themselves: they name their tensors ``weight``/``bias``, and
``nn.Linear`` stores its weight as (d_out, d_in) where gemini_np's ``w`` is
(d_in, d_out) for ``y = x W + b``. So each layer below is a small ``nn.Module``
holding gemini_np's tensors (``w``, ``b``, ``gamma``, ``beta``, ``table``) whose
forward is one call of the function that the built-in module calls:
``x @ w + b`` (``nn.Linear`` computes ``x @ weight.T + bias``),
``F.layer_norm``, ``F.embedding``, ``F.gelu(approximate="tanh")`` and
``F.scaled_dot_product_attention``. (To move a weight into an ``nn.Linear``:
``linear.weight.copy_(w.T)``.)

**Where a detail matters** (each one is a line below, with a comment):
pre-LN blocks; Q/K/V projections without bias; GELU in its tanh form;
sinusoidal positions with the sines in the first half of the features; padded
keys masked out; the padding id 0 embeds to the zero vector whatever row 0 of
the table holds; each pixel embedded by the matrix W_r of its offset r inside
its patch, plus a learned position per pixel; per-patch attention as ordinary
attention with the patches folded into the batch; mean pooling per patch; the
modality embedding; fusion attention with summed text-view and image-view
logits and scale 1/√d_head; the matching head's masked mean, plain mean and
bilinear form with the fixed scale 5.
"""
from __future__ import annotations

import math

import numpy

from ..backend import from_numpy, to_numpy
from ..model import GeminiModel, ModelConfig, check_input_shapes
from ..model import MatchingHead as NumpyMatchingHead
from ._torch import torch_missing

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError:  # torch is an optional extra
    raise torch_missing() from None

__all__ = ["GeminiTwin", "from_torch", "to_torch"]

LAYER_NORM_EPS = 1e-5  # gemini_np.nn.LayerNorm's default


# ----------------------------------------------------------------------------- layers


class Linear(nn.Module):
    """y = x W + b, with gemini_np's layout: ``w`` is (d_in, d_out) (``nn.Linear.weight`` is its transpose)."""

    def __init__(self, d_in, d_out, bias=True, dtype=torch.float64):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(d_in, d_out, dtype=dtype))
        self.b = nn.Parameter(torch.zeros(d_out, dtype=dtype)) if bias else None

    def forward(self, x):
        y = x @ self.w
        return y if self.b is None else y + self.b


class GroupedLinear(nn.Module):
    """y[..., r, :] = x[..., r, :] W_r + b: one matrix W_r per group r. ``w`` (g, d_in, d_out), ``b`` (d_out,)."""

    def __init__(self, groups, d_in, d_out, dtype=torch.float64):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(groups, d_in, d_out, dtype=dtype))
        self.b = nn.Parameter(torch.zeros(d_out, dtype=dtype))

    def forward(self, x):
        return torch.einsum("...rc,rcd->...rd", x, self.w) + self.b


class LayerNorm(nn.Module):
    """F.layer_norm over the last axis, with gemini_np's names: scale ``gamma``, shift ``beta``."""

    def __init__(self, d, dtype=torch.float64):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(d, dtype=dtype))
        self.beta = nn.Parameter(torch.zeros(d, dtype=dtype))

    def forward(self, x):
        return F.layer_norm(x, self.gamma.shape, self.gamma, self.beta, eps=LAYER_NORM_EPS)


class Embedding(nn.Module):
    """Token ids -> rows of ``table`` (vocab_size, d); the padding id 0 embeds to the zero vector."""

    def __init__(self, vocab_size, d, dtype=torch.float64):
        super().__init__()
        self.table = nn.Parameter(torch.zeros(vocab_size, d, dtype=dtype))

    def forward(self, ids):
        x = F.embedding(ids, self.table)
        # Zero at padding whatever row 0 holds (F.embedding's padding_idx only stops row 0's gradient).
        return x.masked_fill((ids == 0).unsqueeze(-1), 0.0)


class FeedForward(nn.Module):
    """GELU(x W_1 + b_1) W_2 + b_2, GELU in its tanh form (as gemini_np, BERT and GPT-2)."""

    def __init__(self, d_model, d_ff, dtype=torch.float64):
        super().__init__()
        self.fc1 = Linear(d_model, d_ff, dtype=dtype)
        self.fc2 = Linear(d_ff, d_model, dtype=dtype)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


# ----------------------------------------------------------------------------- attention


def split_heads(x, n_heads):
    """(B, n, d) -> (B, h, n, d/h): head j gets features j·d_head ... (j+1)·d_head − 1."""
    b, n, d = x.shape
    return x.view(b, n, n_heads, d // n_heads).transpose(1, 2)


def merge_heads(x):
    """(B, h, n, d_head) -> (B, n, h·d_head), the inverse of split_heads."""
    b, h, n, d_head = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d_head)


class SelfAttention(nn.Module):
    """Multi-head self-attention, softmax(Q Kᵀ/√d_head + mask) V per head, then W_o.

    x (B, n, d); key_mask bool (B, n), True = a real token (padded keys get weight 0).
    Q/K/V projections without bias: a key bias adds the same number to every
    logit of a row, which softmax ignores.
    """

    def __init__(self, d_model, n_heads, dtype=torch.float64):
        super().__init__()
        self.n_heads = n_heads
        for name in ("w_q", "w_k", "w_v", "w_o"):
            self.register_parameter(name, nn.Parameter(torch.zeros(d_model, d_model, dtype=dtype)))
        self.b_o = nn.Parameter(torch.zeros(d_model, dtype=dtype))

    def forward(self, x, key_mask=None):
        q, k, v = (split_heads(x @ w, self.n_heads) for w in (self.w_q, self.w_k, self.w_v))  # (B, h, n, d_head)
        mask = None if key_mask is None else key_mask[:, None, None, :]  # (B, 1, 1, n): every head, every query
        # A query with no key to attend to (a caption of padding only) gets output 0, gemini_np's rule;
        # PyTorch >= 2.5's SDPA does the same (hence the extra's torch>=2.5).
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # scale 1/√d_head
        return merge_heads(out) @ self.w_o + self.b_o


class FusionAttention(nn.Module):
    """The article's fusion: softmax((Q_t K_tᵀ + Q_i K_iᵀ)/√d_head + mask) V per head, then W_o.

    A text-view pair Q_t = Z W_q_text, K_t = Z W_k_text and an image-view pair
    Q_i = Z W_q_image, K_i = Z W_k_image, all from the one joint sequence z (B, L, d).
    """

    def __init__(self, d_model, n_heads, dtype=torch.float64):
        super().__init__()
        self.n_heads = n_heads
        self.d_head = d_model // n_heads
        for name in ("w_q_text", "w_k_text", "w_q_image", "w_k_image", "w_v", "w_o"):
            self.register_parameter(name, nn.Parameter(torch.zeros(d_model, d_model, dtype=dtype)))
        self.b_o = nn.Parameter(torch.zeros(d_model, dtype=dtype))

    def forward(self, z, key_mask):
        q_t, k_t, q_i, k_i, v = (split_heads(z @ w, self.n_heads)
                                 for w in (self.w_q_text, self.w_k_text, self.w_q_image, self.w_k_image, self.w_v))
        s = (q_t @ k_t.mT + q_i @ k_i.mT) / math.sqrt(self.d_head)  # summed logits, scale 1/√d_head
        s = s.masked_fill(~key_mask[:, None, None, :], float("-inf"))  # padded keys: weight 0
        # (the same as F.scaled_dot_product_attention(cat([q_t, q_i]), cat([k_t, k_i]), v, scale=1/√d_head))
        return merge_heads(torch.softmax(s, dim=-1) @ v) @ self.w_o + self.b_o


class EncoderBlock(nn.Module):
    """Pre-LN: a = x + Attention(LN_1(x)); y = a + FFN(LN_2(a)). d_ff=0: attention only."""

    def __init__(self, d_model, n_heads, d_ff, fusion=False, dtype=torch.float64):
        super().__init__()
        self.ln1 = LayerNorm(d_model, dtype)
        self.attn = (FusionAttention if fusion else SelfAttention)(d_model, n_heads, dtype)
        if d_ff:
            self.ln2 = LayerNorm(d_model, dtype)
            self.ffn = FeedForward(d_model, d_ff, dtype)
        else:
            self.ln2 = self.ffn = None

    def forward(self, x, key_mask=None):
        x = x + self.attn(self.ln1(x), key_mask)
        if self.ffn is not None:
            x = x + self.ffn(self.ln2(x))
        return x


# ----------------------------------------------------------------------------- the model


def sinusoidal_positions(n, d, like):
    """(n, d): pe[pos, i] = sin(pos / 10000^(2i/d)), pe[pos, d/2 + i] = cos(...): sines first, then cosines.

    Fixed, not learned; in ``like``'s dtype and on its device.
    """
    pos = torch.arange(n, dtype=like.dtype, device=like.device)[:, None]
    i = torch.arange(d // 2, dtype=like.dtype, device=like.device)[None, :]
    angle = pos * torch.exp(i * (-2.0 * math.log(10000.0) / d))
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1)


def patchify(x, p):
    """(..., H, W, C) -> (..., (H/p)·(W/p), p·p, C): patches in row-major order, row-major inside a patch."""
    *lead, h, w, c = x.shape
    x = x.reshape(*lead, h // p, p, w // p, p, c).transpose(-4, -3)  # (..., H/p, W/p, p, p, C)
    return x.reshape(*lead, (h // p) * (w // p), p * p, c)


def masked_mean(x, mask):
    """Mean of x (B, n, d) over the positions where mask (B, n) is True; 0 when there are none."""
    m = mask.unsqueeze(-1).to(x.dtype)
    return (x * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)


class TextEncoder(nn.Module):
    """tokens (B, n) -> LN(blocks(embedding + sinusoidal positions)), (B, n, d)."""

    def __init__(self, c: ModelConfig, dtype):
        super().__init__()
        self.embed = Embedding(c.vocab_size, c.d_model, dtype)
        self.blocks = nn.ModuleList(EncoderBlock(c.d_model, c.n_heads, c.d_ff, dtype=dtype)
                                    for _ in range(c.text_layers))
        self.ln = LayerNorm(c.d_model, dtype)

    def forward(self, tokens, key_mask):
        x = self.embed(tokens)
        x = x + sinusoidal_positions(tokens.shape[1], x.shape[-1], like=x)
        for block in self.blocks:
            x = block(x, key_mask)
        return self.ln(x)


class ImageEncoder(nn.Module):
    """images (B, H, W, C) -> one token per p×p patch, (B, m, d).

    Per-pixel embedding c W_r + b + pos, per-patch attention blocks (each pixel
    attends to the p·p pixels of its own patch), the mean of each patch, then
    self-attention blocks over the m patch tokens and a LayerNorm.
    """

    def __init__(self, c: ModelConfig, dtype):
        super().__init__()
        self.patch_size = c.patch_size
        self.pos = nn.Parameter(torch.zeros(c.image_size, c.image_size, c.d_model, dtype=dtype))  # one per pixel
        self.embed = GroupedLinear(c.patch_size**2, c.channels, c.d_model, dtype)
        self.blocks = nn.ModuleList(EncoderBlock(c.d_model, c.n_heads, 0, dtype=dtype)  # no FFN at pixel level
                                    for _ in range(c.image_layers))
        self.patch_blocks = nn.ModuleList(EncoderBlock(c.d_model, c.n_heads, c.d_ff, dtype=dtype)
                                          for _ in range(c.patch_layers))
        self.ln = LayerNorm(c.d_model, dtype)

    def forward(self, images):
        p = self.patch_size
        x = self.embed(patchify(images, p))  # c W_r + b, W_r by the pixel's offset r in its patch: (B, m, p·p, d)
        x = x + patchify(self.pos, p)  # + pos, each pixel's own
        b, m, pp, d = x.shape
        x = x.reshape(b * m, pp, d)  # per-patch attention = attention with the patches folded into the batch
        for block in self.blocks:
            x = block(x)
        t = x.mean(dim=1).reshape(b, m, d)  # one token per patch: the mean of its pixels
        for block in self.patch_blocks:
            t = block(t)
        return self.ln(t)


class FusionLayer(nn.Module):
    """Z = [text + e_text ; patches + e_image] (B, n+m, d), then fusion blocks; padded text keys masked."""

    def __init__(self, c: ModelConfig, dtype):
        super().__init__()
        self.modality = nn.Parameter(torch.zeros(2, c.d_model, dtype=dtype))  # row 0: text, row 1: image
        self.blocks = nn.ModuleList(EncoderBlock(c.d_model, c.n_heads, c.d_ff, fusion=True, dtype=dtype)
                                    for _ in range(c.fusion_layers))

    def forward(self, text, text_mask, patches):
        z = torch.cat([text + self.modality[0], patches + self.modality[1]], dim=1)
        image_mask = torch.ones(patches.shape[:2], dtype=torch.bool, device=patches.device)  # patches are all real
        joint_mask = torch.cat([text_mask, image_mask], dim=1)
        for block in self.blocks:
            z = block(z, joint_mask)
        return z, joint_mask


class MatchingHead(nn.Module):
    """logit = s · t M iᵀ + b: t the masked mean of LN(Z) over the text, i the mean over the patches, s = 5."""

    scale = NumpyMatchingHead.scale  # 5.0, gemini_np's fixed scale

    def __init__(self, c: ModelConfig, dtype):
        super().__init__()
        self.b = nn.Parameter(torch.zeros(1, dtype=dtype))
        self.ln = LayerNorm(c.d_model, dtype)
        self.bilinear = Linear(c.d_model, c.d_model, bias=False, dtype=dtype)  # M

    def forward(self, z, mask, n_text):
        zn = self.ln(z)
        t = masked_mean(zn[:, :n_text], mask[:, :n_text])  # (B, d), padding left out
        i = zn[:, n_text:].mean(dim=1)  # (B, d)
        return (self.bilinear(t) * i).sum(dim=-1) * self.scale + self.b


class GeminiTwin(nn.Module):
    """GeminiModel in PyTorch: ``forward(tokens, images) -> logits (B,)``.

    tokens: int64 (B, n), 0 = padding; images: (B, H, W, C) in the model's float dtype.
    ``GeminiTwin(config)`` starts from exactly the weights of ``GeminiModel(config)``;
    ``to_torch(model)`` copies a model's current weights. ``config`` is the
    :class:`~gemini_np.model.ModelConfig`; ``dtype`` the torch float dtype.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        if not isinstance(config, ModelConfig):
            raise TypeError(f"config must be a gemini_np.model.ModelConfig, got {type(config).__name__}")
        initial = GeminiModel(config)  # gemini_np's initial weights; also rejects an incomplete config
        self.config = config
        self.dtype = getattr(torch, config.dtype)
        self.text = TextEncoder(config, self.dtype)
        self.image = ImageEncoder(config, self.dtype)
        self.fusion = FusionLayer(config, self.dtype)
        self.head = MatchingHead(config, self.dtype)
        _copy_params(self, initial.params)

    def forward(self, tokens, images):
        self._check_inputs(tokens, images)
        text_mask = tokens != 0  # True = a real token
        text = self.text(tokens, text_mask)  # (B, n, d)
        patches = self.image(images)  # (B, m, d)
        z, joint_mask = self.fusion(text, text_mask, patches)  # (B, n+m, d)
        return self.head(z, joint_mask, tokens.shape[1])  # (B,)

    def _check_inputs(self, tokens, images):
        c = self.config
        if not isinstance(tokens, torch.Tensor) or tokens.dtype not in (torch.int64, torch.int32):
            got = getattr(tokens, "dtype", type(tokens).__name__)
            raise TypeError(f"tokens must be an int64 torch tensor of token ids, got {got}")
        if not isinstance(images, torch.Tensor) or images.dtype != self.dtype:
            raise TypeError(f"images must be a {self.dtype} torch tensor like the model, "
                            f"got {getattr(images, 'dtype', type(images).__name__)}")
        check_input_shapes(c, tuple(tokens.shape), tuple(images.shape))  # the same rule as GeminiModel's
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= c.vocab_size):
            raise ValueError(f"token ids must lie in [0, vocab_size={c.vocab_size}), "
                             f"got values in [{int(tokens.min())}, {int(tokens.max())}]")


# ----------------------------------------------------------------------------- conversions


def to_torch(model: GeminiModel) -> GeminiTwin:
    """The twin of ``model``: same config, same dtype, a copy of every parameter under the same name."""
    if not isinstance(model, GeminiModel):
        raise TypeError(f"to_torch needs a gemini_np GeminiModel, got {type(model).__name__}")
    twin = GeminiTwin(model.config)
    _copy_params(twin, model.params)
    return twin


def from_torch(module: GeminiTwin) -> GeminiModel:
    """The GeminiModel holding a copy of the twin's parameters (on the current backend), bit for bit.

    For a DistributedDataParallel wrapper pass its ``.module``.
    """
    if not isinstance(module, GeminiTwin):
        hint = " (for DistributedDataParallel, pass its .module)" if hasattr(module, "module") else ""
        raise TypeError(f"from_torch needs a GeminiTwin (from to_torch), got {type(module).__name__}{hint}")
    model = GeminiModel(module.config)
    model.load_params({name: from_numpy(p.detach().cpu().numpy().copy()) for name, p in module.named_parameters()})
    return model


def _copy_params(twin: GeminiTwin, params: dict) -> None:
    """Copy gemini_np arrays (any backend) into the twin's parameters; the names must match exactly."""
    host = {name: numpy.asarray(to_numpy(value)) for name, value in params.items()}
    twin.load_state_dict({name: torch.from_numpy(value.copy()) for name, value in host.items()}, strict=True)
