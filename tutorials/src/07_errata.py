# %% [markdown]
# # 07 · Errata: what the article gets wrong, demonstrated
#
# The article is our specification of *what* to build, not a source of correct
# numbers or code. This notebook lists every error we found and, under each, the
# cell that demonstrates it. Where a number is involved it is computed here;
# where the error is in code we analyse the code itself; the last item is
# bibliographic and is explained in prose.
#
# **You will learn to**
# * read a technical source critically: check each claim with a computation;
# * fix a formula that does not type-check (exercise `fusion_logits`, erratum 3);
# * find errors in code without running it (Python's parser and symbol tables).
#
# **Prerequisites:** notebooks 01-06 (each erratum points to the notebook that treats it).
#
# **Time:** about 30 minutes.
#
# | # | where | what |
# | --- | --- | --- |
# | 1 | §4.3 | the worked example's weights are not the identity |
# | 2 | §2.1, §4.1 | Q, K, V are projections of the input, not "weight matrices"; the attention output is the context vector |
# | 3 | §4.1 | the fusion formula needs equal logit shapes |
# | 4 | §4.2 | the derivation dots a vector with itself and normalises a scalar |
# | 5 | §5.2 | the Keras code uses no attention and cannot run |
# | 6 | §1, §7 | the cited "Gemini" paper and the XLNet affiliations are wrong |

# %%
import math
from pathlib import Path

import numpy as np

import gemini_np as gnp
from article_code import keras_check  # tutorials/article_code/keras_check.py
from gemini_np import article
from gemini_np.exercises import check

np.set_printoptions(precision=4, suppress=True)
rng = np.random.default_rng(0)

# %% [markdown]
# ## Erratum 1 · §4.3: the weights of the worked example
#
# The article computes $s_{ij} = h_i \cdot h_j$ for the one-hot vectors of
# 猫 / 喜欢 / 吃鱼 (the identity matrix), then applies softmax "to each $s_{ij}$"
# and prints the identity as the weights. Softmax normalises a row; the correct
# weights are far from the identity, with or without the $1/\sqrt{d_k}$ of the
# article's own formula. (Notebook 01 goes through it step by step.)

# %%
claimed = article.claimed_weights()
for label, correct in (("softmax(S)", article.correct_weights(scaled=False)),
                       ("softmax(S/√5)", article.correct_weights(scaled=True))):
    print(f"{label:>13}: first row {correct[0]}, max |article's claim - correct| = {np.abs(claimed - correct).max():.4f}")
print("The identity is only the T → 0 limit: softmax(S/0.01) first row =", article.temperature_weights(0.01)[0])

# %% [markdown]
# ## Erratum 2 · §2.1 / §4.1: what Q, K and V are
#
# The article writes $\text{query} = \text{self-attention}(\text{key}, \text{value})$ and says
# "Q、K和V分别为文本编码器的权重矩阵" (Q, K and V are the encoder's weight
# matrices). Both are wrong:
#
# * $Q = X W_Q$, $K = X W_K$, $V = X W_V$ are **projections of the input** $X$;
#   the learned weights are the $W$'s. Q changes with every sentence and has one
#   row per token; $W_Q$ is fixed after training and does not depend on the length.
# * Attention takes all three, $Q$, $K$ and $V$, and its output, one row per
#   query, is the **context vector**, not the query.

# %%
d_model, d_k, d_v = 5, 4, 3
w_q, w_k, w_v = rng.standard_normal((d_model, d_k)), rng.standard_normal((d_model, d_k)), rng.standard_normal((d_model, d_v))
for n in (3, 7):
    x = rng.standard_normal((n, d_model))  # a sentence of n tokens
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    context, cache = gnp.attention_forward(q, k, v)
    print(f"sentence of {n} tokens: X {x.shape} -> Q {q.shape}, K {k.shape}, V {v.shape}; "
          f"W_Q stays {w_q.shape}; context (the output) {context.shape}")

