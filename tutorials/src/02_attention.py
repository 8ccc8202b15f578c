# %% [markdown]
# # 02 · Scaled dot-product attention: forward, masks, backward, and why it works
#
# The article's text encoder (§4.1) is written
#
# $$\text{query}_i = \mathrm{softmax}\!\left(\frac{Q_i K^\top}{\sqrt{d_k}}\right) V .$$
#
# One correction before we start, because the name matters: the left-hand side is
# **not a query**. $Q_i$ (row $i$ of $Q$) is the query; the formula computes the
# **output** of attention for that query, also called its *context vector*
# $O_i$. We write $O = \mathrm{softmax}(QK^\top/\sqrt{d_k})\,V$. (Notebook 07
# lists this as erratum 2.)
#
# **You will learn to**
# * run attention forward one formula per line and say the shape of every array;
# * use boolean and additive masks, and know which convention a library uses;
# * go from the scalar chain rule to gradients of matrix expressions;
# * derive and code the backward pass of softmax and of attention (three exercises);
# * check any backward pass against finite differences, and see why the upstream gradient must be random;
# * explain why the logits are divided by $\sqrt{d_k}$.
#
# **Prerequisites:** notebook 01; the derivative of a function of one variable and
# the chain rule; matrix products.
#
# **Time:** about 75 minutes (sections 1-4 are the core, 45 minutes; 5-7 can be set as homework).
#
# Exercises are marked **Your turn**. Their checker prints `[PASS]`, `[FAIL]` with a
# hint, or `[NOT ATTEMPTED]`, and never stops the notebook. Cells marked
# *Solution* come after the exercise they answer.

# %%
import inspect
import math

import matplotlib.pyplot as plt
import numpy as np

import gemini_np as gnp
from gemini_np import reference, viz
from gemini_np.exercises import check
from gemini_np.gradcheck import MODEL_BOUND, OP_BOUND

viz.use_style()
np.set_printoptions(precision=4, suppress=True)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Forward
#
# $X$ holds one row per token ($n$ tokens, $d$ features each). $Q$, $K$, $V$ are
# **projections of the input** by three learned weight matrices: $Q = X W_Q$,
# $K = X W_K$, $V = X W_V$. (The article calls Q, K, V themselves "weight
# matrices"; the weights are the $W$'s.) Then, one formula per line:
#
# | line | shape |
# | --- | --- |
# | $S = Q K^\top / \sqrt{d_k}$ | $(n_q, n_k)$: every query against every key |
# | $P = \mathrm{softmax}(S)$, row by row | $(n_q, n_k)$: each row sums to 1 |
# | $O = P V$ | $(n_q, d_v)$: each output row is a weighted mix of the rows of $V$ |
#
# $d_k$ is the width of queries and keys, $d_v$ the width of values. We write
# $\text{scale} = 1/\sqrt{d_k}$ (section 6 explains why).

# %%
n, d_model, d_k, d_v = 4, 6, 3, 2
x = rng.standard_normal((n, d_model))  # 4 tokens
w_q, w_k, w_v = (rng.standard_normal((d_model, d)) for d in (d_k, d_k, d_v))
q, k, v = x @ w_q, x @ w_k, x @ w_v
out, cache = gnp.attention_forward(q, k, v)
print(f"Q {q.shape}, K {k.shape}, V {v.shape}  ->  O {out.shape}")
print("P = cache.weights:\n", cache.weights)
print("row sums of P:", cache.weights.sum(axis=-1))

# %% [markdown]
# The library's op computes exactly these lines. Its textbook version, the one
# to read, is `gemini_np.reference` (the tuned kernel in
# [`gemini_np/functional/attention.py`](../gemini_np/functional/attention.py) is
# the same lines, optimised: buffers reused in place; the tests hold the two to
# $10^{-12}$). Masks are the subject of section 2.

# %%
print(inspect.getsource(reference.attention_forward))

# %% [markdown]
# ### Your turn (exercise `softmax`): a softmax that never overflows
#
# Write `my_softmax(x)`, the softmax along the last axis,
# $\mathrm{softmax}(x)_j = e^{x_j} / \sum_l e^{x_l}$. It must also work for
# logits such as `[1000, 0]`, where `np.exp(1000)` is `inf`.
# (Hint: $\mathrm{softmax}(x) = \mathrm{softmax}(x - c)$ for any constant $c$ in the
# row: the $e^{-c}$ cancels between numerator and denominator.)

