# %% [markdown]
# # 04 · Summed-logit fusion: text and image in one softmax
#
# The article's fusion layer (§4.1) is
#
# $$\text{query}_{\text{融合}} = \mathrm{softmax}\!\left(\frac{Q_{\text{文本}} K_{\text{文本}}^\top}{\sqrt{d_k}}
#   + \frac{Q_{\text{图像}} K_{\text{图像}}^\top}{\sqrt{d_k}}\right) V,$$
#
# text (文本) logits plus image (图像) logits, one softmax (and, as before, the
# left-hand side is the fused *output*, not a query). Taken literally it only
# works when both logit matrices have the same shape, which text and image
# sequences almost never have.
#
# **You will learn to**
# * see why the formula as written fails, and build the construction that makes it work
#   (one joint text + image sequence, two "views");
# * prove that it is one attention over concatenated features, and find the right scale;
# * derive its backward pass: both branches share one $dS$ (exercise `fusion_backward`);
# * read a fusion attention matrix whose keys are words and patches.
#
# **Prerequisites:** notebooks 02 (attention and its backward) and 03 (patches).
#
# **Time:** about 40 minutes.

# %%
import inspect
import math

import matplotlib.pyplot as plt
import numpy as np

import gemini_np as gnp
from gemini_np import reference, viz
from gemini_np.exercises import check
from gemini_np.gradcheck import OP_BOUND

viz.use_style()
np.set_printoptions(precision=4, suppress=True)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The formula as written needs equal shapes
#
# Three text tokens and a 2 × 2 grid of image patches, each already encoded to
# a $d$-dimensional state (by the encoders of notebooks 02 and 03).
# $Q_t K_t^\top$ is $3 \times 3$, $Q_i K_i^\top$ is $4 \times 4$: there is nothing to add.

# %%
tokens = ["猫", "喜欢", "吃鱼"]
patch_names = [f"img{r}{c}" for r in range(2) for c in range(2)]
n, m, d, d_k, d_v = len(tokens), len(patch_names), 6, 4, 3
text_states = rng.standard_normal((n, d))  # (n, d): from the text encoder
image_states = rng.standard_normal((m, d))  # (m, d): one state per image patch

w_qt, w_kt, w_qi, w_ki = (rng.standard_normal((d, d_k)) / math.sqrt(d) for _ in range(4))
w_v = rng.standard_normal((d, d_v)) / math.sqrt(d)
q_t, k_t = text_states @ w_qt, text_states @ w_kt  # the article's Q_文本, K_文本: (3, d_k)
q_i, k_i = image_states @ w_qi, image_states @ w_ki  # the article's Q_图像, K_图像: (4, d_k)
print("Q_t K_tᵀ:", (q_t @ k_t.T).shape, "  Q_i K_iᵀ:", (q_i @ k_i.T).shape)
try:
    gnp.fusion_attention_forward(q_t, k_t, q_i, k_i, image_states @ w_v)
except ValueError as error:
    print("ValueError:", error)

# %% [markdown]
# ## 2. Our construction: one joint sequence, two views
#
# Concatenate the text states and the image states into one sequence $Z$ of
# length $n + m$, adding a learned *modality embedding* ($e_{\text{text}}$ or
# $e_{\text{image}}$) so that a position knows which modality it came from.
# Then project $Z$ twice, a **text view** and an **image view**:
#
# $$Q^t = Z W_Q^t,\quad K^t = Z W_K^t,\quad Q^i = Z W_Q^i,\quad K^i = Z W_K^i,\quad V = Z W_V .$$
#
# Now both logit matrices are $(n+m) \times (n+m)$ and the article's formula is
# defined exactly as written, for any $n$ and $m$, and every token can attend
# across modalities. (This is what `gemini_np.model.FusionLayer` does.)

# %%
e_text, e_image = rng.standard_normal(d) * 0.1, rng.standard_normal(d) * 0.1
z = np.concatenate([text_states + e_text, image_states + e_image])  # (n + m, d)
views = dict(q_text=z @ w_qt, k_text=z @ w_kt, q_image=z @ w_qi, k_image=z @ w_ki, v=z @ w_v)
out, cache = gnp.fusion_attention_forward(**views)
print("Z:", z.shape, "-> out:", out.shape, "| weights:", cache.weights.shape)

