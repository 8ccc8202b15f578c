# %% [markdown]
# # 05 · Multi-head attention and positional encoding
#
# The model of notebook 06 uses two ingredients we have not taught yet: its
# attention layers have several **heads**, and its tokens carry their
# **positions**. Both are small pieces of code with big consequences.
#
# **You will learn to**
# * split a sequence's features into heads and merge them back, exactly as
#   `gemini_np.nn.split_heads` / `merge_heads` do (exercise `split_heads`);
# * derive the backward pass of a rearrangement (it is the inverse rearrangement);
# * show that self-attention without positions cannot tell the order of its tokens,
#   and why that matters for image patches;
# * write the sinusoidal position code of "Attention Is All You Need" (exercise `sinusoidal_positions`).
#
# **Prerequisites:** notebooks 02 (attention, the matrix chain rule) and 03 (patches).
#
# **Time:** about 40 minutes.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np

import gemini_np as gnp
from gemini_np import data, viz
from gemini_np.exercises import check
from gemini_np.model import sinusoidal_positions
from gemini_np.nn import MultiHeadSelfAttention, merge_heads, split_heads

viz.use_style()
np.set_printoptions(precision=3, suppress=True)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Heads: several attentions side by side
#
# One attention gives each query **one** weighted average of the values. A
# token often needs several at once (in "红色 圆形 在 左边", the word 圆形 may
# want to look at its colour *and* at its position). Multi-head attention runs
# $h$ attentions in parallel on narrower features: the $d$ features of
# $Q$, $K$, $V$ are cut into $h$ groups of $d/h$, **head $j$ gets features
# $j\,d/h, \dots, (j+1)\,d/h - 1$**, each head attends on its own, and the $h$
# outputs are glued back together (then mixed by one more matrix $W_O$).
#
# In shapes, for a batch of $B$ sequences of $n$ tokens:
# `split_heads`: $(B, n, d) \to (B, h, n, d/h)$, and `merge_heads` back. The head
# axis sits *before* the token axis, so `attention_forward` treats $(B, h)$ as
# batch dimensions and runs every head of every sequence at once. Here is what
# `split_heads` does to a small array whose entries name their own position:

# %%
B, n, d, h = 1, 3, 4, 2
x = np.arange(B * n * d).reshape(B, n, d)  # x[0, token, feature] = 4·token + feature
print("x (B, n, d):\n", x[0])
heads = split_heads(x, h)
print("split_heads(x, 2) has shape", heads.shape, "= (B, h, n, d/h)")
for j in range(h):
    print(f"head {j}:\n", heads[0, j])

# %% [markdown]
# ### Your turn (exercise `split_heads`)
#
# Write `my_split_heads(x, n_heads)`: x of shape $(B, n, d)$ to $(B, h, n, d/h)$,
# head $j$ holding features $j\,d/h \dots (j+1)\,d/h - 1$, with one `reshape` and one
# transpose, no loops. **Predict before you write:** after `x.reshape(B, n, h, d // h)`,
# which axis is the head axis, and where must it go?

# %%
def my_split_heads(x, n_heads):
    """x: (B, n, d) -> (B, n_heads, n, d // n_heads); head j gets features j·d/h ... (j+1)·d/h − 1."""
    raise NotImplementedError  # your turn


check(my_split_heads, "split_heads")

# %% [markdown] tags=["solution"]
# ### Solution
#
# Cut the feature axis into (head, feature within the head), then move the head
# axis in front of the tokens:

