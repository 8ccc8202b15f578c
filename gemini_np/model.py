"""The article's model, made to run: text encoder, image encoder, fusion layer, matching head.

    tokens (B, n) ──TextEncoder──▶ text states (B, n, d) ──┐
                                                            ├─FusionLayer─▶ Z (B, n+m, d) ─MatchingHead─▶ logits (B,)
    images (B, H, W, C) ──ImageEncoder──▶ patches (B, m, d) ┘

m = (H/p)·(W/p) patch tokens. Each stage is a Module (``gemini_np.nn``) whose
forward keeps what its backward needs, so ``GeminiModel.backward(dlogits)``
runs the same stages in reverse and fills ``model.grads``.
"""
from __future__ import annotations

import dataclasses
import math

from .backend import array_namespace, device_kwargs, is_array
from .functional import masked_mean_backward, masked_mean_forward
from .functional.patch import _patchify as patchify, _unpatchify as unpatchify  # inputs are checked on entry
from .nn import Embedding, EncoderBlock, GroupedLinear, LayerNorm, Linear, Module, ModuleList
from .nn.module import dtype_name, resolve_rng
from .validation import check_dtype, check_fields, check_int, check_positive_int, is_floating, is_integer


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything that determines a :class:`GeminiModel` before training: sizes, seed, dtype.

    Saved in every checkpoint (as a JSON object of these fields) and held by
    :class:`gemini_np.train.TrainConfig`. ``vocab_size=None`` means "not known
    yet": training fills it in from its data's vocabulary; a model needs it set.
    """

    vocab_size: int | None = None  # token ids lie in [0, vocab_size); 0 is padding
    image_size: int = 16  # images are image_size × image_size pixels
    patch_size: int = 4  # p: p×p patches, p divides image_size
    channels: int = 3  # colour channels of a pixel
    d_model: int = 32  # width of every token vector; even, divisible by n_heads
    n_heads: int = 2
    d_ff: int = 64  # hidden width of the feed-forward sublayers
    text_layers: int = 1  # self-attention blocks over the caption
    image_layers: int = 1  # per-patch attention blocks over the pixels
    patch_layers: int = 1  # self-attention blocks over the patch tokens (0 = none)
    fusion_layers: int = 1  # summed-logit fusion blocks over the joint sequence
    seed: int = 0  # the initial weights: numpy.random.default_rng(seed)
    dtype: str = "float64"  # or "float32"

    def __post_init__(self):
        if self.vocab_size is not None:
            check_positive_int(self.vocab_size, "vocab_size")
        for name in ("image_size", "patch_size", "channels", "d_model", "n_heads", "d_ff", "text_layers",
                     "image_layers", "fusion_layers"):
            check_positive_int(getattr(self, name), name)
        check_int(self.patch_layers, "patch_layers", minimum=0)
        check_int(self.seed, "seed", minimum=0)
        object.__setattr__(self, "dtype", check_dtype(self.dtype))
        if self.image_size % self.patch_size:
            raise ValueError(f"patch_size={self.patch_size} must divide image_size={self.image_size}")
        if self.d_model % self.n_heads or self.d_model % 2:
            raise ValueError(f"d_model={self.d_model} must be even and divisible by n_heads={self.n_heads}")

    @classmethod
    def from_dict(cls, fields: dict) -> "ModelConfig":
        """A config from a dict such as a checkpoint's JSON; unknown or ill-typed fields raise."""
        return cls(**check_fields(cls, fields, "model config"))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def complete(self, vocab_size: int) -> "ModelConfig":
        """This config with ``vocab_size`` filled in (an already set, different value raises)."""
        if self.vocab_size is not None and self.vocab_size != vocab_size:
            raise ValueError(f"the model config says vocab_size={self.vocab_size} but the data's vocabulary "
                             f"has {vocab_size} tokens")
        return dataclasses.replace(self, vocab_size=vocab_size)


