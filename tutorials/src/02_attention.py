# %% [markdown]
# # 02 · Scaled dot-product attention: forward, backward, and why it works
#
# The article's text encoder (§4.1) is
#
# $$\text{query}_i = \mathrm{softmax}\!\left(\frac{Q_i K^\top}{\sqrt{d_k}}\right) V .$$
#
# In this notebook we
#
# 1. run the forward pass and check it by hand,
# 2. derive the backward pass one line at a time, next to the library's code,
# 3. check it against finite differences (and see why the upstream gradient must be random),
# 4. measure why we divide by $\sqrt{d_k}$,
# 5. push it to extreme logits and masks.
#
# Three "your turn" exercises are marked **Your turn**; their checkers print
# `[PASS]`, `[FAIL]` with a hint, or `[NOT ATTEMPTED]`, and never stop the notebook.

# %%
import inspect
import math

import matplotlib.pyplot as plt
import numpy as np

import gemini_np as gnp
from gemini_np import viz
from gemini_np.exercises import check
from gemini_np.functional import attention as attention_code

np.set_printoptions(precision=4, suppress=True)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Forward
#
# $Q$, $K$, $V$ are **projections of the input** $X$ (one row per token) by
# three learned weight matrices: $Q = X W_Q$, $K = X W_K$, $V = X W_V$. (The
# article calls Q, K, V themselves "weight matrices"; the weights are the $W$'s.)
# Then, one formula per line:
#
# | line | shape |
# | --- | --- |
# | $S = Q K^\top / \sqrt{d_k}$ | $(n_q, n_k)$: every query against every key |
# | $P = \mathrm{softmax}(S)$, row by row | $(n_q, n_k)$: each row sums to 1 |
# | $O = P V$ | $(n_q, d_v)$: each output is a weighted mix of value rows |

# %%
n, d_model, d_k, d_v = 4, 6, 3, 2
x = rng.standard_normal((n, d_model))  # 4 tokens
w_q, w_k, w_v = (rng.standard_normal((d_model, d)) for d in (d_k, d_k, d_v))
q, k, v = x @ w_q, x @ w_k, x @ w_v
out, cache = gnp.attention_forward(q, k, v)
print(f"Q {q.shape}, K {k.shape}, V {v.shape}  ->  O {out.shape}")
print("P = cache.weights:\n", cache.weights)
print("row sums of P:", cache.weights.sum(axis=-1))

s = q @ k.T / math.sqrt(d_k)  # the same three lines by hand
p = gnp.softmax(s, axis=-1)
print("max |O - softmax(QKᵀ/√d_k) V| by hand:", np.abs(p @ v - out).max())

# %% [markdown]
# ### Your turn (exercise 1): a softmax that never overflows
#
# Write `my_softmax(x)`, the softmax along the last axis. It must also work for
# logits such as `[1000, 0]`. (Hint: $\mathrm{softmax}(x) = \mathrm{softmax}(x - c)$
# for any constant $c$ in the row.)

# %%
def my_softmax(x):
    """x: (..., n) -> softmax of x along the last axis, same shape."""
    raise NotImplementedError  # your turn: replace this line with your code


check(my_softmax)

# %% [markdown]
# The checker also knows the classic mistake. The textbook formula,
# taken literally, is right on small inputs and wrong on large ones:

# %%
def naive_softmax(x):
    e = np.exp(x)  # exp(1000) = inf in float64
    return e / np.sum(e, axis=-1, keepdims=True)


check(naive_softmax, "softmax")

