# %% [markdown]
# # 03 · Per-patch image attention: $\mathrm{softmax}(Q_{ij} K_{ij}^\top/\sqrt{d_k})\,V_{ij}$
#
# The article's image encoder (§4.1) writes
#
# $$\text{query}_{i,j} = \mathrm{softmax}\!\left(\frac{Q_{i,j} K_{i,j}^\top}{\sqrt{d_k}}\right) V_{i,j}$$
#
# (as in notebook 02, the left-hand side is the attention *output* for patch
# $(i, j)$, not a query). We read the indices $(i, j)$ as **patch** $(i, j)$ of
# the image: cut the $H \times W$ picture into non-overlapping $p \times p$ patches
# and let every pixel attend only to the $p^2$ pixels of its own patch.
#
# **You will learn to**
# * cut an image into patches with `reshape` and a transpose, and put it back (exercise `patchify`);
# * run attention inside every patch at once (exercise `patch_attention`);
# * show that this equals global attention with a block-diagonal mask, and measure what it saves;
# * read patch-attention weights drawn over the image.
#
# **Prerequisites:** notebook 02 (attention, masks, the gradient check); NumPy `reshape`.
#
# **Time:** about 45 minutes.

# %%
import inspect
import time
import tracemalloc

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
# (pixel $(r, c)$ of patch $(i, j)$ is image pixel $(ip + r,\ jp + c)$ and sits
# at position $rp + c$ in the patch). `unpatchify` is its exact inverse. The
# `...` are batch dimensions: a stack of images is patchified image by image.

# %%
p = 4
patches = gnp.patchify(image, p)
print("patches:", patches.shape, "= (H/p, W/p, p·p, C)")
print("unpatchify(patchify(x)) == x:", np.array_equal(gnp.unpatchify(patches, p), image))
print("pixel (r=1, c=2) of patch (0, 1) is image[1, 6]:", np.array_equal(patches[0, 1, 1 * p + 2], image[1, 6]))
fig = viz.patch_grid_figure(patches, f"the {H // p}×{W // p} grid of {p}×{p} patches, numbered row-major")
plt.show()

# %% [markdown]
# ### Your turn (exercise `patchify`)
#
# Write `my_patchify(x, p)` with plain NumPy: `reshape` and a transpose
# (`np.moveaxis` or `np.swapaxes`), no loops, any number of batch dimensions.
# **Predict before you write:** why is a single `x.reshape(H // p, W // p, p * p, C)`
# not enough? (Which pixels would land in "patch 0"?) The checker will tell you
# if that is what you wrote.

# %%
def my_patchify(x, p):
    """x: (..., H, W, C) -> (..., H/p, W/p, p·p, C), pixels row-major inside a patch."""
    raise NotImplementedError  # your turn


check(my_patchify, "patchify")

# %% [markdown] tags=["solution"]
# ### Solution: `reference.patchify`
#
# Split each image axis into (patch index, offset inside the patch), bring the
# two patch indices to the front, then merge the two offsets. A plain reshape
# would cut the *rows* of the image into runs of $p^2$ pixels instead.

# %% tags=["solution"]
print(inspect.getsource(reference.patchify))

# %% [markdown]
# ## The formula, patch by patch
#
# Each pixel gets a feature vector. In a model $Q$, $K$ and $V$ are learned
# projections of the features; to keep the picture readable we pick them by
# hand: $Q = K = 4\,(\text{colour} - \text{mean colour})$, so that pixels of
# similar colour have large dot products, and $V = \text{colour}$, so the
# output is a colour mix.

# %%
q = k = 4.0 * (image - image.mean(axis=(0, 1)))  # (H, W, d_k = 3): centred colours
v = image  # (H, W, d_v = 3)
out, cache = gnp.patch_attention_forward(q, k, v, patch_size=p)
print("out:", out.shape, "| weights:", cache.weights.shape, "= (H/p, W/p, p·p, p·p)")

# %% [markdown]
# ### Your turn (exercise `patch_attention`)
#
# Write `my_patch_attention(q, k, v, p)`: q, k of shape `(..., H, W, d_k)`, v of
# shape `(..., H, W, d_v)`, returning the output `(..., H, W, d_v)` in which every
# pixel attends only to the pixels of its own $p \times p$ patch, scale $1/\sqrt{d_k}$.
# Build it from pieces you have: your `my_patchify` (or `gnp.patchify`), the
# formula of notebook 02 (`@`, `np.swapaxes(k, -1, -2)` for $K^\top$, a softmax over
# the last axis), and `gnp.unpatchify`.

# %%
def my_patch_attention(q, k, v, p):
    """q, k (..., H, W, d_k), v (..., H, W, d_v), patch size p -> out (..., H, W, d_v)."""
    raise NotImplementedError  # your turn


check(my_patch_attention, "patch_attention")

# %% [markdown] tags=["solution"]
# ### Solution: `reference.patch_attention_forward`
#
# Patchify $Q$, $K$, $V$; in the patch layout, per-patch attention is ordinary
# attention batched over the patch grid; unpatchify the result. And the same
# with an explicit loop over the patches, $\mathrm{softmax}(Q_{ij} K_{ij}^\top/\sqrt{d_k}) V_{ij}$:

