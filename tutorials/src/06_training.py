# %% [markdown]
# # 06 · Training the matching model: §5.4 done properly
#
# The article's §5.4 trains its model on 1000 image-text pairs (500 matching,
# 500 not), splits them 80/20 with `random_state=42`, trains for 10 epochs with
# batches of 32, Adam and binary cross-entropy, prints the test accuracy and
# concludes that the model "取得了较好的性能" (performs well). Its data line is
# `X_text, X_image, y = ...` and its model code cannot run (end of this notebook,
# and notebook 07), so that accuracy was never measured.
#
# Here we run exactly that protocol, for real, with the model of this package:
# a text encoder (self-attention with sinusoidal positions, notebooks 02 and 05),
# an image encoder (per-patch attention, notebook 03), the summed-logit fusion
# layer over the joint sequence (notebook 04), all multi-head (notebook 05), and
# a matching head, all with hand-written backprop.
#
# **You will learn to**
# * derive the gradients of the last two steps of the model: the loss
#   (exercise `bce_backward`) and the masked mean pooling (exercise `masked_mean_backward`);
# * read a training run, and judge an accuracy against the right baseline
#   (what chance is on *this* test split);
# * use ablations to show that the *fusion* is what works;
# * read trained fusion attention maps, with the care they need.
#
# **Prerequisites:** notebooks 02-05.
#
# **Time:** about 45 minutes (the training cells take about half a minute to run).

# %%
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import gemini_np as gnp
from gemini_np import data, viz
from gemini_np.data import load_split, model_inputs
from gemini_np.exercises import check
from gemini_np.functional import masked_mean_forward
from gemini_np.model import ModelConfig
from gemini_np.train import TrainConfig, train

viz.use_style()
np.set_printoptions(precision=3, suppress=True)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The data: coloured shapes and their captions
#
# Each 16 × 16 image (`gemini_np.data`) holds one shape with three attributes:
# a colour (红色 red / 绿色 green / 蓝色 blue), a shape (圆形 circle / 方形 square /
# 三角形 triangle) and a position (左边 left / 右边 right). A caption names them,
# e.g. "红色 圆形 在 左边" (a red circle on the left). A negative pair's caption is
# wrong in **exactly one** attribute (a hard negative), so the model has to
# check all three, in both modalities.

# %%
# the article's protocol: 1000 pairs, 80/20 split (seed 42), 10 epochs, batch 32, Adam; in float32 (see below)
config = TrainConfig(model=ModelConfig(dtype="float32"))
train_set, test_set = load_split(config.data_config())
print(f"pairs: {len(train_set)} train + {len(test_set)} test; positives: "
      f"{int(train_set.labels.sum())} train, {int(test_set.labels.sum())} test")
vocab = train_set.vocab
print("vocabulary (id: token):", ", ".join(f"{i}: {token}" for i, token in enumerate(vocab.itos)))
print("tokens of the first caption:", train_set.captions[0], "->", train_set.tokens[0])

# %% [markdown]
# Ids 0 and 1 are reserved: `<pad>` fills a short caption up to the batch's
# length (and is masked out as a key everywhere, notebook 02), `<unk>` stands for
# any word the vocabulary does not know. Eight training pairs, with their label:

# %%
show = np.arange(8)
fig = viz.image_grid(train_set.images[show], [train_set.captions[i] for i in show], ncols=4,
                     matches=[bool(train_set.labels[i]) for i in show])
plt.show()

# %% [markdown]
# **Neither modality alone predicts the label.** Pairs are made in fours from
# two images that differ in one attribute (each image with its own caption, and
# with the other one's), so every image and every caption occurs as often in a
# matching pair as in a non-matching one. Counted on the whole dataset:

# %%
full = data.make_dataset(config.samples, seed=config.data_seed, language=config.language, jitter=config.jitter,
                         noise=config.noise)  # all pairs, before the train/test split
balanced_captions = sum(
    full.labels[[i for i, c in enumerate(full.captions) if c == caption]].mean() == 0.5 for caption in set(full.captions))
image_label_means = [full.labels[full.image_ids == i].mean() for i in np.unique(full.image_ids)]
print(f"captions seen as often in positive as in negative pairs: {balanced_captions} of {len(set(full.captions))}")
print(f"images seen as often in positive as in negative pairs: "
      f"{sum(m == 0.5 for m in image_label_means)} of {len(image_label_means)}")