# %%
def my_softmax(x):
    """x: (..., n) -> softmax of x along the last axis, same shape."""
    raise NotImplementedError  # your turn: replace this line with your code


check(my_softmax, "softmax")

# %% [markdown]
# The checker knows the classic mistake. The textbook formula, taken
# literally, is right on small inputs and wrong on large ones:

# %%
def naive_softmax(x):
    e = np.exp(x)  # exp(1000) = inf in float64
    return e / np.sum(e, axis=-1, keepdims=True)


check(naive_softmax, "softmax")

# %% [markdown] tags=["solution"]
# ### Solution: `reference.softmax`
#
# Subtract each row's maximum (every exponent is then $\le 0$), and handle the
# row whose entries are all $-\infty$ (a query that may attend to nothing, section 2):

# %% tags=["solution"]
print(inspect.getsource(reference.softmax))

# %% [markdown]
# ## 2. Masks
#
# A mask decides which keys a query may look at. Two kinds:
#
# * a **boolean** mask, `True` where query $i$ may attend to key $j$; a `False`
#   entry sets the logit to $-\infty$, so its weight $e^{-\infty} = 0$;
# * a **float** mask, *added* to the scaled logits: $0$ keeps a key, $-\infty$ blocks it.
#
# This is the convention of PyTorch's `scaled_dot_product_attention`. Careful:
# PyTorch's `nn.MultiheadAttention` uses the **opposite** meaning for its boolean
# `attn_mask` and `key_padding_mask` (`True` = *not* allowed). Always check a
# library's convention.
#
# Two masks you will meet everywhere: a **padding** mask hides the `<pad>`
# tokens that fill short sentences up to the batch's length, and a **causal**
# mask lets token $i$ see only tokens $0 \dots i$ (a lower-triangular matrix). A
# query whose keys are *all* masked gets a zero output row and zero gradients,
# never NaN.

# %%
tokens = ["猫", "喜欢", "吃鱼", "<pad>"]
causal = np.tril(np.ones((n, n), dtype=bool))  # token i may look at tokens 0..i
not_pad = np.array([t != "<pad>" for t in tokens])  # keys that are real tokens
mask = causal & not_pad[None, :]  # (n_q, n_k): query i may attend to key j
out_m, cache_m = gnp.attention_forward(q, k, v, mask=mask)
out_f, _ = gnp.attention_forward(q, k, v, mask=np.where(mask, 0.0, -np.inf))  # the same as a float mask
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
# ## 3. Backward: from the scalar chain rule to matrices
#
# Training needs the gradient of a scalar loss $L$ with respect to $Q$, $K$ and
# $V$. Some notation first, used from here on:
#
# * $dX = \partial L / \partial X$ is the gradient of $L$ with respect to an array
#   $X$: **it has $X$'s shape**, entry by entry $dX_{ij} = \partial L / \partial X_{ij}$.
#   The backward pass receives $dO$ from the layers above (the *upstream
#   gradient*) and returns $dQ$, $dK$, $dV$.
# * $A \circ B$ is the element-wise product (`A * B` in NumPy), for arrays of one shape.
# * $\mathrm{rowsum}(A)$ is the column of row sums of $A$, shape $(n, 1)$
#   (`A.sum(axis=-1, keepdims=True)`), so that $A - \mathrm{rowsum}(A)$ subtracts
#   each row's sum from that row.
# * $\delta_{jl}$ (Kronecker's delta) is 1 when $j = l$ and 0 otherwise.
#
# ### 3a. One variable
#
# If $L = f(y)$ and $y = g(x)$, then $\frac{dL}{dx} = \frac{dL}{dy}\frac{dy}{dx}$:
# the gradient arriving from above, times the local derivative. Checked with a
# **finite difference**, $\frac{dL}{dx} \approx \frac{L(x+h) - L(x-h)}{2h}$:

# %%
x0, h = 0.7, 1e-5
L = lambda x_: np.sin(x_ ** 2)  # f = sin, g(x) = x²
chain_rule = np.cos(x0 ** 2) * 2 * x0  # dL/dy · dy/dx
finite_difference = (L(x0 + h) - L(x0 - h)) / (2 * h)
print(f"chain rule {chain_rule:.10f}   finite difference {finite_difference:.10f}")