# %% [markdown]
# ## 2. Backward, derived line by line
#
# Given $dO = \partial L/\partial O$ from above, go through the forward lines
# in reverse. Each step differentiates one forward line.
#
# **From $O = PV$** (a matrix product, $O_{id} = \sum_j P_{ij} V_{jd}$):
#
# $$dV = P^\top dO, \qquad dP = dO\, V^\top .$$
#
# **From $P = \mathrm{softmax}(S)$**, row by row. Inside one row,
# $\partial P_j / \partial S_l = P_j(\delta_{jl} - P_l)$, so
#
# $$dS_l = \sum_j dP_j\, P_j(\delta_{jl} - P_l) = P_l\Big(dP_l - \sum_j dP_j P_j\Big),
# \qquad dS = P \circ \big(dP - \mathrm{rowsum}(dP \circ P)\big).$$
#
# The row sum is cheaper to get from the outputs: $\sum_j dP_{ij} P_{ij} =
# \sum_j \sum_d dO_{id} V_{jd} P_{ij} = \sum_d dO_{id} O_{id}$, i.e.
# $\mathrm{rowsum}(dP \circ P) = \mathrm{rowsum}(dO \circ O)$ ($d_v$ terms instead of $n_k$).
#
# **From $S = Q K^\top \cdot \text{scale}$:**
#
# $$dQ = \text{scale}\cdot dS\, K, \qquad dK = \text{scale}\cdot dS^\top Q .$$
#
# Here is the library's code; every line carries the formula it implements:

# %%
print(inspect.getsource(attention_code.softmax_attention_backward))
print(inspect.getsource(attention_code.attention_backward))

# %% [markdown]
# The same steps by hand, each compared with the library's result:

# %%
dout = rng.standard_normal(out.shape)  # a random upstream gradient dL/dO
P, O, scale = cache.weights, cache.out, cache.scale

dV = P.T @ dout  # from O = P V
dP = dout @ v.T  # from O = P V
dS = P * (dP - np.sum(dP * P, axis=-1, keepdims=True))  # from P = softmax(S)
dQ = scale * dS @ k  # from S = Q Kᵀ · scale
dK = scale * dS.T @ q

lib_dq, lib_dk, lib_dv = gnp.attention_backward(dout, cache)
print("rowsum(dP∘P) == rowsum(dO∘O):", np.allclose(np.sum(dP * P, -1), np.sum(dout * O, -1)))
print("rows of dS sum to 0 (softmax is shift-invariant):", np.abs(dS.sum(axis=-1)).max() < 1e-12)
for name, mine, lib in (("dQ", dQ, lib_dq), ("dK", dK, lib_dk), ("dV", dV, lib_dv)):
    print(f"{name}: max |by hand - library| = {np.abs(mine - lib).max():.1e}")

# %% [markdown]
# ### The softmax backward on its own
#
# For $y = \mathrm{softmax}(x)$ the Jacobian is $J = \mathrm{diag}(y) - y y^\top$
# (symmetric), and $dx = J\, dy = y \circ (dy - \sum_j dy_j y_j)$. We never build
# $J$ in the library (it is $n \times n$ per row), but we can check the short
# form against it:

# %%
xs = rng.standard_normal(5)
y = gnp.softmax(xs)
dy = rng.standard_normal(5)
jacobian = np.diag(y) - np.outer(y, y)
print("J dy               :", jacobian @ dy)
print("softmax_backward   :", gnp.softmax_backward(dy, y))

# %% [markdown]
# ### Your turn (exercise 2): softmax backward
#
# Write `my_softmax_backward(dy, y)` for $y = \mathrm{softmax}(x)$ along the last axis.

# %%
def my_softmax_backward(dy, y):
    """dy, y: (..., n) -> dx, the gradient of the loss with respect to x."""
    raise NotImplementedError  # your turn


check(my_softmax_backward)

# %% [markdown]
# ### Your turn (exercise 3): attention backward
#
# Write `my_attention_backward(dout, q, k, v)` returning `(dq, dk, dv)` for
# $O = \mathrm{softmax}(QK^\top/\sqrt{d_k})V$ (no mask). Recompute $P$ inside;
# the checker will tell you if the row-sum term or the scale is missing.

# %%
def my_attention_backward(dout, q, k, v):
    """dout (n_q, d_v), q (n_q, d_k), k (n_k, d_k), v (n_k, d_v) -> (dq, dk, dv)."""
    raise NotImplementedError  # your turn


check(my_attention_backward)

# %% [markdown]
# ## 3. The numerical gradient check
#
# Central differences, $\partial L/\partial x_i \approx \frac{L(x + h e_i) - L(x - h e_i)}{2h}$,
# error $O(h^2)$, in float64. The loss is $L = \sum O \circ G$ with a **random** $G$.
# `rel_error` is the largest $|a - b| / (|a| + |b|)$; a correct backward gives
# about $10^{-10}$, a bug $10^{-2}$ or more.