# %% [markdown]
# **What is chance here?** The test split is not exactly half matching. A
# "model" that always answers *match* is right on every matching test pair:

# %%
always_match = viz.majority_accuracy(test_set.labels)
print(f"test split: {int(test_set.labels.sum())} matching of {len(test_set)}; "
      f"always answering 'match' scores accuracy {always_match:.3f}")
print("balanced accuracy (the mean of the accuracy on matching and on non-matching pairs) "
      "of any constant answer: 0.5")

# %% [markdown]
# So on this split the floor for accuracy is that number, not 0.5; balanced
# accuracy, the mean of the accuracy on the matching pairs and on the others,
# puts every constant answer at exactly 0.5 whatever the split. We report both.
#
# ## 2. The last two steps of the model, and their gradients
#
# The model ends with a **pooling** step and a **loss**, and the backward pass
# starts there.
#
# *The loss.* The matching head gives one logit $z_b$ per pair; $\sigma(z) = 1/(1+e^{-z})$
# is the predicted probability of a match, and the loss is the mean binary
# cross-entropy over the $N$ pairs of a batch,
#
# $$L = \frac1N \sum_b \Big(-y_b \log \sigma(z_b) - (1 - y_b)\log\big(1 - \sigma(z_b)\big)\Big),
# \qquad \sigma'(z) = \sigma(z)\,(1 - \sigma(z)).$$
#
# *The pooling.* The fusion layer returns one vector per token; the head
# averages the caption's vectors, leaving out the padding:
# $\text{out}_b = \sum_i m_{bi}\, x_{bi} / \max(1, \sum_i m_{bi})$, where the mask
# $m_{bi}$ is 1 (True) for a real token and 0 for `<pad>` (the `max` keeps a caption of
# only padding from dividing by zero).
#
# ### Your turn (exercise `bce_backward`)
#
# Write `my_bce_backward(logits, labels)` returning $dz = \partial L/\partial z$, shape $(N,)$,
# for the mean loss above. Simplify on paper first: the answer is one short line.

# %%
def my_bce_backward(logits, labels):
    """logits (N,), labels (N,) in {0, 1} -> dlogits (N,) for the mean binary cross-entropy."""
    raise NotImplementedError  # your turn


check(my_bce_backward, "bce_backward")

# %% [markdown]
# ### Your turn (exercise `masked_mean_backward`)
#
# Write `my_masked_mean_backward(dout, mask)`: dout $(B, d)$ is the gradient of
# the pooled vectors, mask is bool $(B, n)$ (True = real token); return
# $dx$ $(B, n, d)$. **Predict before you write:** what gradient does a `<pad>` position get?

# %%
def my_masked_mean_backward(dout, mask):
    """dout (B, d), mask bool (B, n) -> dx (B, n, d) for out = masked mean of x over the n tokens."""
    raise NotImplementedError  # your turn


check(my_masked_mean_backward, "masked_mean_backward")

# %% [markdown] tags=["solution"]
# ### Solutions
#
# *BCE.* With $p = \sigma(z)$, $\partial/\partial z\,[-y\log p - (1-y)\log(1-p)]
# = -y(1-p) + (1-y)p = p - y$, and the mean divides by $N$: $dz = (\sigma(z) - y)/N$.
#
# *Masked mean.* $\text{out}_{bd}$ depends on $x_{bid}$ with factor $m_{bi}/c_b$,
# $c_b = \max(1, \sum_i m_{bi})$, so $dx_{bid} = dout_{bd}\, m_{bi} / c_b$: each real
# token gets an equal share of the gradient, padding gets 0. Both checked
# against finite differences:

# %% tags=["solution"]
z, y = rng.standard_normal(6), (rng.random(6) > 0.5).astype(float)
bce = lambda z_: np.mean(np.logaddexp(0, z_) - z_ * y)  # the same loss, written without overflow
dz = (1 / (1 + np.exp(-z)) - y) / z.size
print(f"bce: max |(σ(z) − y)/N - numerical| = {np.abs(dz - gnp.numerical_gradient(bce, z)).max():.1e}")
x_pool, keep = rng.standard_normal((2, 4, 3)), np.array([[1, 1, 0, 0], [1, 1, 1, 0]], dtype=bool)
g = rng.standard_normal((2, 3))  # the upstream gradient dout
dx = g[:, None, :] * keep[..., None] / np.maximum(1, keep.sum(axis=1))[:, None, None]
numeric = gnp.numerical_gradient(lambda x_: np.sum(masked_mean_forward(x_, keep)[0] * g), x_pool)
print(f"masked mean: max |dx - numerical| = {np.abs(dx - numeric).max():.1e}")