# the query decides the output: same K and V, another Q, another context vector
other_context, _ = gnp.attention_forward(rng.standard_normal(q.shape), k, v)
print("changing only Q changes the output:", not np.allclose(context, other_context))
# training updates the W's: the gradient reaches W_Q through Q = X W_Q
dq, dk, dv = gnp.attention_backward(rng.standard_normal(context.shape), cache)
print("dL/dW_Q = Xᵀ dQ has shape", (x.T @ dq).shape, "(that of W_Q, the weight), while dQ has shape", dq.shape)
print("trainable numbers in W_Q, W_K, W_V:", w_q.size + w_k.size + w_v.size, "for a sentence of any length")

# %% [markdown]
# ## Erratum 3 · §4.1: the fusion formula needs equal shapes
#
# $\mathrm{softmax}(Q_t K_t^\top/\sqrt{d_k} + Q_i K_i^\top/\sqrt{d_k})V$ adds an
# $n \times n$ matrix (text) to an $m \times m$ matrix (image). For a caption of
# $n = 4$ words and an image of $m = 16$ patches the sum does not exist; NumPy
# says so, and `gnp.fusion_attention_forward` says which shapes clash. The fix
# (notebook 04): one joint sequence of length $n + m$ with a text view and an
# image view.

# %%
n_text, n_image = 4, 16
q_t, k_t = rng.standard_normal((n_text, d_k)), rng.standard_normal((n_text, d_k))
q_i, k_i = rng.standard_normal((n_image, d_k)), rng.standard_normal((n_image, d_k))
try:
    q_t @ k_t.T / math.sqrt(d_k) + q_i @ k_i.T / math.sqrt(d_k)
except ValueError as error:
    print("NumPy:", error)
try:
    gnp.fusion_attention_forward(q_t, k_t, q_i, k_i, rng.standard_normal((n_text, d_v)))
except ValueError as error:
    print("gemini_np:", error)

# %% [markdown]
# ### Your turn (exercise `fusion_logits`): fix erratum 3
#
# Write `my_fusion_logits(text, patches, w_qt, w_kt, w_qi, w_ki)` returning the
# fusion logits $S$ that the article's formula *should* mean: text states
# `text` $(n, d)$ and patch states `patches` $(m, d)$, four projection matrices
# $(d, d_k)$, and $S$ of shape $(n+m, n+m)$ (notebook 04, section 2; no modality
# embedding here), scaled by $1/\sqrt{d_k}$ with $d_k$ = `w_qt.shape[1]`.
# **Predict before you write:** which of the four $W$'s multiply the *patches*?

# %%
def my_fusion_logits(text, patches, w_qt, w_kt, w_qi, w_ki):
    """text (n, d), patches (m, d), each w (d, d_k) -> S (n + m, n + m), scaled by 1/√d_k."""
    raise NotImplementedError  # your turn


check(my_fusion_logits, "fusion_logits")

# %% [markdown] tags=["solution"]
# ### Solution
#
# All four projections act on the *joint* sequence $Z = [\text{text}; \text{patches}]$:
# the text view and the image view are two ways of looking at every token, not
# one view per modality. Then both logit matrices are $(n+m) \times (n+m)$:

# %% tags=["solution"]
text, patches = rng.standard_normal((n_text, d_model)), rng.standard_normal((n_image, d_model))
w = [rng.standard_normal((d_model, d_k)) for _ in range(4)]
z = np.concatenate([text, patches])  # Z, (n + m, d)
S = (z @ w[0] @ (z @ w[1]).T + z @ w[2] @ (z @ w[3]).T) / math.sqrt(d_k)
print("S:", S.shape)
out, cache = gnp.fusion_attention_forward(*(z @ wi for wi in w), z @ w_v)
print("softmax(S) == fusion_attention_forward's weights:", np.allclose(gnp.softmax(S), cache.weights))