# the article's formula, literally, on the joint sequence
s = views["q_text"] @ views["k_text"].T / math.sqrt(d_k) + views["q_image"] @ views["k_image"].T / math.sqrt(d_k)
by_hand = gnp.softmax(s) @ views["v"]
print("max |fusion_attention_forward - softmax(Q_t K_tᵀ/√d_k + Q_i K_iᵀ/√d_k) V| =", np.abs(out - by_hand).max())

# %% [markdown]
# ## 3. It is one attention over concatenated features, with scale $1/\sqrt{d_k}$
#
# Block matrices multiply block by block:
# $[Q^t, Q^i]\,[K^t, K^i]^\top = Q^t K^{t\top} + Q^i K^{i\top}$. So summed-logit fusion
# is ordinary attention on features of width $2 d_k$, **provided the scale
# stays $1/\sqrt{d_k}$**. `attention_forward`'s default would be $1/\sqrt{2 d_k}$
# (the width of the concatenated features), a different, flatter softmax:

# %%
q_cat = np.concatenate([views["q_text"], views["q_image"]], axis=-1)  # (n + m, 2 d_k)
k_cat = np.concatenate([views["k_text"], views["k_image"]], axis=-1)
out_explicit, cache_cat = gnp.attention_forward(q_cat, k_cat, views["v"], scale=1 / math.sqrt(d_k))
out_default, _ = gnp.attention_forward(q_cat, k_cat, views["v"])  # scale 1/√(2 d_k)
print(f"explicit scale 1/√d_k    = {1 / math.sqrt(d_k):.4f}: max |difference| = {np.abs(out_explicit - out).max():.1e}")
print(f"default scale 1/√(2 d_k) = {1 / math.sqrt(2 * d_k):.4f}: max |difference| = {np.abs(out_default - out).max():.1e}")

# %% [markdown]
# ## 4. Backward
#
# ### Your turn (exercise `fusion_backward`)
#
# Write `my_fusion_backward(dout, q_t, k_t, q_i, k_i, v)` returning
# `(dq_t, dk_t, dq_i, dk_i, dv)` for
# $O = \mathrm{softmax}\big((Q_t K_t^\top + Q_i K_i^\top)/\sqrt{d_k}\big) V$, 2-D inputs,
# $d_k$ = `q_t.shape[-1]`. **Predict before you write:** $S$ is a *sum* of two
# branches' logits. Is there one $dS$ or two? Start from your `attention_backward`
# of notebook 02.

# %%
def my_fusion_backward(dout, q_t, k_t, q_i, k_i, v):
    """dout (n_q, d_v); q_t, q_i (n_q, d_k); k_t, k_i (n_k, d_k); v (n_k, d_v) -> five gradients."""
    raise NotImplementedError  # your turn


check(my_fusion_backward, "fusion_backward")

# %% [markdown] tags=["solution"]
# ### Solution: one $dS$, shared by both branches
#
# $S = (Q^t K^{t\top} + Q^i K^{i\top})\cdot\text{scale}$ is a sum, and the derivative
# of a sum with respect to each term is 1: the gradient reaching $S$,
# $dS = P \circ (dP - \mathrm{rowsum}(dP \circ P))$ exactly as in notebook 02, flows
# unchanged into both terms, and each term is a matrix product:
#
# $$dQ^t = \text{scale}\cdot dS\,K^t,\quad dK^t = \text{scale}\cdot dS^\top Q^t,\qquad
#   dQ^i = \text{scale}\cdot dS\,K^i,\quad dK^i = \text{scale}\cdot dS^\top Q^i .$$
#
# Each line checked against the library, then against the concatenated attention of section 3:

# %% tags=["solution"]
dout = rng.standard_normal(out.shape)
dq_t, dk_t, dq_i, dk_i, dv = gnp.fusion_attention_backward(dout, cache)
P, scale = cache.weights, cache.scale
dP = dout @ views["v"].T
dS = P * (dP - np.sum(dP * P, axis=-1, keepdims=True))  # the one dS
checks = {
    "dQ_t = scale·dS K_t": np.abs(dq_t - scale * dS @ views["k_text"]).max(),
    "dK_t = scale·dSᵀ Q_t": np.abs(dk_t - scale * dS.T @ views["q_text"]).max(),
    "dQ_i = scale·dS K_i": np.abs(dq_i - scale * dS @ views["k_image"]).max(),
    "dK_i = scale·dSᵀ Q_i": np.abs(dk_i - scale * dS.T @ views["q_image"]).max(),
}
for formula, err in checks.items():
    print(f"{formula:<22} max |difference| = {err:.1e}")
dq_cat, dk_cat, _ = gnp.attention_backward(dout, cache_cat)  # split in two, it is the pair of branches
print("dQ_cat == [dQ_t, dQ_i]:", np.allclose(dq_cat, np.concatenate([dq_t, dq_i], axis=-1)),
      "| dK_cat == [dK_t, dK_i]:", np.allclose(dk_cat, np.concatenate([dk_t, dk_i], axis=-1)))

# %% tags=["solution"]
print(inspect.getsource(reference.fusion_attention_backward))

# %% [markdown]
# The gradient check, for the op alone and for the whole construction: the
# gradient with respect to the joint sequence $Z$ collects the five projections
# (each a matrix product, $dZ \mathrel{+}= dY\, W^\top$ as in notebook 02), because
# $Z$ feeds all five.

# %%
errors = gnp.check_gradients(gnp.fusion_attention_forward, gnp.fusion_attention_backward, dict(views), seed=2)
print("fusion op:", ", ".join(f"d{key} {err:.1e}" for key, err in errors.items()))
weights_in_order = (w_qt, w_kt, w_qi, w_ki, w_v)


def joint_forward(z):
    return gnp.fusion_attention_forward(*(z @ w for w in weights_in_order))


def joint_backward(dout, cache):
    return sum(g @ w.T for g, w in zip(gnp.fusion_attention_backward(dout, cache), weights_in_order))


err_z = gnp.check_gradients(joint_forward, joint_backward, {"z": z}, seed=3)["z"]
print(f"joint sequence: dZ rel_error {err_z:.1e}")
print(f"gradient check (bound {OP_BOUND:.0e}): {'pass' if max(*errors.values(), err_z) < OP_BOUND else 'FAIL'}")

# %% [markdown]
# ## 5. The cross-modal weights
#
# The joint attention matrix has four blocks, separated by the thick lines:
# words attending to words (top left), words attending to the image patches
# (top right), patches to words, patches to patches. The projections here are
# random, so the pattern is too; notebook 06 shows the same picture for a
# trained model.

# %%
fig = viz.fusion_heatmap(cache.weights, tokens, patch_names, rows="all", log=False,
                         title="fusion weights P over the joint sequence")
plt.show()
for token, row in zip(tokens, cache.weights[:n]):
    print(f"{token}: {row[n:].sum():.1%} of its attention goes to image patches")

# %% [markdown]
# ## 6. Padding
#
# In a batch, shorter captions are padded. A boolean key mask (notebook 02)
# keeps every query away from the padding (`True` = may attend); the padded key gets weight
# exactly 0, and the mask is the same for both views, because it applies to
# the *summed* logits.

# %%
key_ok = np.array([True, True, False] + [True] * m)  # the third text token is <pad>
out_pad, cache_pad = gnp.fusion_attention_forward(**views, mask=key_ok[None, :])
print("weight on the <pad> key, per query:", cache_pad.weights[:, 2])
print("rows still sum to 1:", np.allclose(cache_pad.weights.sum(axis=-1), 1.0))

# %% [markdown]
# ## What to remember
#
# * $Q_t K_t^\top + Q_i K_i^\top$ needs both to be $(n_q, n_k)$: build both views
#   from **one joint sequence** of text and image tokens.
# * Summed-logit fusion = attention over concatenated features $[Q^t, Q^i]$,
#   $[K^t, K^i]$ with the explicit scale $1/\sqrt{d_k}$ (not $1/\sqrt{2d_k}$).
# * In the backward pass the two branches are not independent: they meet in one softmax.
#
# Next: notebook 05 splits attention into several heads and gives the tokens their positions.