# %% [markdown]
# ## 3. Training with the article's protocol
#
# `gemini_np.train.train(config)` is the same run as
# `python -m gemini_np train --dtype float32` (that command also draws a
# progress bar, and can save a checkpoint and plots). Every epoch it shuffles
# the training pairs, and for each batch runs forward, the loss, backward (from
# the two gradients above down to the embeddings) and an Adam step; then it
# evaluates on the held-out test pairs.
#
# We train in float32 because it takes about half the time of the package's
# default, float64, which is there for the finite-difference gradient checks;
# the protocol (data, split, epochs, batch size, optimizer) is the article's.

# %%
result = train(config, progress=False)
metrics = result.metrics
print(f"{'epoch':>5} {'train loss':>10} {'train acc':>9} {'test loss':>9} {'test acc':>8}")
for row in result.history:
    print(f"{row['epoch']:>5} {row['loss']:>10.4f} {row['train_accuracy']:>9.3f} "
          f"{row['test_loss']:>9.4f} {row['test_accuracy']:>8.3f}")
print(f"\ntest accuracy: {metrics['test_accuracy']:.4f} ({round(metrics['test_accuracy'] * metrics['test_pairs'])}"
      f" of {metrics['test_pairs']} test pairs); balanced accuracy {metrics['test_balanced_accuracy']:.4f}")
print(f"train accuracy: {metrics['train_accuracy']:.4f}")
print(f"parameters: {metrics['parameters']:,}; training took {metrics['train_seconds']:.0f} s on the machine "
      f"that ran this notebook")

# %%
fig = viz.curves_figure(result)
plt.show()

# %% [markdown]
# ## 4. Ablations: is it the fusion that works?
#
# Replace one modality by a constant input, at training and at test time
# (`ablate="text"`: every caption becomes the same all-`<unk>` caption;
# `ablate="image"`: every image becomes black) and train again. Since each
# caption and each image is as often right as wrong, a model that sees only
# one modality has nothing to go on: its balanced accuracy should stay near
# 0.5, and its accuracy no better than always answering "match" (computed above).
# To keep this notebook fast, the ablations train for **3 epochs** instead of
# 10 (their learning-rate schedule is compressed into those 3 epochs); for
# comparison, the table also shows the full model after its 3rd epoch.
# `python -m gemini_np train --ablate text` (or `image`) runs the full 10-epoch protocol.
#
# **Predict before you run:** will the text-only model do better than the
# image-only one, or worse, or the same?

# %%
ablation_epochs = 3
ablations = {}
for ablate in ("text", "image"):
    ablated = train(TrainConfig(model=config.model, ablate=ablate, epochs=ablation_epochs), progress=False)
    ablations[ablate] = (ablated.metrics["test_accuracy"], ablated.metrics["test_balanced_accuracy"])
after_3 = result.history[ablation_epochs - 1]["test_accuracy"]
print(f"{'model sees':<22} {'epochs':>8} {'accuracy':>9} {'balanced':>9}")
print(f"{'text and image':<22} {config.epochs:>8} {metrics['test_accuracy']:>9.3f} {metrics['test_balanced_accuracy']:>9.3f}")
print(f"{'text and image':<22} {f'{ablation_epochs} of {config.epochs}':>8} {after_3:>9.3f} {'':>9}"
      f"   (the run above, after its epoch {ablation_epochs})")
print(f"{'image only (no text)':<22} {ablation_epochs:>8} {ablations['text'][0]:>9.3f} {ablations['text'][1]:>9.3f}")
print(f"{'text only (no image)':<22} {ablation_epochs:>8} {ablations['image'][0]:>9.3f} {ablations['image'][1]:>9.3f}")
constant = "(always 'match')"
print(f"{constant:<22} {'':>8} {always_match:>9.3f} {0.5:>9.3f}")