# %% tags=["solution"]
print(inspect.getsource(reference.patch_attention_forward))
loop = np.zeros_like(out)
for i in range(H // p):
    for j in range(W // p):
        block = (slice(i * p, (i + 1) * p), slice(j * p, (j + 1) * p))
        q_ij, k_ij, v_ij = (a[block].reshape(p * p, -1) for a in (q, k, v))
        loop[block] = gnp.attention_forward(q_ij, k_ij, v_ij)[0].reshape(p, p, -1)
print("max |vectorized - loop over patches| =", np.abs(out - loop).max())

# %% [markdown]
# ## Equivalence with a block-diagonal mask
#
# Flatten the image into a sequence of $HW$ pixels and run *global* attention
# with a boolean mask (notebook 02) that lets pixel $a$ see pixel $b$ only when
# they share a patch. With the pixels ordered patch by patch this mask is
# block-diagonal; in raster order it is the same mask, permuted.

# %%
patch_id = (rows // p) * (W // p) + cols // p  # (H, W): which patch each pixel is in
same_patch = patch_id.reshape(-1, 1) == patch_id.reshape(1, -1)  # (HW, HW) bool mask
flat = [a.reshape(H * W, -1) for a in (q, k, v)]
out_full, _ = gnp.attention_forward(*flat, mask=same_patch)
print("max |patch attention - masked global attention| =", np.abs(out_full.reshape(H, W, -1) - out).max())
order = np.argsort(patch_id.reshape(-1), kind="stable")  # pixels sorted patch by patch
fig = viz.mask_figure([same_patch, same_patch[np.ix_(order, order)]],
                      ["raster order", "patch order: block-diagonal"], xlabel="key pixel", ylabel="query pixel")
plt.show()

# %% [markdown]
# ## What it saves, measured
#
# Global attention over all $HW$ pixels computes $(HW)^2$ logits; per-patch
# attention computes $HW \cdot p^2$, a factor $HW/p^2$ fewer (the number of
# patches). **Predict before you run:** for a 48 × 48 image and $p = 4$, how many
# times fewer logits? We count the logits, time one forward pass (median of 5
# runs) and measure the peak memory it allocates (`tracemalloc` sees NumPy's
# buffers). The times depend on the machine that ran this notebook; the counts do not.

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


# %%
d = 8
print(f"{'image':>7} {'logits (patch)':>15} {'logits (global)':>16} {'ratio':>6} "
      f"{'ms patch':>9} {'ms global':>10} {'MiB patch':>10} {'MiB global':>11}")
for size in (16, 32, 48):
    a = rng.standard_normal((size, size, d))
    t_patch, m_patch = measure(lambda: gnp.patch_attention_forward(a, a, a, patch_size=p))
    t_full, m_full = measure(lambda: gnp.attention_forward(*(a.reshape(size * size, d),) * 3))
    n_pix = size * size
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
# and `viz.patch_overlay` draws them over the picture with the patch grid. All
# four panels share one colour scale. A pixel on the edge of the red disc
# attends mostly to the red pixels of its own patch and sees nothing outside it;
# global attention (right) spreads over every red pixel of the image.

# %%
queries = [(4, 3), (10, 10)]  # (row, col): the edge of the disc, inside the square
global_weights = gnp.attention_forward(*flat)[1].weights  # (HW, HW), no mask
maps = [(viz.query_weight_map(cache.weights, p, r, c), global_weights[r * W + c].reshape(H, W)) for r, c in queries]
top = max(m.max() for pair in maps for m in pair)  # one colour scale for all panels
fig, axes = viz.subplots(len(queries), 2, figsize=(9.6, 9.0))
for (row, col), (patch_map, global_map), (ax_patch, ax_full) in zip(queries, maps, axes):
    viz.patch_overlay(image, patch_map, p, ax=ax_patch, mark=(row, col), title=f"patch attention, pixel {(row, col)}",
                      vmax=top, colorbar=False)
    viz.patch_overlay(image, global_map, p, ax=ax_full, mark=(row, col), title="global attention, same pixel",
                      vmax=top, colorbar=False)
fig.colorbar(axes[0, 0].images[1], ax=axes.ravel().tolist(), shrink=0.8, label="weight (shared scale)")
plt.show()

# %% [markdown]
# And the output itself: every pixel replaced by its patch's colour mix,
# weighted by colour similarity. Edges inside a patch soften; nothing crosses a
# patch border.

# %%
fig = viz.image_grid(np.stack([image, np.clip(out, 0, 1)]), ["input", "patch attention output"], ncols=2, size=4.2,
                     patch_size=p)
plt.show()

# %% [markdown]
# ## The backward pass
#
# Patchify only moves numbers around: every input element lands in exactly
# one output slot. The backward of such a rearrangement sends each gradient
# back to the slot it came from, which is the inverse rearrangement, so the
# backward of patchify is unpatchify (and vice versa).
# `patch_attention_backward` patchifies $dO$, runs the attention backward of
# notebook 02 batched over the patches, and unpatchifies the three gradients.
# The gradient check (float64, random upstream gradient, the bound of notebook 02)
# on a small image:

# %%
small = {name: rng.standard_normal((4, 6, 3)) for name in ("q", "k", "v")}
errors = gnp.check_gradients(gnp.patch_attention_forward, gnp.patch_attention_backward, small,
                             static={"patch_size": 2}, seed=3)
for name, err in errors.items():
    print(f"d{name}: rel_error = {err:.1e}")
print(f"gradient check (bound {OP_BOUND:.0e}): {'pass' if max(errors.values()) < OP_BOUND else 'FAIL'}")

# %% [markdown]
# ## What to remember
#
# * Per-patch attention is ordinary attention batched over the patch grid:
#   `patchify` → attention → `unpatchify`.
# * It equals global attention with a block-diagonal (same-patch) mask, at
#   $HW p^2$ instead of $(HW)^2$ logits.
# * The backward of a rearrangement is the inverse rearrangement.
# * A pixel never sees outside its patch. To mix information across patches
#   the model pools each patch to one token and lets later layers attend across
#   them (notebooks 04 and 05).