# %% [markdown]
# ### 3b. Vectors: add up every path
#
# If $y = g(x)$ with $x, y \in \mathbb{R}^n$, every $x_l$ influences $L$ through
# every $y_j$, and the contributions add up:
#
# $$dx_l = \sum_j dy_j \, \frac{\partial y_j}{\partial x_l}.$$
#
# The table $J_{jl} = \partial y_j / \partial x_l$ is the **Jacobian**, and
# $dx = J^\top dy$. An example worth knowing (you will need it): normalising a
# positive vector, $y_j = x_j / \Sigma$ with $\Sigma = \sum_l x_l$. By the quotient rule
#
# $$\frac{\partial y_j}{\partial x_l} = \frac{\delta_{jl}}{\Sigma} - \frac{x_j}{\Sigma^2}
# \quad\Longrightarrow\quad
# dx_l = \frac{1}{\Sigma}\Big(dy_l - \sum_j dy_j\, y_j\Big).$$
#
# Checked on a 3-vector, with $L = \sum_j y_j g_j$ for a random $g$ (so $dy = g$):

# %%
xv, g = np.array([1.0, 2.0, 5.0]), rng.standard_normal(3)
normalise = lambda x_: x_ / x_.sum()
total = xv.sum()
jacobian = np.eye(3) / total - xv[:, None] / total ** 2  # J[j, l] = δ_jl/Σ − x_j/Σ²
dx_formula = (g - np.sum(g * normalise(xv))) / total
dx_numeric = gnp.numerical_gradient(lambda x_: np.sum(normalise(x_) * g), xv)
print("Jᵀ g      :", jacobian.T @ g)
print("formula   :", dx_formula)
print("numerical :", dx_numeric)

# %% [markdown]
# ### 3c. Matrices: the matrix-product rule
#
# For $Y = XW$ with $X$ $(2 \times 3)$ and $W$ $(3 \times 2)$, entry by entry
# $Y_{ij} = \sum_k X_{ik} W_{kj}$, so $\partial Y_{ij} / \partial X_{ik} = W_{kj}$ and,
# adding up every path,
#
# $$dX_{ik} = \sum_j dY_{ij} W_{kj} = (dY\, W^\top)_{ik}, \qquad
# dW_{kj} = \sum_i X_{ik}\, dY_{ij} = (X^\top dY)_{kj}.$$
#
# A quick way to remember it: $dX$ must have $X$'s shape $(2 \times 3)$, and the
# only product of $dY$ $(2 \times 2)$ and $W$ that has it is $dY\, W^\top$.
#
# **Predict before you run:** what shape does `dW` have? Then check both formulas
# against finite differences, with $L = \sum Y \circ G$ for a random $G$ (so $dY = G$):

# %%
X, W = rng.standard_normal((2, 3)), rng.standard_normal((3, 2))
G = rng.standard_normal((2, 2))  # the upstream gradient dY
dX, dW = G @ W.T, X.T @ G
dX_numeric = gnp.numerical_gradient(lambda X_: np.sum((X_ @ W) * G), X)
dW_numeric = gnp.numerical_gradient(lambda W_: np.sum((X @ W_) * G), W)
print("dW shape:", dW.shape)
print(f"max |dX - numerical| = {np.abs(dX - dX_numeric).max():.1e}, max |dW - numerical| = {np.abs(dW - dW_numeric).max():.1e}")

# %% [markdown]
# ### Your turn (exercise `softmax_backward`)
#
# Write `my_softmax_backward(dy, y)`: given $y = \mathrm{softmax}(x)$ along the last
# axis and $dy$, return $dx$. Work it out on paper first: softmax is the
# normalisation of 3b applied to $e^{x}$, and $\partial e^{x_l}/\partial x_l = e^{x_l}$.
# The answer needs only `y` and `dy` (no `x`, no Jacobian matrix).

# %%
def my_softmax_backward(dy, y):
    """dy, y: (..., n) -> dx, the gradient of the loss with respect to x, (..., n)."""
    raise NotImplementedError  # your turn


check(my_softmax_backward, "softmax_backward")