# %% [markdown]
# ## 5. What the trained attention looks at
#
# `model.attention_maps["fusion"]` holds the fusion layer's attention matrices
# from the last forward pass, one per head: `(batch, heads, n + m, n + m)` over
# the joint sequence of the caption's words and the image's 16 patch tokens
# (so the matrix has a `heads` axis, notebook 05). We run the trained model on
# a few test pairs.

# %%
model = result.model
tokens, images, labels = model_inputs(test_set, config.dtype)
picked = np.array([i for i in range(len(test_set)) if test_set.labels[i] == 1][:2]
                  + [i for i in range(len(test_set)) if test_set.labels[i] == 0][:2])
logits = gnp.to_numpy(model.forward(tokens[picked], images[picked]))
fusion = gnp.to_numpy(model.attention_maps["fusion"][-1])  # (4, heads, n + m, n + m)
n_text = tokens.shape[1]
grid = int(round((fusion.shape[-1] - n_text) ** 0.5))  # patches per side
for i, logit in zip(picked, logits):
    verdict = "match" if logit > 0 else "no match"
    truth = "match" if test_set.labels[i] else "no match"
    print(f"predicted {verdict:<8} (logit {logit:+6.2f}), truth {truth:<8}  {test_set.captions[i]}")

# %%
pair = 0  # the first matching test pair
words = vocab.decode(test_set.tokens[picked[pair]])
weights = fusion[pair].mean(axis=0)  # average over heads: (n + m, n + m)
patch_names = [str(j) for j in range(grid * grid)]  # row-major, as numbered in the next figure
keys = np.r_[0:len(words), n_text:n_text + grid * grid]  # the caption's real words, then the patches
fig = viz.fusion_heatmap(weights[np.ix_(keys[:len(words)], keys)], words, patch_names, log=True,
                         title="fusion weights of the caption's words (mean over heads)")
plt.show()

# %% [markdown]
# The colour scale is logarithmic: a few word→word weights are much larger
# than the word→patch ones, and on a linear scale the patch columns would all
# look black. (The `<pad>` keys get weight exactly 0 and are left out.)
# Each caption word's weights over the 16 image patches, drawn on the image,
# one shared colour scale:

# %%
fig = viz.word_overlays(test_set.images[picked[pair]], weights[: len(words), n_text:], words, grid,
                        title="where each word's attention goes (mean over heads)")
plt.show()

# %% [markdown]
# Read these maps with care. They are one layer's weights, averaged over
# heads: they show where information *flows* into each word's state, not what
# the model "looks at" in a human sense. The fusion layer's output is then
# pooled and scored by the matching head, so a decision can rest on a few
# patches that carry the colour, shape and position together. What the
# ablations prove, the maps only illustrate: the caption's words do read the
# image patches, because the model cannot match without them.

# %% [markdown]
# ## 6. The article's code, and why it cannot run
#
# §5.4's evaluation code, verbatim (`article_code/section_5_4.py.txt`):

# %%
article_54 = Path("article_code/section_5_4.py.txt").read_text(encoding="utf-8")
print(article_54)

# %% [markdown]
# Its very first line has no data in it: `...` is Python's `Ellipsis`, and
# unpacking it fails before anything else happens:

# %%
first_line = article_54.splitlines()[3]
print(first_line)
try:
    exec(first_line, {})
except TypeError as error:
    print("TypeError:", error)

# %% [markdown]
# And the model it would train (§5.2) cannot be built: it uses LSTMs and no
# attention, calls `Concatenate()(a, b)` instead of `Concatenate()([a, b])`,
# leaves `embedding_dim`, `inputs_text`, `inputs_image`, `vocab_size`,
# `text_data`, `image_data` and `labels` undefined, feeds float pixels to an
# `Embedding`, and concatenates sequences of different lengths. Notebook 07
# (erratum 5) demonstrates each of these. The accuracy above is what the
# protocol of §5.4 actually gives, with a model that matches the article's formulas.
#
# ## What to remember
#
# * The backward pass starts at the loss: for the mean binary cross-entropy on
#   logits it is one short line (your exercise), and pooling sends each real
#   token its share, padding nothing.
# * Judge an accuracy against the right floor: here always answering "match"
#   scores the share of matching test pairs; balanced accuracy puts any constant
#   answer at 0.5.
# * Ablations (remove one input, retrain) test a claim that attention maps can only illustrate.
#
# Next: notebook 07 goes through every error of the article.
