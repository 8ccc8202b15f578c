# %% [markdown]
# # 01 · The worked example 猫 / 喜欢 / 吃鱼, recomputed
#
# Section 4.3 of the article walks through self-attention on three words,
# **猫** (cat), **喜欢** (like) and **吃鱼** (eat fish), and concludes that every
# word attends only to itself: the attention weights are the identity matrix.
# They are not. We redo the example step by step, you compute the correct
# weights yourself, and we find the one setting (zero temperature) in which the
# article's answer would be right.
#
# **You will learn to**
# * compute attention weights by hand: similarities, then a softmax over each **row**;
# * spot the article's mistake (a softmax of single numbers) and say what it changes;
# * explain what the temperature (and the $1/\sqrt{d_k}$ scaling) does to the weights.
#
# **Prerequisites:** NumPy arrays and `@` (matrix product); the exponential function.
# No calculus.
#
# **Time:** about 20 minutes.
#
# Every number printed below is computed when the notebook runs.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np

import gemini_np as gnp
from gemini_np import article, viz
from gemini_np.exercises import check

viz.use_style()  # figures sized for a projector, colour-blind-safe colours
np.set_printoptions(precision=4, suppress=True)
tokens = article.TOKENS
print("tokens:", " / ".join(f"{t} ({en})" for t, en in zip(tokens, article.TOKENS_EN)))

# %% [markdown]
# ## Step 1: the word vectors
#
# The article gives each word a one-hot vector in $\mathbb{R}^5$:
# $h_1 = [1,0,0,0,0]$, $h_2 = [0,1,0,0,0]$, $h_3 = [0,0,1,0,0]$.
# Stacked as rows they form the matrix $H$, one row per word.

# %%
h = np.eye(3, 5)  # (3 words, 5 features): row i is h_i
print(h)

# %% [markdown]
# ## Step 2: the similarities $s_{ij} = h_i \cdot h_j$
#
# Every word is compared with every word, $S = H H^\top$: entry $(i, j)$ is the
# dot product of row $i$ with row $j$. One-hot vectors are orthonormal, so $S$
# is the 3 × 3 identity. So far the article is right.

# %%
s = h @ h.T  # (3, 3): s[i, j] = h_i · h_j
print(s)

# %% [markdown]
# ## Step 3: the weights. Here the article goes wrong
#
# The article writes $w_{ij} = \mathrm{softmax}(s_{ij})$ and prints
# $w_{11} = 1,\ w_{12} = 0,\ w_{13} = 0, \dots$, the identity matrix:

# %%
print("The article's claim, w_ij = softmax(s_ij)  (WRONG):")
print(article.format_matrix(article.claimed_weights()))

# %% [markdown]
# But softmax is not a function of one number. It turns a whole **row** of
# scores (one query, word $i$, against every key $j$) into a probability
# distribution:
#
# $$w_{ij} = \frac{\exp(s_{ij})}{\sum_{k} \exp(s_{ik})}.$$
#
# Every weight is positive and each row sums to 1. Applied to a single number
# the formula always gives $e^{s}/e^{s} = 1$, so the article's procedure, taken
# literally, does not even produce the numbers it prints:

# %%
one_number_at_a_time = np.exp(s) / np.exp(s)  # "softmax of each s_ij on its own"
print(one_number_at_a_time)

# %% [markdown]
# The article's own formula (§4.1) also divides the scores by $\sqrt{d_k}$
# before the softmax, $\mathrm{softmax}(QK^\top/\sqrt{d_k})$, where $d_k$ is the
# length of the vectors being compared (here $d_k = 5$); its worked example then
# forgets it.
#
# **Predict before you run.** Without running anything: is the first row of the
# correct weights closer to $[1, 0, 0]$ or to $[\tfrac13, \tfrac13, \tfrac13]$?
# Does dividing by $\sqrt5$ move it towards one or the other? Write your guess
# down, then do the exercise.
#
# ### Your turn (exercise `worked_example`): the correct weights
#
# Write `my_worked_example(h, d_k)`: the weights $P = \mathrm{softmax}(H H^\top/\sqrt{d_k})$,
# the softmax taken over each row, with NumPy only (`np.exp`, `.sum(axis=..., keepdims=True)`).

