# %% [markdown]
# # 10 · (optional) The PyTorch twin: the same model, weight for weight
#
# *Optional. About 15 minutes. Needs PyTorch (the CPU build is enough):
# `pip install -e ".[torch]"` from the repository root. Read notebooks 02–05 first.*
#
# Every backward pass in `gemini_np` is written by hand. The earlier notebooks
# checked them against finite differences, which is convincing but only to about
# 1e-7. Here we build the model a second time in PyTorch, where **autograd**
# writes the backward, and compare the two in float64 to machine precision.
#
# The twin is also the way out: when you want a bigger model, a GPU cluster or
# a real data set, you take your model, its checkpoints and what you learned to
# PyTorch, and scale out on PyTorch's own distributed engine.
#
# **You will learn to**
# 1. turn a `GeminiModel` into a `torch.nn.Module` with the same parameter names and values, and back;
# 2. check every gradient of the hand-written backward against autograd, tensor by tensor;
# 3. read the ~30 lines of PyTorch forward that replace the hand-written backward;
# 4. move a trained checkpoint to PyTorch and continue training it on several processes.
#
# **Prerequisites:** notebooks 02 (attention and its backward), 05 (multi-head attention) and
# 06 (the model and its training); PyTorch installed (`pip install -e ".[torch]"`).
#
# **Time:** about 15 minutes.

# %%
import inspect

import numpy as np
import torch

import gemini_np as gnp
from gemini_np import nn as gnn
from gemini_np import reference
from gemini_np.interop import from_torch, to_torch
from gemini_np.interop import twin as twin_source
from gemini_np.model import GeminiModel, ModelConfig

np.set_printoptions(precision=4, suppress=True)
print("torch", torch.__version__)

# %% [markdown]
# ## 1. Build the twin
#
# The model of the §5.4 experiment, in float64. A fresh model's matching matrix
# $M$ is zero, which makes every gradient upstream of it exactly zero: a
# comparison of zeros could not fail. So we move every weight a little first.

# %%
config = ModelConfig(vocab_size=12, dtype="float64")  # d_model 32, 2 heads, 16×16 images in 4×4 patches
model = GeminiModel(config)
rng = np.random.default_rng(0)
model.load_params({name: p + 0.1 * rng.standard_normal(p.shape) for name, p in model.params.items()})

twin = to_torch(model)
named = dict(twin.named_parameters())
print("same names, same order:", list(named) == list(model.params))
print("same values:", all(np.array_equal(named[k].detach().numpy(), v) for k, v in model.params.items()))
print(f"{len(named)} tensors, {sum(p.numel() for p in named.values())} numbers, dtype {twin.dtype}")
for name in ("text.embed.table", "text.blocks.0.attn.w_q", "image.embed.w", "image.pos", "head.bilinear.w"):
    print(f"  {name:<24} {tuple(named[name].shape)}")

# %% [markdown]
# `w_q` is (d_in, d_out) because both compute `x @ w`. PyTorch's `nn.Linear`
# stores the transpose under another name (`weight`), so the twin uses small
# layers that keep gemini_np's names and layouts; each one's forward is one call of
# the function `nn.Linear`, `nn.LayerNorm` or `nn.Embedding` would call. The payoff:
# `twin.state_dict()` *is* a gemini_np checkpoint's contents, with no translation.
#
# ## 2. The same logits
#
# A batch of four captions, three with padding (token 0), and four random images:

# %%
tokens = np.array([[2, 3, 4, 5, 0], [6, 7, 8, 9, 10], [11, 2, 0, 0, 0], [3, 5, 7, 0, 0]])
images = rng.random((4, 16, 16, 3))
logits = model.forward(tokens, images)
t_logits = twin(torch.from_numpy(tokens), torch.from_numpy(images))
print("gemini_np:", logits)
print("PyTorch:  ", t_logits.detach().numpy())
print("rel_error:", gnp.rel_error(logits, t_logits.detach().numpy()))

# %% [markdown]
# ## 3. The same gradients, tensor by tensor
#
# A random upstream gradient $\partial L / \partial \text{logits}$ (a plain sum
# would hide softmax bugs), then `model.backward` (by hand) against
# `loss.backward()` (autograd):

# %%
upstream = rng.standard_normal(len(tokens))
model.backward(upstream)
(t_logits * torch.from_numpy(upstream)).sum().backward()

print(f"{'parameter':<34} {'shape':<12} {'max |grad|':>10} {'rel_error':>10}")
errors = {}
for name, p in twin.named_parameters():
    ours = model.grads[name]
    errors[name] = gnp.rel_error(ours, p.grad.numpy())
    print(f"{name:<34} {str(tuple(p.shape)):<12} {np.abs(ours).max():>10.3g} {errors[name]:>10.1e}")
print(f"worst of {len(errors)} tensors: {max(errors.values()):.1e}")

# %% [markdown]
# Every tensor agrees to about 1e-11 or better (the tests ask for 1e-10): the
# same sums, rounded in a different order. Finite differences can only confirm
# about 7 digits; autograd confirms all but the last few.
#
# ## 4. What autograd replaces
#
# The twin's encoder block and its attention, in PyTorch. This is the whole
# forward of the text, patch and pixel blocks; there is no backward to write:

# %%
print(inspect.getsource(twin_source.EncoderBlock.forward))
print(inspect.getsource(twin_source.SelfAttention.forward))
print(inspect.getsource(twin_source.FusionAttention.forward))

# %% [markdown]
# And the hand-written side. The block's backward (`gemini_np.nn.EncoderBlock`),
# the attention module's (`gemini_np.nn.attention`), and the textbook backward
# of attention itself (`gemini_np.reference`; the tuned kernel computes the same lines).
# Fusion has its own (`reference.fusion_attention_backward`), and so do LayerNorm,
# GELU, the embedding, the pooling and the head (`gemini_np.nn`, `gemini_np.functional`).

# %%
print(inspect.getsource(gnn.EncoderBlock.backward))
print(inspect.getsource(gnn.MultiHeadSelfAttention.backward))
print(inspect.getsource(reference.attention_backward))

# %% [markdown]
# ## 5. Back, and onward
#
# `from_torch` is the exact inverse: the round trip changes no bit.

# %%
back = from_torch(twin)
print("round trip exact:", all(np.array_equal(back.params[k], v) for k, v in model.params.items()))

# %% [markdown]
# A trained checkpoint goes the same way, through `gemini_np.checkpoint`:
#
# ```python
# from gemini_np.interop import load_checkpoint_to_torch, save_torch_checkpoint
# twin, info = load_checkpoint_to_torch("model.npz")    # from `python -m gemini_np train --save model.npz`
# ...                                                   # train it with torch.optim, as any nn.Module
# save_torch_checkpoint("more.npz", twin, extra=info)   # `python -m gemini_np evaluate more.npz` reads it
# ```
#
# and to continue training on several processes with PyTorch's
# `DistributedDataParallel` (gloo backend, CPU):
#
# ```
# python -m gemini_np.interop.ddp --checkpoint model.npz --nproc 2 --epochs 1 --save more.npz
# python -m gemini_np evaluate more.npz
# ```
#
# ## What to remember
#
# * The twin has **the same parameter names and values** as the NumPy model, so
#   checkpoints move both ways unchanged, and so does what you know about each tensor.
# * Autograd and the hand-written backward agree **to rounding** (1e-11 or better here):
#   the backward you derived is exactly what autograd computes.
# * In PyTorch the model is ~30 lines of forward; `gemini_np` spells out the
#   backward that those lines imply. Read `gemini_np` to understand, use PyTorch to scale.
