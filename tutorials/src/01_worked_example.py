# %% [markdown]
# # 01 · The worked example 猫 / 喜欢 / 吃鱼, recomputed
#
# Section 4.3 of the article walks through self-attention on three words,
# **猫** (cat), **喜欢** (like) and **吃鱼** (eat fish), and concludes that every
# word attends only to itself: the attention weights are the identity matrix.
# They are not. In this notebook we redo the example step by step, print the
# article's numbers next to the correct ones, say exactly where it goes wrong,
# and find the one setting (zero temperature) in which its answer would be right.
#
# Everything printed below is computed by `gemini_np` when the notebook runs.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np

import gemini_np as gnp
from gemini_np import article, viz

np.set_printoptions(precision=4, suppress=True)
tokens = article.TOKENS
print("tokens:", " / ".join(f"{t} ({en})" for t, en in zip(tokens, article.TOKENS_EN)))

# %% [markdown]
# ## Step 1: the word vectors
#
# The article gives each word a one-hot vector in $\mathbb{R}^5$:
# $h_1 = [1,0,0,0,0]$, $h_2 = [0,1,0,0,0]$, $h_3 = [0,0,1,0,0]$.
# Stacked as rows they form the matrix $H$ (3 × 5).

# %%
h = article.embeddings()
print(h)

# %% [markdown]
# ## Step 2: the similarities $s_{ij} = h_i \cdot h_j$
#
# Every word is compared with every word, $S = H H^\top$. One-hot vectors are
# orthonormal, so $S$ is the 3 × 3 identity. So far the article is right.

# %%
s = article.similarities()
print(article.format_matrix(s, digits=1))

# %% [markdown]
# ## Step 3: the weights. Here the article goes wrong
#
# The article writes $w_{ij} = \mathrm{softmax}(s_{ij})$ and prints
# $w_{11} = 1,\ w_{12} = 0,\ w_{13} = 0, \dots$, the identity matrix.
#
# But softmax is not a function of one number. It turns a whole **row** of
# scores (one query against all keys) into a probability distribution:
#
# $$w_{ij} = \frac{\exp(s_{ij})}{\sum_{k} \exp(s_{ik})}.$$
#
# Applied to a single number it always gives $e^{s}/e^{s} = 1$, so the
# article's procedure, taken literally, does not even produce the numbers it prints:

# %%
print("The article's claim, w_ij = softmax(s_ij)  (WRONG):")
print(article.format_matrix(article.claimed_weights()))
print("\nWhat 'softmax of each single number' actually gives:")
print(article.format_matrix(article.softmax_of_scalars()))

# %% [markdown]
# The correct row-wise softmax of the first row $[1, 0, 0]$ is
# $\left[\frac{e}{e+2}, \frac{1}{e+2}, \frac{1}{e+2}\right]$: every word keeps
# most of its attention on itself, but a fifth of it goes to each of the others.

# %%
w = article.correct_weights(scaled=False)
print("Correct: row-wise softmax(S), each row sums to 1:")
print(article.format_matrix(w))
print("\nrow sums:", w.sum(axis=1))
print(f"closed form: e/(e+2) = {math.e / (math.e + 2):.4f}, 1/(e+2) = {1 / (math.e + 2):.4f}")

# %% [markdown]
# ## Step 4: with the article's own scaling $1/\sqrt{d_k}$
#
# The article's formula in §4.1 divides the scores by $\sqrt{d_k}$ before the
# softmax, $\mathrm{softmax}(QK^\top/\sqrt{d_k})V$, but the worked example then
# forgets it. With $d_k = 5$ the diagonal score is $1/\sqrt5 \approx 0.447$ and
# the weights are even further from the identity:

# %%
w_scaled = article.correct_weights(scaled=True)
print("Correct with the formula's scaling, softmax(S / √d_k), d_k = 5:")
print(article.format_matrix(w_scaled))
a = math.exp(1 / math.sqrt(5))
print(f"\nclosed form: e^(1/√5)/(e^(1/√5)+2) = {a / (a + 2):.4f}, 1/(e^(1/√5)+2) = {1 / (a + 2):.4f}")

# %% [markdown]
# The same numbers come out of the library's attention op, with
# $Q = K = V = H$ (the article uses the word vectors directly, no projections):

# %%
out, cache = gnp.attention_forward(h, h, h)  # scale defaults to 1/√d_k = 1/√5
print("attention_forward weights:")
print(article.format_matrix(cache.weights))
print("\nmax |weights - softmax(S/√5)| =", np.abs(cache.weights - w_scaled).max())

# %% [markdown]
# ## Step 5: the context vectors
#
# The article concludes $h_{1,\text{融合}} = h_1$: each word's new
# representation is just itself. With the correct weights every output row is a
# mix of all three words (rows of $P H$):

# %%
print("context vectors P H (scaled), one row per word:")
for token, row in zip(tokens, article.context_vectors(scaled=True)):
    print(f"  {token}: {row}")

# %% [markdown]
# ## When would the article be right? The temperature limit
#
# Divide the scores by a temperature $T$ before the softmax. The diagonal
# weight is $e^{1/T}/(e^{1/T}+2)$: as $T \to 0$ the softmax turns into a hard
# max and the weights become the identity the article printed. At any
# temperature a real model uses ($T = 1$, or $T = \sqrt{d_k}$), they are not.

# %%
temperatures = [5 ** 0.5, 1.0, 0.5, 0.2, 0.1, 0.05, 0.01]
print(f"{'T':>7} {'w_11 (self)':>12} {'w_12 (other)':>13}")
for t in temperatures:
    wt = article.temperature_weights(t)
    print(f"{t:7.3f} {wt[0, 0]:12.4f} {wt[0, 1]:13.4f}")

# %%
grid = np.logspace(-2, 1, 200)
diagonal = [article.temperature_weights(t)[0, 0] for t in grid]
fig, ax = viz.subplots(figsize=(4.6, 2.6))
ax.semilogx(grid, diagonal, label="self weight $w_{11}$")
ax.axhline(1.0, color="grey", linestyle=":", label="article's claim (T → 0)")
for t, colour, name in ((1.0, "C1", "1"), (5 ** 0.5, "C2", "√5")):
    ax.axvline(t, color=colour, linestyle="--", linewidth=1, label=f"T = {name}: {article.temperature_weights(t)[0, 0]:.4f}")
ax.set_xlabel("temperature T")
ax.set_ylabel("weight")
ax.legend(fontsize=7, loc="lower left")
ax.set_title("softmax(S / T): the identity only as T → 0")
plt.show()

# %% [markdown]
# ## The picture
#
# Queries (the word that attends) run down, keys (the words attended to)
# across. The article's identity on the left; the correct weights in the middle
# (no scaling) and on the right (its formula's $1/\sqrt{5}$).

# %%
fig = viz.worked_example_figure()
plt.show()

# %% [markdown]
# ## What to remember
#
# * Softmax normalises a **row** of scores (one query against every key), never
#   a single score: $\mathrm{softmax}([1,0,0]) = [0.5761, 0.2119, 0.2119]$.
# * With the $1/\sqrt{d_k}$ scaling of the article's own formula the weights are
#   $[0.4388, 0.2806, 0.2806]$.
# * The identity matrix is only the zero-temperature limit (a hard max).
#
# Next: notebook 02 derives the backward pass of this attention and checks it.