# %%
causal = np.tril(np.ones((n, n), dtype=bool))  # token i may look at tokens 0..i
errors = gnp.check_gradients(gnp.attention_forward, gnp.attention_backward,
                             {"q": q, "k": k, "v": v}, static={"mask": causal}, seed=1)
for name, err in errors.items():
    print(f"d{name}: rel_error = {err:.1e}")
print(f"gradient check (bound 1e-7): {'pass' if max(errors.values()) < 1e-7 else 'FAIL'}")

# %% [markdown]
# ### Why the upstream gradient must be random
#
# Softmax rows always sum to 1, so with the loss $L = \sum y$ the true
# gradient is exactly zero, and any backward that returns zero for a constant
# $dy$ looks right. A plausible bug, subtracting the *plain* mean of $dy$
# instead of the $y$-weighted one, survives the lazy check and fails the real
# one. (The true gradient of the lazy loss is 0, where a relative error means
# nothing, so we print the absolute difference too.)

# %%
def buggy_softmax_backward(dy, y):
    return y * (dy - np.mean(dy, axis=-1, keepdims=True))  # should be sum(dy * y)


x0 = rng.standard_normal((3, 5))
y0 = gnp.softmax(x0)
for label, g in (("L = sum(y)              ", np.ones_like(y0)),
                 ("L = sum(y ∘ G), G random", rng.standard_normal(y0.shape))):
    numeric = gnp.numerical_gradient(lambda x_: np.sum(gnp.softmax(x_) * g), x0)
    diff = np.abs(buggy_softmax_backward(g, y0) - numeric).max()
    print(f"{label}: max |buggy - numerical| = {diff:.1e} -> {'bug hidden' if diff < 1e-7 else 'bug caught'}")

# %% [markdown]
# ## 4. Why divide by $\sqrt{d_k}$?
#
# If the entries of $q$ and $k$ are independent with mean 0 and variance 1,
# then $q \cdot k = \sum_{i=1}^{d_k} q_i k_i$ has mean 0 and **variance $d_k$**:
# the logits grow with the width. Large logits push the softmax towards a
# one-hot row, where its gradient vanishes ($P \circ (dP - \dots) \approx 0$).
# Dividing by $\sqrt{d_k}$ brings the variance back to 1. Measured:

# %%
def dot_statistics(d_k, n_keys=16, samples=500, seed=0):
    """Sample q·k for random q, k; return variance of q·k, of q·k/√d_k, the mean
    largest softmax weight, and the mean |dS| for a random dP, unscaled and scaled."""
    r = np.random.default_rng(seed)
    qs = r.standard_normal((samples, 1, d_k))
    ks = r.standard_normal((samples, n_keys, d_k))
    logits = (qs @ np.swapaxes(ks, -1, -2))[:, 0, :]  # (samples, n_keys)
    d_p = r.standard_normal(logits.shape)
    stats = {"var": logits.var(), "var_scaled": (logits / math.sqrt(d_k)).var()}
    for tag, z in (("", logits), ("_scaled", logits / math.sqrt(d_k))):
        weights = gnp.softmax(z)
        stats["max_w" + tag] = weights.max(axis=-1).mean()
        stats["ds" + tag] = np.abs(gnp.softmax_backward(d_p, weights)).mean()
    return stats


widths = [4, 16, 64, 256, 1024]
table = {d: dot_statistics(d) for d in widths}
print(f"{'d_k':>5} {'var(q·k)':>9} {'var(q·k/√d_k)':>14} {'max weight':>11} {'(scaled)':>9} {'mean |dS|':>10} {'(scaled)':>9}")
for d, st in table.items():
    print(f"{d:>5} {st['var']:>9.1f} {st['var_scaled']:>14.3f} {st['max_w']:>11.3f} {st['max_w_scaled']:>9.3f} "
          f"{st['ds']:>10.4f} {st['ds_scaled']:>9.4f}")