# %% [markdown]
# ### Your turn (exercise `attention_backward`)
#
# Write `my_attention_backward(dout, q, k, v)` returning `(dq, dk, dv)` for
# $O = \mathrm{softmax}(QK^\top/\sqrt{d_k})V$, 2-D inputs, no mask. Go through the
# three forward lines in reverse: $O = PV$ is a matrix product (3c);
# $P = \mathrm{softmax}(S)$ is your previous exercise, row by row; $S = QK^\top\cdot\text{scale}$
# is a matrix product again. Recompute $P$ inside your function.

# %%
def my_attention_backward(dout, q, k, v):
    """dout (n_q, d_v), q (n_q, d_k), k (n_k, d_k), v (n_k, d_v) -> (dq, dk, dv), shaped like q, k, v."""
    raise NotImplementedError  # your turn


check(my_attention_backward, "attention_backward")

# %% [markdown] tags=["solution"]
# ### Solution, step 1: the softmax Jacobian
#
# Write $y = \mathrm{softmax}(x)$ as $e_l = e^{x_l}$, $y_j = e_j / \Sigma$ with
# $\Sigma = \sum_l e_l$. By the chain rule and 3b,
# $\partial y_j / \partial x_l = \big(\delta_{jl}/\Sigma - e_j/\Sigma^2\big)\, e_l
# = y_j(\delta_{jl} - y_l)$, so
#
# $$J = \mathrm{diag}(y) - y\,y^\top \quad\text{(symmetric)}, \qquad
# dx_l = \sum_j dy_j\, y_j(\delta_{jl} - y_l) = y_l\Big(dy_l - \sum_j dy_j\, y_j\Big),$$
#
# that is $dx = y \circ (dy - \mathrm{rowsum}(dy \circ y))$ for a batch of rows.
# Checked on a $2 \times 3$ array: the Jacobian of one row against finite
# differences, then the short formula against finite differences:

# %% tags=["solution"]
xs, dy = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
y = gnp.softmax(xs)
J = np.diag(y[0]) - np.outer(y[0], y[0])  # the Jacobian of row 0
J_numeric = np.stack([gnp.numerical_gradient(lambda r: gnp.softmax(r)[j], xs[0]) for j in range(3)])
dx = y * (dy - np.sum(dy * y, axis=-1, keepdims=True))
dx_numeric = gnp.numerical_gradient(lambda x_: np.sum(gnp.softmax(x_) * dy), xs)
print(f"max |J - numerical| = {np.abs(J - J_numeric).max():.1e}")
print(f"max |dx - numerical| = {np.abs(dx - dx_numeric).max():.1e}")

# %% [markdown] tags=["solution"]
# ### Solution, step 2: $dV$ and $dP$ from $O = PV$
#
# $O_{id} = \sum_j P_{ij} V_{jd}$ is a matrix product, so by 3c
#
# $$dV = P^\top dO, \qquad dP = dO\, V^\top .$$
#
# Checked on a $2 \times 3$ matrix $P$ (any matrix will do for this step):

# %% tags=["solution"]
P2, V2 = rng.random((2, 3)), rng.standard_normal((3, 2))
dO2 = rng.standard_normal((2, 2))
dV_numeric = gnp.numerical_gradient(lambda V_: np.sum((P2 @ V_) * dO2), V2)
dP_numeric = gnp.numerical_gradient(lambda P_: np.sum((P_ @ V2) * dO2), P2)
print(f"max |Pᵀ dO - numerical| = {np.abs(P2.T @ dO2 - dV_numeric).max():.1e}")
print(f"max |dO Vᵀ - numerical| = {np.abs(dO2 @ V2.T - dP_numeric).max():.1e}")

# %% [markdown] tags=["solution"]
# ### Solution, step 3: $dS$, $dQ$, $dK$
#
# Step 1 row by row gives $dS = P \circ (dP - \mathrm{rowsum}(dP \circ P))$, and
# $S = QK^\top \cdot \text{scale}$ is a matrix product again:
# $dQ = \text{scale}\cdot dS\, K$ and $dK = \text{scale}\cdot dS^\top Q$.
# All the steps by hand, each compared with the library:

# %% tags=["solution"]
dout = rng.standard_normal(out.shape)  # a random upstream gradient dL/dO
P, scale = cache.weights, cache.scale
dV = P.T @ dout  # from O = P V
dP = dout @ v.T  # from O = P V
dS = P * (dP - np.sum(dP * P, axis=-1, keepdims=True))  # from P = softmax(S)
dQ = scale * dS @ k  # from S = Q Kᵀ · scale
dK = scale * dS.T @ q
lib_dq, lib_dk, lib_dv = gnp.attention_backward(dout, cache)
print("rows of dS sum to 0 (softmax ignores a shift of its row):", np.abs(dS.sum(axis=-1)).max() < 1e-12)
for name, mine, lib in (("dQ", dQ, lib_dq), ("dK", dK, lib_dk), ("dV", dV, lib_dv)):
    print(f"{name}: max |by hand - library| = {np.abs(mine - lib).max():.1e}")

# %% [markdown] tags=["solution"]
# The same lines in `gemini_np.reference` (the tuned kernel in
# [`gemini_np/functional/attention.py`](../gemini_np/functional/attention.py) is the
# same lines, optimised: it gets the row sum from the outputs, since
# $\sum_j dP_{ij} P_{ij} = \sum_j \sum_d dO_{id} V_{jd} P_{ij} = \sum_d dO_{id} O_{id}$,
# $d_v$ terms instead of $n_k$):

# %% tags=["solution"]
print(inspect.getsource(reference.attention_backward))

# %% [markdown]
# ## 4. The numerical gradient check
#
# The check of 3a for every entry: central differences
# $\partial L/\partial x_i \approx \frac{L(x + h e_i) - L(x - h e_i)}{2h}$, in float64, with
# the loss $L = \sum O \circ G$ for a **random** $G$ (so $dO = G$).
# `gnp.rel_error(a, b)` is the largest $|a - b| / \max(10^{-8}, |a| + |b|)$ over the entries.
#
# How small is small enough? The difference quotient itself is off by about
# $h^2 = 10^{-10}$ (times the third derivative) plus the rounding of $L$
# divided by $h$, and a relative error divides that by the size of the gradient
# entry, which can be small. So a correct backward pass typically shows
# $10^{-11}$ to $10^{-8}$, and we require **less than `OP_BOUND`** for a single op;
# a wrong one shows $10^{-2}$ or more. A whole model chains dozens of ops (larger
# rounding, some tiny gradients), so its bound is **`MODEL_BOUND`**. Both are printed
# below from `gemini_np.gradcheck`. With the causal mask of section 2:

# %%
print(f"h = 1e-5, OP_BOUND = {OP_BOUND:.0e}, MODEL_BOUND = {MODEL_BOUND:.0e}")
errors = gnp.check_gradients(gnp.attention_forward, gnp.attention_backward,
                             {"q": q, "k": k, "v": v}, static={"mask": causal}, seed=1)
for name, err in errors.items():
    print(f"d{name}: rel_error = {err:.1e}")
print(f"gradient check (bound {OP_BOUND:.0e}): {'pass' if max(errors.values()) < OP_BOUND else 'FAIL'}")

# %% [markdown]
# ### Why the upstream gradient must be random
#
# **Predict before you run.** Softmax rows always sum to 1. With the lazy loss
# $L = \sum y$ (that is, $dy$ all ones), what is the true gradient $dx$? Can a
# gradient check with that loss catch a bug?
#
# Below, a plausible bug: subtracting the *plain* mean of $dy$ instead of the
# $y$-weighted sum. (The true gradient of the lazy loss is 0, where a relative
# error means nothing, so we print the absolute difference.)

# %%
def buggy_softmax_backward(dy, y):
    return y * (dy - np.mean(dy, axis=-1, keepdims=True))  # a wrong row term


x0 = rng.standard_normal((3, 5))
y0 = gnp.softmax(x0)
for label, g in (("L = sum(y)              ", np.ones_like(y0)),
                 ("L = sum(y ∘ G), G random", rng.standard_normal(y0.shape))):
    numeric = gnp.numerical_gradient(lambda x_: np.sum(gnp.softmax(x_) * g), x0)
    diff = np.abs(buggy_softmax_backward(g, y0) - numeric).max()
    print(f"{label}: max |buggy - numerical| = {diff:.1e} -> {'bug hidden' if diff < 1e-7 else 'bug caught'}")