# %% tags=["solution"]
def split_heads_plain(x, n_heads):
    B, n, d = x.shape
    x = x.reshape(B, n, n_heads, d // n_heads)  # feature f -> (head f // (d/h), offset f % (d/h))
    return x.transpose(0, 2, 1, 3)  # (B, h, n, d/h)


print("same as gemini_np.nn.split_heads:", np.array_equal(split_heads_plain(x, h), split_heads(x, h)))

# %% [markdown]
# ### The backward pass of a rearrangement
#
# `split_heads` moves numbers without changing them: output entry
# $(b, j, t, f)$ is input entry $(b, t, j\,d/h + f)$. So $\partial L/\partial x$
# at an input entry is the gradient at the one output slot it went to:
# the backward of `split_heads` is `merge_heads` applied to the upstream
# gradient (and vice versa). A rearrangement $R$ satisfies
# $\langle R(x), G\rangle = \langle x, R^{-1}(G)\rangle$ for any $G$ (its *adjoint* is its
# inverse). Checked with finite differences on $L = \sum \mathrm{split}(x) \circ G$:

# %%
x_small = rng.standard_normal((2, 3, 4))
G = rng.standard_normal((2, 2, 3, 2))  # an upstream gradient shaped like split_heads(x)
numeric = gnp.numerical_gradient(lambda x_: np.sum(split_heads(x_, 2) * G), x_small)
print(f"max |merge_heads(G) - numerical| = {np.abs(merge_heads(G) - numeric).max():.1e}")
print("merge_heads(split_heads(x)) == x:", np.array_equal(merge_heads(split_heads(x_small, 2)), x_small))

# %% [markdown]
# ### Multi-head self-attention, assembled
#
# $Q = XW_Q$, $K = XW_K$, $V = XW_V$ (each $d \times d$), split into heads, attention
# per head with scale $1/\sqrt{d/h}$ (the width a head sees), merge, then
# $Y = O\,W_O + b_O$. The same lines give the output of the model's layer
# `gemini_np.nn.MultiHeadSelfAttention`:

# %%
layer = MultiHeadSelfAttention(d_model=8, n_heads=2, rng=0)
x8 = rng.standard_normal((2, 5, 8))  # B = 2 sequences of n = 5 tokens, d = 8
W = layer.params
q, k, v = (split_heads(x8 @ W[name], 2) for name in ("w_q", "w_k", "w_v"))  # (2, 2, 5, 4) each
o, cache = gnp.attention_forward(q, k, v)  # every head of every sequence at once
y = merge_heads(o) @ W["w_o"] + W["b_o"]
print("attention weights per head:", cache.weights.shape, "= (B, h, n, n)")
print("max |by hand - MultiHeadSelfAttention| =", np.abs(y - layer.forward(x8)).max())

# %% [markdown]
# ## 2. Attention does not know the order of its tokens
#
# **Predict before you run:** if we shuffle the rows of $X$ (the tokens), what
# happens to the rows of the self-attention output?
#
# Permuting the tokens permutes the rows of $Q$, $K$, $V$; each query's weights
# are permuted the same way as the keys and values they multiply, so the
# output rows are permuted too and nothing else changes. Self-attention is
# *permutation-equivariant*: it treats its input as a **set**.

# %%
perm = rng.permutation(5)
out, _ = gnp.attention_forward(*(x8[0] @ W[name] for name in ("w_q", "w_k", "w_v")))
out_perm, _ = gnp.attention_forward(*(x8[0, perm] @ W[name] for name in ("w_q", "w_k", "w_v")))
print("permutation:", perm)
print("attention(X[perm]) == attention(X)[perm]:", np.allclose(out_perm, out[perm]))

# %% [markdown]
# For the image this is a real problem. Take a red square on the left and the
# same square on the right: the second image's patches are the first image's
# patches in another order (the square moves by exactly two patches). Turn each
# patch into a token (its pixels, flattened, times a matrix), run self-attention
# and average the tokens, as the model's image encoder does: **without
# positions the two images give the same vector**, and no later layer can tell
# left from right. Adding a position code to each token breaks the tie.

# %%
p, grid = 4, 4
left, right = data.render((0, 1, 0), noise=0.0), data.render((0, 1, 1), noise=0.0)  # red square, left / right
tokens_of = lambda img: gnp.patchify(img, p).reshape(grid * grid, p * p * 3)  # (16 patches, 48 pixel values)
moved = np.roll(np.arange(16).reshape(grid, grid), 2, axis=1).reshape(-1)  # patch (i, j) -> (i, j - 2)
print("right's patches are left's, permuted:", np.array_equal(tokens_of(right), tokens_of(left)[moved]))
w_in = rng.standard_normal((p * p * 3, 8)) / math.sqrt(p * p * 3)
pe = sinusoidal_positions(grid * grid, 8, like=w_in)  # one code per patch position, (16, 8)


def encode(img, positions):
    t = tokens_of(img) @ w_in + positions  # patch tokens (+ their positions)
    out, _ = gnp.attention_forward(*(t @ W[name] for name in ("w_q", "w_k", "w_v")))
    return out.mean(axis=0)  # one vector per image


for label, positions in (("without positions", 0.0), ("with positions   ", pe)):
    gap = np.abs(encode(left, positions) - encode(right, positions)).max()
    print(f"{label}: max |encode(left) - encode(right)| = {gap:.2e}")

# %% [markdown]
# (The model's text encoder adds the sinusoidal code below to its word
# embeddings; its image encoder adds a *learned* position vector to every
# pixel before the patches are pooled. Either way, each token carries where it is.)
#
# ## 3. The sinusoidal position code
#
# "Attention Is All You Need" gives position $\text{pos}$ the vector
#
# $$\mathrm{pe}[\text{pos}, i] = \sin\!\big(\text{pos}\cdot\omega_i\big),\qquad
#   \mathrm{pe}[\text{pos}, d/2 + i] = \cos\!\big(\text{pos}\cdot\omega_i\big),\qquad
#   \omega_i = 10000^{-2i/d},\quad i = 0, \dots, d/2 - 1 .$$
#
# (This package puts the $d/2$ sines first and the $d/2$ cosines second; the
# paper interleaves them, which is the same code with the features permuted.)
# Each pair $(\sin, \cos)$ turns at its own speed: feature 0 every $2\pi \approx 6.3$
# positions, the last ones barely move. No two positions get the same vector,
# every value lies in $[-1, 1]$, and it needs no training.

# %%
fig = viz.positions_figure(sinusoidal_positions(32, 16, like=np.zeros(1)), title="pe for n = 32 positions, d = 16")
plt.show()

# %% [markdown]
# ### Your turn (exercise `sinusoidal_positions`)
#
# Write `my_sinusoidal_positions(n, d)` returning the $(n, d)$ array above
# (sines in the first half of the features, cosines in the second), without
# loops: build `pos` as a column $(n, 1)$ and the frequencies as a row $(1, d/2)$,
# and let broadcasting make the $(n, d/2)$ table of angles.

# %%
def my_sinusoidal_positions(n, d):
    """n positions, d (even) features -> pe (n, d) float64: sin(pos·ω_i) in column i, cos in column d/2 + i."""
    raise NotImplementedError  # your turn


check(my_sinusoidal_positions, "sinusoidal_positions")

# %% [markdown] tags=["solution"]
# ### Solution

# %% tags=["solution"]
def sinusoidal_plain(n, d):
    pos = np.arange(n)[:, None]  # (n, 1)
    omega = 10000.0 ** (-2 * np.arange(d // 2) / d)  # (d/2,): ω_i = 10000^(−2i/d)
    angle = pos * omega[None, :]  # (n, d/2)
    return np.concatenate([np.sin(angle), np.cos(angle)], axis=1)  # sines, then cosines


print("max |plain - gemini_np.model.sinusoidal_positions| =",
      np.abs(sinusoidal_plain(32, 16) - sinusoidal_positions(32, 16, like=np.zeros(1))).max())

# %% [markdown]
# ## What to remember
#
# * Multi-head attention = split the features into $h$ groups, attend per
#   group (batched over the head axis), merge, mix with $W_O$. Each head uses the
#   scale $1/\sqrt{d/h}$.
# * The backward of a pure rearrangement (split/merge of heads, patchify) is the
#   inverse rearrangement.
# * Without positions, self-attention treats its tokens as a set: an image and
#   the same image with its patches shuffled look identical after pooling.
#   Position codes (fixed sinusoids or learned vectors) give each token its place.
#
# Next: notebook 06 trains the whole model.