# %% [markdown]
# ## Erratum 4 · §4.2: the derivation
#
# The article defines the similarity as $s_{i,j} = h_i^j \cdot h_i^j$, a vector
# dotted **with itself** (both factors carry the same indices), and the
# weights as $w_{i,j} = \mathrm{softmax}(s_{i,j})$, the softmax of **one number**,
# which is always 1. (It also defines $s_{i,j}$ a second time through $w_{i,j}$,
# which is defined through $s_{i,j}$.) Taken literally, on the worked example:
#
# * every $s$ is $\lVert h \rVert^2 = 1$: the similarity says nothing about *pairs* of words;
# * every weight is 1, so a row sums to $n$, not 1;
# * every word's "context" $\sum_j w_{ij} h_j$ is the same vector, the sum of all words.
#
# The correct derivation compares word $i$ with word $j$, $s_{ij} = h_i \cdot h_j$,
# and normalises over the key axis $j$: $w_{ij} = \exp(s_{ij}) / \sum_k \exp(s_{ik})$.

# %%
h = article.embeddings()
n = len(h)
s_literal = np.array([[h[j] @ h[j] for j in range(n)] for i in range(n)])  # h_i^j · h_i^j: self-dot products
w_literal = gnp.softmax(s_literal[..., None], axis=-1)[..., 0]  # softmax of each single number
print("literal s_ij = h_j · h_j:\n", s_literal)
print("literal w_ij = softmax(s_ij):\n", w_literal, "\nrow sums:", w_literal.sum(axis=1))
print("literal context vectors Σ_j w_ij h_j (the same for every word):\n", w_literal @ h)
w_correct = gnp.softmax(h @ h.T, axis=-1)  # s_ij = h_i · h_j, normalised over j
print("correct weights, row sums", w_correct.sum(axis=1), ":\n", w_correct)

# %% [markdown]
# ## Erratum 5 · §5.2: the Keras code cannot run
#
# The article's "simple Gemini implementation", verbatim (saved in
# `article_code/section_5_2.py.txt`):

# %%
keras_code = Path("article_code/section_5_2.py.txt").read_text(encoding="utf-8")
print(keras_code)

# %% [markdown]
# We cannot run it here (no TensorFlow, and no need): Python's own parser and
# symbol tables find most of the problems (the three small functions of
# `tutorials/article_code/keras_check.py`), and NumPy reproduces the shape
# errors. What the code does:

# %%
layers = keras_check.layers_used(keras_code)
print("layers used:", ", ".join(layers))
print("any attention layer?", any("Attention" in name for name in layers))
for scope, names in keras_check.undefined_names(keras_code).items():
    print(f"undefined at {scope}: {names}" if scope == "module level" else f"inside {scope}: undefined name(s) {names}")
for n_inputs, source in keras_check.concatenate_calls(keras_code):
    print(f"Concatenate is called with {n_inputs} positional inputs:", source)

# %% [markdown]
# So:
#
# * **No attention at all.** The encoders are LSTMs; the "fusion" is a
#   concatenation followed by a dense layer. None of the article's attention
#   formulas appears in its code.
# * **`embedding_dim` is undefined inside `fusion_layer`** (it is a parameter
#   of the other functions, not of this one), and the script uses
#   `inputs_text`, `inputs_image`, `vocab_size`, `embedding_dim`, `text_data`,
#   `image_data` and `labels` without ever defining them: it stops with a
#   `NameError` before building anything.
# * **`Concatenate()(a, b)`**: a Keras layer is called on *one* input; for
#   `Concatenate` that input is a list, `Concatenate()([a, b])`. Passing `b` as a
#   second positional argument is an error.
#
# Two more errors are about data, and NumPy shows them. **Float pixels fed to
# an `Embedding`**: an embedding layer looks up integer ids (Keras casts its
# input to int32). Pixels in $[0, 1]$ all become id 0, so every image turns
# into the same sequence of ids, and `Embedding(embedding_dim, embedding_dim)`
# would have a "vocabulary" of `embedding_dim` pixel values anyway:

# %%
image_a = rng.random((16, 16, 3))  # two different images, pixels in [0, 1)
image_b = rng.random((16, 16, 3))
ids_a, ids_b = image_a.reshape(-1).astype(np.int32), image_b.reshape(-1).astype(np.int32)  # what Embedding looks up
print("distinct ids in image A:", np.unique(ids_a), "| A and B give identical id sequences:", np.array_equal(ids_a, ids_b))
embedding_dim = 64
pixels_255 = (image_a * 255).astype(np.int32).reshape(-1)  # with 0..255 pixels instead
print(f"with 0..255 pixels, ids out of the table's range 0..{embedding_dim - 1}:",
      int((pixels_255 >= embedding_dim).sum()), "of", pixels_255.size)

