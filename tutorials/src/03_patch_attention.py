# %% [markdown]
# # 03 · Per-patch image attention: $\mathrm{softmax}(Q_{ij} K_{ij}^\top/\sqrt{d_k})\,V_{ij}$
#
# The article's image encoder (§4.1) writes
#
# $$\text{query}_{i,j} = \mathrm{softmax}\!\left(\frac{Q_{i,j} K_{i,j}^\top}{\sqrt{d_k}}\right) V_{i,j}.$$
#
# We read the indices $(i, j)$ as **patch** $(i, j)$ of the image: cut the
# $H \times W$ picture into non-overlapping $p \times p$ patches and let every
# pixel attend only to the $p^2$ pixels of its own patch. In this notebook we
# cut a picture into patches, run the formula, prove that it equals global
# attention with a block-diagonal mask, measure what it saves, and look at the
# weights as images.

# %%
import time
import tracemalloc

import matplotlib.pyplot as plt
import numpy as np

import gemini_np as gnp
from gemini_np import viz
from gemini_np.exercises import check

np.set_printoptions(precision=4, suppress=True)
rng = np.random.default_rng(0)

# %% [markdown]
# ## A picture, made with NumPy
#
# A 16 × 16 RGB image: a soft background, a red disc and a blue square.

# %%
H = W = 16
rows, cols = np.mgrid[0:H, 0:W]
image = np.stack([0.85 - 0.2 * rows / H, 0.85 - 0.1 * cols / W, 0.75 + 0 * rows], axis=-1)  # (H, W, 3)
disc = (rows - 5.5) ** 2 + (cols - 5.5) ** 2 <= 4.2 ** 2
square = (rows >= 9) & (rows < 15) & (cols >= 8) & (cols < 14)
image[disc] = [0.85, 0.15, 0.15]
image[square] = [0.15, 0.3, 0.85]
print("image:", image.shape, image.dtype)

# %% [markdown]
# ## Patchify
#
# `gnp.patchify(x, p)` turns `(..., H, W, C)` into `(..., H/p, W/p, p·p, C)`:
# a grid of patches, each holding its $p^2$ pixels in row-major order
# (pixel $(r, c)$ of the patch is element $r p + c$). `unpatchify` is its exact inverse.

# %%
p = 4
patches = gnp.patchify(image, p)
print("patches:", patches.shape, "= (H/p, W/p, p·p, C)")
print("unpatchify(patchify(x)) == x:", np.array_equal(gnp.unpatchify(patches, p), image))
print("pixel (r=1, c=2) of patch (0, 1) is image[1, 6]:", np.array_equal(patches[0, 1, 1 * p + 2], image[1, 6]))