# %%
fig, (ax1, ax2) = viz.subplots(1, 2, figsize=(7.2, 2.6))
ax1.loglog(widths, [table[d]["var"] for d in widths], "o-", label="var(q·k)")
ax1.loglog(widths, [table[d]["var_scaled"] for d in widths], "s-", label="var(q·k / √d_k)")
ax1.loglog(widths, widths, ":", color="grey", label="d_k")
ax1.set_xlabel("d_k")
ax1.legend(fontsize=7)
ax1.set_title("logit variance")
ax2.semilogx(widths, [table[d]["max_w"] for d in widths], "o-", label="unscaled")
ax2.semilogx(widths, [table[d]["max_w_scaled"] for d in widths], "s-", label="scaled by 1/√d_k")
ax2.set_xlabel("d_k")
ax2.set_ylabel("mean largest weight (16 keys)")
ax2.legend(fontsize=7)
ax2.set_title("saturation of the softmax")
plt.show()

# %% [markdown]
# Unscaled, the variance is $d_k$ and the softmax approaches a one-hot row
# (largest weight near 1, gradients near 0); scaled, the variance stays near 1
# at every width and the gradients keep their size.
#
# ## 5. Stability: extreme logits and masks
#
# `gnp.softmax` subtracts each row's maximum first, so logits of $\pm 10^4$ are
# harmless. The naive formula overflows to `inf / inf = nan`
# (NumPy's overflow warnings are silenced here to keep the output readable):

# %%
big = np.array([[1e4, 0.0, -1e4], [800.0, 799.0, 0.0]])
print("gnp.softmax  :", gnp.softmax(big).tolist())
with np.errstate(over="ignore", invalid="ignore"):
    print("naive softmax:", naive_softmax(big).tolist())

q_big = q * 1e3  # logits around 1e3-1e4
out_big, cache_big = gnp.attention_forward(q_big, k, v)
grads_big = gnp.attention_backward(rng.standard_normal(out_big.shape), cache_big)
print("attention with huge logits: output finite:", bool(np.isfinite(out_big).all()),
      "| gradients finite:", all(bool(np.isfinite(g).all()) for g in grads_big))

# %% [markdown]
# **Masks** follow PyTorch's convention: a boolean mask is `True` where a query
# may attend; a float mask is *added* to the logits ($-\infty$ blocks). A query
# whose keys are all masked out gets a zero output row and zero gradients,
# never NaN. Below: a causal mask (each word sees itself and the words before
# it) that also hides the padding token.

# %%
tokens = ["猫", "喜欢", "吃鱼", "<pad>"]
not_pad = np.array([t != "<pad>" for t in tokens])
mask = causal & not_pad[None, :]  # (n_q, n_k): query i may attend to key j
out_m, cache_m = gnp.attention_forward(q, k, v, mask=mask)
float_mask = np.where(mask, 0.0, -np.inf)
out_f, _ = gnp.attention_forward(q, k, v, mask=float_mask)
print("bool mask and float (-inf) mask agree:", np.allclose(out_m, out_f))
print("weights on masked keys:", cache_m.weights[~mask].max())
fig = viz.attention_heatmap(cache_m.weights, tokens, tokens, title="causal + padding mask")
plt.show()

# %%
fully_masked = mask.copy()
fully_masked[1, :] = False  # query 1 may look at nothing
out_z, cache_z = gnp.attention_forward(q, k, v, mask=fully_masked)
dq_z, dk_z, dv_z = gnp.attention_backward(rng.standard_normal(out_z.shape), cache_z)
print("fully masked row: output", out_z[1], "| dq", dq_z[1], "| any NaN anywhere:",
      any(bool(np.isnan(a).any()) for a in (out_z, dq_z, dk_z, dv_z)))

# %% [markdown]
# ## What to remember
#
# * Forward: $S = QK^\top/\sqrt{d_k}$, $P = \mathrm{softmax}(S)$, $O = PV$.
# * Backward: $dV = P^\top dO$, $dP = dO V^\top$,
#   $dS = P \circ (dP - \mathrm{rowsum}(dO \circ O))$, $dQ = \text{scale}\, dS K$,
#   $dK = \text{scale}\, dS^\top Q$. Forget the row sum and the gradient is wrong.
# * Check gradients in float64 with a random upstream gradient.
# * $1/\sqrt{d_k}$ keeps the logit variance near 1, so the softmax does not saturate.