# %% [markdown]
# The true gradient of $\sum y$ is exactly 0 (the sum never changes), and
# the bug also returns 0 for a constant $dy$: the lazy check cannot see it.
#
# ## 5. Why divide by $\sqrt{d_k}$?
#
# If the entries of $q$ and $k$ are independent with mean 0 and variance 1,
# then $q \cdot k = \sum_{i=1}^{d_k} q_i k_i$ has mean 0 and **variance $d_k$**:
# the logits grow with the width. Large logits push the softmax towards a
# one-hot row, where its gradient vanishes ($y \circ (dy - \dots) \approx 0$ when
# $y$ is one-hot). Dividing by $\sqrt{d_k}$ brings the variance back to 1.
#
# **Predict before you run:** with 16 keys and $d_k = 1024$, unscaled, is the
# largest softmax weight of a row nearer $1/16$, $1/2$ or $1$? Measured:

# %%
def dot_statistics(d_k, n_keys=16, samples=500, seed=0):
    """Sample q·k for random q, k: variance of q·k and of q·k/√d_k, mean largest weight, mean |dS|."""
    r = np.random.default_rng(seed)
    logits = (r.standard_normal((samples, 1, d_k)) @ r.standard_normal((samples, n_keys, d_k)).mT)[:, 0, :]
    d_p = r.standard_normal(logits.shape)
    stats = {"var": logits.var(), "var_scaled": (logits / math.sqrt(d_k)).var()}
    for tag, z in (("", logits), ("_scaled", logits / math.sqrt(d_k))):
        weights = gnp.softmax(z)
        stats["max_w" + tag] = weights.max(axis=-1).mean()
        stats["ds" + tag] = np.abs(gnp.softmax_backward(d_p, weights)).mean()
    return stats


# %%
widths = [4, 16, 64, 256, 1024]
table = {d: dot_statistics(d) for d in widths}
print(f"{'d_k':>5} {'var(q·k)':>9} {'var(q·k/√d_k)':>14} {'max weight':>11} {'(scaled)':>9} {'mean |dS|':>10} {'(scaled)':>9}")
for d, st in table.items():
    print(f"{d:>5} {st['var']:>9.1f} {st['var_scaled']:>14.3f} {st['max_w']:>11.3f} {st['max_w_scaled']:>9.3f} "
          f"{st['ds']:>10.4f} {st['ds_scaled']:>9.4f}")

# %%
column = lambda key: [table[d][key] for d in widths]
fig = viz.scaling_figure(widths, column("var"), column("var_scaled"), column("max_w"), column("max_w_scaled"), n_keys=16)
plt.show()

# %% [markdown]
# Unscaled, the variance follows the dashed line $d_k$ and the softmax
# approaches a one-hot row (largest weight near 1, gradients near 0); scaled,
# the variance stays near 1 at every width and the gradients keep their size.
#
# ## 6. Stability: extreme logits
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
# ## What to remember
#
# * Forward: $S = QK^\top/\sqrt{d_k}$, $P = \mathrm{softmax}(S)$ row by row, $O = PV$.
#   $O$ is the output (context vector), not a "query".
# * Masks: here and in PyTorch's `scaled_dot_product_attention`, boolean `True` =
#   may attend (`nn.MultiheadAttention`: the opposite); a fully masked row gives zeros.
# * Gradients: $dX$ has $X$'s shape; for $Y = XW$, $dX = dY W^\top$ and $dW = X^\top dY$;
#   along a vector, add up every path (the Jacobian).
# * Check a backward pass in float64 against finite differences with a **random**
#   upstream gradient: below `OP_BOUND` for one op, `MODEL_BOUND` for a model.
# * $1/\sqrt{d_k}$ keeps the logit variance near 1, so the softmax does not saturate.
#
# Next: notebook 03 applies the same attention inside each patch of an image.

# %% [markdown] tags=["solution"]
# **And the backward formulas** (exercise `attention_backward`): $dV = P^\top dO$,
# $dP = dO V^\top$, $dS = P \circ (dP - \mathrm{rowsum}(dP \circ P))$, $dQ = \text{scale}\, dS K$,
# $dK = \text{scale}\, dS^\top Q$. Forget the row sum and the gradient is wrong.