fig, axes = viz.subplots(H // p, W // p, figsize=(3.0, 3.0), layout=None)
for (i, j), ax in np.ndenumerate(axes):
    ax.imshow(patches[i, j].reshape(p, p, 3), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle(f"the {H // p}×{W // p} grid of {p}×{p} patches", fontsize=9)
plt.show()

# %% [markdown]
# ### Your turn (exercise 4): patchify
#
# Write `my_patchify(x, p)` with plain NumPy (`reshape` and a transpose, no loops).
# A plain `reshape` is not enough: the checker will tell you why.

# %%
def my_patchify(x, p):
    """x: (..., H, W, C) -> (..., H/p, W/p, p·p, C), pixels row-major inside a patch."""
    raise NotImplementedError  # your turn


check(my_patchify)

# %% [markdown]
# ## The formula, patch by patch
#
# Each pixel gets a feature vector. In a model $Q$, $K$ and $V$ are learned
# projections of the features; to keep the picture readable we pick them by
# hand: $Q = K = 4\,(\text{colour} - \text{mean colour})$, so that pixels of
# similar colour have large dot products, and $V = \text{colour}$, so the
# output is a colour mix. `patch_attention_forward` patchifies
# $Q, K, V$, runs ordinary attention batched over the patch grid, and
# unpatchifies the result.

# %%
q = k = 4.0 * (image - image.mean(axis=(0, 1)))  # (H, W, d_k = 3): centred colours
v = image  # (H, W, d_v = 3)
out, cache = gnp.patch_attention_forward(q, k, v, patch_size=p)
print("out:", out.shape, "| weights:", cache.weights.shape, "= (H/p, W/p, p·p, p·p)")

# the same thing with an explicit loop over the patches: softmax(Q_ij K_ijᵀ/√d_k) V_ij
loop = np.zeros_like(out)
for i in range(H // p):
    for j in range(W // p):
        block = (slice(i * p, (i + 1) * p), slice(j * p, (j + 1) * p))
        q_ij, k_ij, v_ij = (a[block].reshape(p * p, -1) for a in (q, k, v))
        out_ij, _ = gnp.attention_forward(q_ij, k_ij, v_ij)
        loop[block] = out_ij.reshape(p, p, -1)
print("max |vectorized - loop over patches| =", np.abs(out - loop).max())

# %% [markdown]
# ## Equivalence with a block-diagonal mask
#
# Flatten the image into a sequence of $HW$ pixels and run *global* attention
# with a mask that lets pixel $a$ see pixel $b$ only when they share a patch.
# With the pixels ordered patch by patch this mask is block-diagonal; in raster
# order it is the same mask, permuted.

# %%
patch_id = (rows // p) * (W // p) + cols // p  # (H, W): which patch each pixel is in
same_patch = patch_id.reshape(-1, 1) == patch_id.reshape(1, -1)  # (HW, HW) bool mask
out_full, cache_full = gnp.attention_forward(q.reshape(H * W, -1), k.reshape(H * W, -1), v.reshape(H * W, -1),
                                             mask=same_patch)
print("max |patch attention - masked global attention| =", np.abs(out_full.reshape(H, W, -1) - out).max())

order = np.argsort(patch_id.reshape(-1), kind="stable")  # pixels sorted patch by patch
fig, (ax1, ax2) = viz.subplots(1, 2, figsize=(5.6, 2.8))
ax1.imshow(same_patch, cmap="Greys", interpolation="nearest")
ax1.set_title("mask, raster order", fontsize=9)
ax2.imshow(same_patch[np.ix_(order, order)], cmap="Greys", interpolation="nearest")
ax2.set_title("mask, patch order: block-diagonal", fontsize=9)
for ax in (ax1, ax2):
    ax.set_xlabel("key pixel")
    ax.set_ylabel("query pixel")
plt.show()

# %% [markdown]
# ## What it saves, measured
#
# Global attention over all $HW$ pixels computes $(HW)^2$ logits; per-patch
# attention computes $HW \cdot p^2$, a factor $HW/p^2$ fewer (the number of
# patches). We count the logits, time one forward pass (median of 5 runs) and
# measure the peak memory it allocates (`tracemalloc` sees NumPy's buffers).
# The times depend on the machine that ran this notebook; the counts do not.

# %%
def measure(fn, repeats=5):
    """(median seconds, peak MiB) of fn()."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return float(np.median(times)), peak / 2**20


d = 8
print(f"{'image':>7} {'logits (patch)':>15} {'logits (global)':>16} {'ratio':>6} "
      f"{'ms patch':>9} {'ms global':>10} {'MiB patch':>10} {'MiB global':>11}")
cost_rows = []
for size in (16, 32, 48):
    a = rng.standard_normal((size, size, d))
    flat = a.reshape(size * size, d)
    t_patch, m_patch = measure(lambda: gnp.patch_attention_forward(a, a, a, patch_size=p))
    t_full, m_full = measure(lambda: gnp.attention_forward(flat, flat, flat))
    n_pix = size * size
    cost_rows.append((size, n_pix * p * p, n_pix ** 2))
    print(f"{size:>3}×{size:<3} {n_pix * p * p:>15,} {n_pix ** 2:>16,} {n_pix // (p * p):>6} "
          f"{1e3 * t_patch:>9.2f} {1e3 * t_full:>10.2f} {m_patch:>10.2f} {m_full:>11.2f}")

# %% [markdown]
# The logit ratio is exactly the number of patches, $HW/p^2$, and it grows with
# the image; time and memory follow it (for tiny images the fixed costs of the
# reshapes dominate).
#
# ## The weights, seen as images
#
# `viz.query_weight_map` puts one query pixel's weights back on the image grid,
# and `viz.patch_overlay` draws them over the picture with the patch grid. A
# pixel on the edge of the red disc attends mostly to the red pixels of its own
# patch and sees nothing outside it; global attention (right) spreads over every
# red pixel of the image.

# %%
queries = [(4, 3), (10, 10)]  # (row, col): the edge of the disc, inside the square
fig, axes = viz.subplots(len(queries), 2, figsize=(6.4, 5.4))
for (row, col), (ax_patch, ax_full) in zip(queries, axes):
    patch_map = viz.query_weight_map(cache.weights, p, row, col)
    viz.patch_overlay(image, patch_map, p, ax=ax_patch, mark=(row, col), title=f"patch attention, pixel {(row, col)}")
    global_map = gnp.attention_forward(q.reshape(H * W, -1), k.reshape(H * W, -1), v.reshape(H * W, -1))[1].weights
    viz.patch_overlay(image, global_map[row * W + col].reshape(H, W), p, ax=ax_full, mark=(row, col),
                      title="global attention, same pixel")
plt.show()

# %% [markdown]
# And the output itself: every pixel replaced by its patch's colour mix,
# weighted by colour similarity. Edges inside a patch soften; nothing crosses a
# patch border.

# %%
fig, (ax1, ax2) = viz.subplots(1, 2, figsize=(5.0, 2.6))
ax1.imshow(image, interpolation="nearest")
ax1.set_title("input", fontsize=9)
ax2.imshow(np.clip(out, 0, 1), interpolation="nearest")
ax2.set_title("patch attention output", fontsize=9)
for ax in (ax1, ax2):
    ax.set_xticks([])
    ax.set_yticks([])
plt.show()

# %% [markdown]
# ## The backward pass
#
# Patchify is a pure rearrangement of elements, so its backward is unpatchify:
# `patch_attention_backward` patchifies $dO$, runs the attention backward of
# notebook 02 batched over the patches, and unpatchifies the three gradients.
# The gradient check (float64, random upstream gradient) on a small image:

# %%
small = {name: rng.standard_normal((4, 6, 3)) for name in ("q", "k", "v")}
errors = gnp.check_gradients(gnp.patch_attention_forward, gnp.patch_attention_backward, small,
                             static={"patch_size": 2}, seed=3)
for name, err in errors.items():
    print(f"d{name}: rel_error = {err:.1e}")
print(f"gradient check (bound 1e-7): {'pass' if max(errors.values()) < 1e-7 else 'FAIL'}")

# %% [markdown]
# ## What to remember
#
# * Per-patch attention is ordinary attention batched over the patch grid:
#   `patchify` → attention → `unpatchify`.
# * It equals global attention with a block-diagonal (same-patch) mask, at
#   $HW p^2$ instead of $(HW)^2$ logits.
# * A pixel never sees outside its patch; to mix information across patches
#   the model pools each patch to one token and lets the fusion layer (notebook 04) attend across them.