# %%
def my_worked_example(h, d_k):
    """h: (n, d) word vectors, one per row; d_k: the scale's d_k -> P (n, n), each row sums to 1."""
    raise NotImplementedError  # your turn: replace this line with your code


check(my_worked_example, "worked_example")

# %% [markdown] tags=["solution"]
# ### Solution: the two key lines
#
# Scale the similarities, then normalise each row (`keepdims=True` keeps the
# row sums as a column, so the division broadcasts along each row):

# %% tags=["solution"]
d_k = 5
scores = h @ h.T / math.sqrt(d_k)  # S / √d_k
weights = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)  # softmax over each row
print("Correct with the formula's scaling, softmax(S / √5):")
print(article.format_matrix(weights))
print("row sums:", weights.sum(axis=1))
a = math.exp(1 / math.sqrt(d_k))
print(f"closed form: e^(1/√5)/(e^(1/√5)+2) = {a / (a + 2):.4f}, 1/(e^(1/√5)+2) = {1 / (a + 2):.4f}")

unscaled = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)  # the same without the 1/√d_k
print("\nCorrect: row-wise softmax(S), each row sums to 1:")
print(article.format_matrix(unscaled))
print(f"closed form: e/(e+2) = {math.e / (math.e + 2):.4f}, 1/(e+2) = {1 / (math.e + 2):.4f}")

# %% [markdown]
# The library's attention computes the same weights, with $Q = K = V = H$
# (the article uses the word vectors directly, with no projections). Its
# `cache.weights` is the matrix $P$:

# %%
out, cache = gnp.attention_forward(h, h, h)  # scale defaults to 1/√d_k = 1/√5
print("attention_forward weights:")
print(article.format_matrix(cache.weights))
print("\nmax |weights - softmax(S/√5)| =", np.abs(cache.weights - article.correct_weights(scaled=True)).max())

# %% [markdown]
# ## Step 4: the context vectors
#
# The article concludes $h_{1,\text{融合}} = h_1$: each word's new
# representation is just itself. With the correct weights every output row is a
# mix of all three words: row $i$ of $P H$ is $\sum_j w_{ij} h_j$.

# %%
for token, row in zip(tokens, out):
    print(f"  {token}: {row}")

# %% [markdown]
# ## When would the article be right? The temperature limit
#
# Divide the scores by a temperature $T$ before the softmax. The diagonal
# weight is $e^{1/T}/(e^{1/T}+2)$: as $T \to 0$ the softmax turns into a hard
# max and the weights become the identity the article printed. At the
# temperatures a real model uses ($T = 1$, or $T = \sqrt{d_k}$), they are not.

# %%
temperatures = [5 ** 0.5, 1.0, 0.5, 0.2, 0.1, 0.05, 0.01]
print(f"{'T':>7} {'w_11 (self)':>12} {'w_12 (other)':>13}")
for t in temperatures:
    wt = article.temperature_weights(t)  # softmax(S / T), row by row
    print(f"{t:7.3f} {wt[0, 0]:12.4f} {wt[0, 1]:13.4f}")

# %%
grid = np.logspace(-2, 1, 200)
marked = {"T = 1": 1.0, "T = √5": 5 ** 0.5}
fig = viz.temperature_figure(grid, [article.temperature_weights(t)[0, 0] for t in grid],
                             {label: (t, article.temperature_weights(t)[0, 0]) for label, t in marked.items()})
plt.show()

# %% [markdown]
# ## The picture
#
# Queries (the word that attends) run down, keys (the words attended to)
# across, one colour scale for the three panels. The article's identity on the
# left; the correct weights in the middle (no scaling) and on the right (its
# formula's $1/\sqrt{5}$).

# %%
fig = viz.worked_example_figure()
plt.show()

# %% [markdown]
# ## What to remember
#
# * Softmax normalises a **row** of scores (one query against every key), never
#   a single score: $\mathrm{softmax}([1,0,0]) = [0.5761, 0.2119, 0.2119]$.
# * With the $1/\sqrt{d_k}$ scaling of the article's own formula the weights are
#   $[0.4388, 0.2806, 0.2806]$: scaling down the scores flattens the weights.
# * The identity matrix is only the zero-temperature limit (a hard max).
#
# Next: notebook 02 builds attention with projections $Q, K, V$, and derives its backward pass.