def sinusoidal_positions(n, d, like):
    """The fixed sinusoidal position code of "Attention Is All You Need": (n, d).

    pe[pos, i] = sin(pos / 10000^(2i/d)) and pe[pos, d/2 + i] = cos(pos / 10000^(2i/d))
    for i < d/2: the sines in the first half of the features, the cosines in
    the second (a permutation of the paper's interleaving; equivalent for a
    learned model). Built with ``like``'s library, dtype and device. d must be even.
    """
    xp = array_namespace(like)
    kw = device_kwargs(like)
    pos = xp.arange(n, dtype=like.dtype, **kw)[:, None]  # (n, 1)
    i = xp.arange(d // 2, dtype=like.dtype, **kw)[None, :]  # (1, d/2)
    angle = pos * xp.exp(i * (-2.0 * math.log(10000.0) / d))  # pos / 10000^(2i/d)
    return xp.concat([xp.sin(angle), xp.cos(angle)], axis=-1)


def check_input_shapes(config: ModelConfig, tokens_shape: tuple, images_shape: tuple) -> None:
    """tokens (B, n) with n >= 1 and images (B, image_size, image_size, channels), else ValueError.

    Shared by :class:`GeminiModel` and its PyTorch twin (``gemini_np.interop``).
    """
    if len(tokens_shape) != 2 or tokens_shape[1] < 1:
        raise ValueError(f"tokens must have shape (B, n) with n >= 1, got {tokens_shape}")
    expected = (config.image_size, config.image_size, config.channels)
    if len(images_shape) != 4 or images_shape[1:] != expected:
        raise ValueError(f"images must have shape (B, image_size, image_size, channels) = (B, {expected[0]}, "
                         f"{expected[1]}, {expected[2]}), got {images_shape}")
    if tokens_shape[0] != images_shape[0]:
        raise ValueError(f"tokens {tokens_shape} and images {images_shape} must have the same batch size")


class TextEncoder(Module):
    """Token embedding + fixed sinusoidal positions + self-attention blocks + LayerNorm.

    tokens: int (B, n), 0 = padding -> text states (B, n, d).
    The positional encoding is **sinusoidal** (fixed, not learned): no
    parameters, and any caption length works. Padded positions are masked out
    as *keys* in every attention, so no token looks at padding; the states of
    the padded positions themselves are ignored downstream (fusion mask, pooling).
    """

    def __init__(self, vocab_size, d_model, n_heads, d_ff, n_layers=1, rng=None, dtype="float64"):
        super().__init__(dtype)
        rng = resolve_rng(rng)
        self.d_model = d_model
        self.embed = self.add_module("embed", Embedding(vocab_size, d_model, padding_id=0, rng=rng, dtype=dtype))
        self.blocks = self.add_module("blocks", ModuleList(
            [EncoderBlock(d_model, n_heads, d_ff, "self", rng=rng, dtype=dtype) for _ in range(n_layers)], dtype))
        self.ln = self.add_module("ln", LayerNorm(d_model, dtype=dtype))

    def forward(self, tokens, key_mask):
        """tokens (B, n) int; key_mask (B, n) bool, True = real token. Returns (B, n, d)."""
        x = self.embed.forward(tokens)  # (B, n, d), zero at padding
        x = x + sinusoidal_positions(tokens.shape[1], self.d_model, like=x)
        for block in self.blocks:
            x = block.forward(x, key_mask)
        return self.ln.forward(x)

    def backward(self, dh):
        """dh (B, n, d). Fills the gradients; the token ids have none, so returns None."""
        dx = self.ln.backward(dh)
        for block in reversed(list(self.blocks)):
            dx = block.backward(dx)
        self.embed.backward(dx)  # the sinusoidal positions are constants
        return None


class ImageEncoder(Module):
    """Per-pixel embedding + learned positions, per-patch attention, one token per patch.

    images (B, H, W, C) -> patch tokens (B, m, d), m = (H/p)·(W/p), patches in
    row-major order.

    The image is **patchified once, at the entrance**, into the patch layout
    (B, H/p, W/p, p·p, C) of :func:`~gemini_np.functional.patchify`; every step
    up to the pooling works per patch in that layout.

    1. **Per-pixel linear embedding**: x = c W_r + b + pos. Pixel colour c (C,)
       is embedded by the matrix W_r of its offset r inside its p×p patch
       (``GroupedLinear``), and ``pos`` (H, W, d) is a learned position
       embedding, one vector per pixel. (One W for all pixels would make the
       mean in step 3 forget where in the patch the lit pixels are; with W_r,
       the mean of a patch's embeddings is exactly ViT's linear patch embedding.)
    2. **Per-patch attention**: pre-LN residual blocks whose attention is the
       article's softmax(Q_ij K_ijᵀ/√d_k) V_ij (``PatchSelfAttention``): each
       pixel attends only to the p·p pixels of its own patch. These
       pixel-level blocks have no feed-forward sublayer (d_ff=0), the most
       expensive part at pixel resolution, which the task does not need.
    3. **Pooling**: each patch becomes one token, the **mean of its p·p pixel
       vectors** (``masked_mean_forward`` over the in-patch axis).
    4. ``patch_layers`` ordinary self-attention blocks over the m patch tokens
       (so patches can combine into whole shapes), then a LayerNorm.
    """

    def __init__(self, image_size, patch_size, channels, d_model, n_heads, d_ff, n_layers=1, patch_layers=1,
                 rng=None, dtype="float64"):
        super().__init__(dtype)
        rng = resolve_rng(rng)
        self.patch_size = patch_size
        self.embed = self.add_module("embed", GroupedLinear(patch_size * patch_size, channels, d_model, rng=rng,
                                                            dtype=dtype))
        self.add_param("pos", rng.standard_normal((image_size, image_size, d_model)) * 0.5)
        self.blocks = self.add_module("blocks", ModuleList(
            [EncoderBlock(d_model, n_heads, 0, "patch", rng=rng, dtype=dtype) for _ in range(n_layers)], dtype))
        self.patch_blocks = self.add_module("patch_blocks", ModuleList(
            [EncoderBlock(d_model, n_heads, d_ff, "self", rng=rng, dtype=dtype) for _ in range(patch_layers)], dtype))
        self.ln = self.add_module("ln", LayerNorm(d_model, dtype=dtype))

    def forward(self, images):
        xp = array_namespace(images)
        p = self.patch_size
        x = patchify(images, p)  # (B, H/p, W/p, p·p, C): the patch layout, from here to the pooling
        x = self.embed.forward(x)  # c W_r + b, (B, H/p, W/p, p·p, d)
        x = x + patchify(self._params["pos"], p)  # ... + pos, each pixel's vector in its patch slot
        for block in self.blocks:
            x = block.forward(x)  # per-patch attention
        pooled, self._pool_cache = masked_mean_forward(x)  # mean of each patch: (B, H/p, W/p, d)
        b, hp, wp, d = pooled.shape
        self._grid = (hp, wp)
        t = xp.reshape(pooled, (b, hp * wp, d))  # (B, m, d), row-major patches
        for block in self.patch_blocks:
            t = block.forward(t)
        return self.ln.forward(t)

    def backward(self, dtokens):
        """dtokens (B, m, d). Returns d images (B, H, W, C)."""
        xp = array_namespace(dtokens)
        p = self.patch_size
        dt = self.ln.backward(dtokens)
        for block in reversed(list(self.patch_blocks)):
            dt = block.backward(dt)
        b, _, d = dt.shape
        dx = masked_mean_backward(xp.reshape(dt, (b, *self._grid, d)), self._pool_cache)  # (B, H/p, W/p, p·p, d)
        for block in reversed(list(self.blocks)):
            dx = block.backward(dx)
        self._grads["pos"] = unpatchify(xp.sum(dx, axis=0), p)  # pos was broadcast over the batch
        return unpatchify(self.embed.backward(dx), p)  # back to the (B, H, W, C) grid of the input


class FusionLayer(Module):
    """The article's fusion, softmax(Q_t K_tᵀ/√d_k + Q_i K_iᵀ/√d_k) V, made well-defined (docs/architecture.md).

    The text states (B, n, d) and patch tokens (B, m, d) are concatenated into
    one joint sequence Z (B, n+m, d), after adding a learned **modality
    embedding** (row 0 to every text token, row 1 to every patch token) so each
    token knows where it came from. Pre-LN encoder blocks then run *fusion
    attention* on Z: a text-view pair Z W_q_text, Z W_k_text and an image-view
    pair Z W_q_image, Z W_k_image, whose logits are summed
    (``fusion_attention_forward``). Both logit matrices are (n+m)×(n+m), so the
    article's sum is defined for any n and m, and every token can attend
    across modalities. Padded text tokens are masked out as keys.
    """

    def __init__(self, d_model, n_heads, d_ff, n_layers=1, rng=None, dtype="float64"):
        super().__init__(dtype)
        rng = resolve_rng(rng)
        self.add_param("modality", rng.standard_normal((2, d_model)) * 0.5)
        self.blocks = self.add_module("blocks", ModuleList(
            [EncoderBlock(d_model, n_heads, d_ff, "fusion", rng=rng, dtype=dtype) for _ in range(n_layers)], dtype))

    def forward(self, text, text_mask, patches):
        """text (B, n, d), text_mask bool (B, n), patches (B, m, d).

        Returns (z (B, n+m, d), joint_mask bool (B, n+m)).
        """
        xp = array_namespace(text, patches)
        b, n, _ = text.shape
        e = self._params["modality"]
        z = xp.concat([text + e[0, :], patches + e[1, :]], axis=1)  # Z = [text + e_text ; patches + e_image]
        image_mask = xp.ones((b, patches.shape[1]), dtype=xp.bool, **device_kwargs(text_mask))
        joint_mask = xp.concat([text_mask, image_mask], axis=1)  # every patch is a real token
        for block in self.blocks:
            z = block.forward(z, joint_mask)
        self._n = n
        return z, joint_mask

    def backward(self, dz):
        """dz (B, n+m, d). Returns (dtext (B, n, d), dpatches (B, m, d))."""
        xp = array_namespace(dz)
        for block in reversed(list(self.blocks)):
            dz = block.backward(dz)
        dtext, dpatches = dz[:, : self._n, :], dz[:, self._n :, :]
        d = dz.shape[-1]
        d_text_row = xp.sum(xp.reshape(dtext, (-1, d)), axis=0)  # e[0] was added to every text token
        d_image_row = xp.sum(xp.reshape(dpatches, (-1, d)), axis=0)  # e[1] to every patch token
        self._grads["modality"] = xp.stack([d_text_row, d_image_row])
        return dtext, dpatches


class MatchingHead(Module):
    """Pool each modality's part of the fused sequence, then compare the two: one logit per pair.

        t = masked mean of LN(Z) over the text tokens (padding left out)    (B, d)
        i = mean of LN(Z) over the patch tokens                             (B, d)
        logit = s · t M iᵀ + b                                              (B,)

    A bilinear form: every text feature is compared with every image feature
    through M (d, d). M starts at **zero**, so the first logits are 0 (p = ½)
    and learning M alone is a convex problem, which is what lets the model
    learn in the article's 250 steps. The fixed scale s = 5 makes Adam's
    steps on M move the logit five times faster (the same as a 5× larger
    learning rate for M) without touching the encoders' learning rate.
    """

    scale = 5.0

    def __init__(self, d_model, dtype="float64"):
        super().__init__(dtype)
        self.ln = self.add_module("ln", LayerNorm(d_model, dtype=dtype))
        self.bilinear = self.add_module("bilinear", Linear(d_model, d_model, bias=False, std=0.0, dtype=dtype))
        self.add_param("b", [0.0])

    def forward(self, z, mask, n_text):
        """z (B, L, d), mask bool (B, L), n_text: the first n_text tokens are text. Returns logits (B,)."""
        xp = array_namespace(z)
        zn = self.ln.forward(z)
        t, self._t_cache = masked_mean_forward(zn[:, :n_text, :], mask[:, :n_text])  # (B, d)
        i, self._i_cache = masked_mean_forward(zn[:, n_text:, :])  # (B, d)
        u = self.bilinear.forward(t)  # t M, (B, d)
        self._u, self._i = u, i
        return xp.sum(u * i, axis=-1) * self.scale + self._params["b"]  # s · (t M) · i + b

    def backward(self, dlogits):
        """dlogits (B,). Returns dz (B, L, d)."""
        xp = array_namespace(dlogits)
        self._grads["b"] = xp.sum(dlogits, axis=0, keepdims=True)
        g = dlogits[:, None] * self.scale  # (B, 1)
        du = g * self._i  # from s · Σ u ∘ i
        di = g * self._u
        dt = self.bilinear.backward(du)  # from u = t M
        dzn = xp.concat([masked_mean_backward(dt, self._t_cache), masked_mean_backward(di, self._i_cache)], axis=1)
        return self.ln.backward(dzn)


class GeminiModel(Module):
    """Image-text matching: ``forward(tokens, images) -> logits (B,)``.

    Build it from a :class:`ModelConfig` or from its fields as keywords:

        GeminiModel(ModelConfig(vocab_size=12, d_model=32))
        GeminiModel(vocab_size=12, d_model=32)             # the same model
        GeminiModel.from_config({"vocab_size": 12, ...})   # e.g. from a checkpoint's JSON

    tokens: integer array (B, n), ids in [0, vocab_size), 0 = padding.
    images: floating array (B, image_size, image_size, channels), in the model's dtype.
    logits: (B,); σ(logit) is the probability that the caption matches the image.

    backward(dlogits (B,)) fills ``grads`` (same keys as ``params``) and
    returns d images (B, H, W, C). Parameters are drawn on the host from
    ``numpy.random.default_rng(config.seed)`` and moved to the current backend;
    float64 by default (for gradient checks), ``dtype="float32"`` for speed.
    """

    def __init__(self, config: ModelConfig | None = None, **fields):
        if config is not None and fields:
            raise TypeError("give either a ModelConfig or its fields as keywords, not both")
        if config is None:
            config = ModelConfig(**fields)
        if not isinstance(config, ModelConfig):
            raise TypeError(f"config must be a ModelConfig (or pass its fields as keywords), got {type(config).__name__}")
        if config.vocab_size is None:
            raise ValueError("the model config has vocab_size=None: set it to the size of the vocabulary "
                             "(gemini_np.train fills it in from the data)")
        c = self.config = config
        super().__init__(c.dtype)
        rng = resolve_rng(c.seed)
        self.text = self.add_module("text", TextEncoder(c.vocab_size, c.d_model, c.n_heads, c.d_ff, c.text_layers,
                                                        rng, c.dtype))
        self.image = self.add_module("image", ImageEncoder(c.image_size, c.patch_size, c.channels, c.d_model,
                                                           c.n_heads, c.d_ff, c.image_layers, c.patch_layers, rng,
                                                           c.dtype))
        self.fusion = self.add_module("fusion", FusionLayer(c.d_model, c.n_heads, c.d_ff, c.fusion_layers, rng, c.dtype))
        self.head = self.add_module("head", MatchingHead(c.d_model, c.dtype))

    @classmethod
    def from_config(cls, config) -> "GeminiModel":
        """A model from a :class:`ModelConfig` or a dict of its fields (validated strictly)."""
        return cls(config if isinstance(config, ModelConfig) else ModelConfig.from_dict(config))

    def forward(self, tokens, images):
        """tokens (B, n) int, images (B, H, W, C) float -> logits (B,)."""
        self._check_inputs(tokens, images)
        text_mask = tokens != 0  # True = real token, False = padding
        text = self.text.forward(tokens, text_mask)  # (B, n, d)
        patches = self.image.forward(images)  # (B, m, d)
        z, joint_mask = self.fusion.forward(text, text_mask, patches)  # (B, n+m, d)
        return self.head.forward(z, joint_mask, tokens.shape[1])  # (B,)

    def backward(self, dlogits):
        """dlogits (B,) = dL/dlogits. Fills ``self.grads``; returns d images (B, H, W, C)."""
        dz = self.head.backward(dlogits)
        dtext, dpatches = self.fusion.backward(dz)
        self.text.backward(dtext)
        return self.image.backward(dpatches)

    @property
    def attention_maps(self) -> dict:
        """The attention matrices P of the last forward pass, for plots.

        "text": [(B, h, n, n)] per text layer; "image": [(B, h, H/p, W/p, p², p²)]
        per pixel-level layer; "fusion": [(B, h, n+m, n+m)] per fusion layer
        (rows and columns: the n text tokens, then the m patches).
        """
        return {
            "text": [b.attn.weights for b in self.text.blocks],
            "image": [b.attn.weights for b in self.image.blocks],
            "fusion": [b.attn.weights for b in self.fusion.blocks],
        }

    def _check_inputs(self, tokens, images):
        """Kinds, shapes and dtype of the inputs; the token ids' range is the embedding's check."""
        c = self.config
        if not is_array(tokens) or not is_integer(tokens):
            got = getattr(tokens, "dtype", type(tokens).__name__)
            raise TypeError(f"tokens must be an integer array of token ids, got {got}")
        if not is_array(images) or not is_floating(images):
            got = getattr(images, "dtype", type(images).__name__)
            raise TypeError(f"images must be a floating-point array, got {got}")
        array_namespace(tokens, images)  # one library for both, else TypeError
        check_input_shapes(c, tuple(tokens.shape), tuple(images.shape))
        if dtype_name(images) != self.dtype:
            raise TypeError(f"images have dtype {dtype_name(images)} but the model is {self.dtype}; convert them first")
        # The range of the token ids is checked once, by the embedding lookup (one host sync per batch).