# %% [markdown]
# **Sequences of different lengths concatenated along the feature axis.** The
# text branch gives `(batch, n_words, d)`; the image branch, after `Flatten`,
# gives one step per pixel value, `(batch, 16·16·3, d)`. `Concatenate()`
# joins the last axis, which requires every other axis to match, the same rule
# as `np.concatenate`:

# %%
batch, n_words, d = 2, 6, 8
text_encoded = np.zeros((batch, n_words, d))  # LSTM output over the caption
image_encoded = np.zeros((batch, 16 * 16 * 3, d))  # LSTM output over the flattened pixels
try:
    np.concatenate([text_encoded, image_encoded], axis=-1)
except ValueError as error:
    print("ValueError:", error)

# %% [markdown]
# Even with all of this fixed, the last `Dense(1, activation='sigmoid')` is
# applied to a *sequence* and would give one probability per position, not one
# per image-text pair. Notebook 06 trains a model that does what §5 describes,
# from scratch, and reports its real test accuracy.
#
# ## Erratum 6 · §1 and §7: the citations
#
# This one cannot be computed; it is about the bibliography, and this notebook
# makes no network access. The table gives the article's citation and the
# paper as published, with an arXiv identifier a reader can look up.

# %%
citations = [
    ("Gemini: Multimodal Pre-training for Machine Reading Comprehension (2020), Google AI",
     "Not a real publication as cited: we know of no paper with this title (search arXiv or "
     "Google Scholar for it). Google's Gemini is the model family of 'Gemini: A Family of Highly Capable "
     "Multimodal Models', Gemini Team, Google, December 2023 (arXiv:2312.11805), and it is "
     "not the text/image encoder with a fusion layer that the article describes."),
    ("XLNet: Generalized Autoregressive Pretraining for Language Understanding (2020), "
     "Tsinghua University, Tsinghua X-Lab, Microsoft Research",
     "Yang, Dai, Yang, Carbonell, Salakhutdinov, Le: Carnegie Mellon University and Google AI "
     "Brain Team; NeurIPS 2019 (arXiv:1906.08237, June 2019)."),
    ("GPT-3: Language Models are Few-Shot Learners (2020), OpenAI",
     "Brown et al., OpenAI, 2020 (arXiv:2005.14165); the title has no 'GPT-3:' prefix (minor)."),
    ("BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding (2018), Google AI",
     "Correct: Devlin, Chang, Lee, Toutanova, Google AI Language (arXiv:1810.04805; NAACL 2019)."),
]
for cited, actual in citations:
    print(f"article: {cited}\nrecord:  {actual}\n")

# %% [markdown]
# ## What to remember
#
# * Check every claim of a source with a computation: a formula that does not
#   type-check (erratum 3), a softmax of one number (errata 1 and 4), code that
#   was never run (erratum 5).
# * Name things by what they are: $Q, K, V$ are projections of the input, the
#   $W$'s are the weights, the attention output is the context vector.
#
# | # | erratum | demonstrated by |
# | --- | --- | --- |
# | 1 | identity weights in §4.3 | the first row is $[0.5761, 0.2119, 0.2119]$ (or $[0.4388, 0.2806, 0.2806]$ scaled), not $[1, 0, 0]$ |
# | 2 | Q, K, V called weights | Q's shape follows the sentence, $W_Q$'s does not; the output is the context |
# | 3 | fusion needs equal shapes | NumPy's broadcasting error; the joint-sequence fix |
# | 4 | self-dot product, scalar softmax | literal weights are all 1, rows sum to 3, contexts identical |
# | 5 | Keras code | no attention layer; undefined names; `Concatenate()(a, b)`; pixel ids collapse to 0; mismatched lengths |
# | 6 | citations | the table above |
