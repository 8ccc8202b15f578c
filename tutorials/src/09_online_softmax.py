# %% [markdown]
# # 09 · The online softmax and memory-efficient attention (optional)
#
# *Optional: for students curious about how FlashAttention-style kernels save memory.*
#
# Attention as written, $O = \mathrm{softmax}(Q K^\top / \sqrt{d_k})\, V$, builds the
# whole $n_q \times n_k$ matrix $P$ and, for the backward pass, keeps it. Take one
# head with $n = 4096$ tokens of $d = 64$ features each, in float64 (8 bytes a
# number): $Q$, $K$, $V$ and $O$ are $4096 \times 64$, 2 MiB each, while $P$ has
# $4096^2 \approx 16.8$ million entries, 128 MiB, per head and per layer (these
# numbers are computed in section 5).
#
# This notebook derives the trick that removes the $n \times n$ matrix (the
# *online softmax* of Milakov & Gimelshein, 2018, which FlashAttention builds on),
# then checks numerically that `attention_forward(..., block_size=b)` gives the same
# numbers and gradients as the plain path, and measures its memory.
#
# **You will learn to**
# * compute a softmax in one pass over a stream, rescaling a running sum;
# * carry the attention output along, block of keys by block of keys;
# * rebuild $P$ in the backward pass from one number per row (the log-sum-exp);
# * measure memory with `tracemalloc`.
#
# **Prerequisites:** notebook 02 (attention, its backward, masks).
#
# **Time:** about 40 minutes.

# %%
import math
import tracemalloc

import matplotlib.pyplot as plt
import numpy as np

import gemini_np as gnp
from gemini_np import viz
from gemini_np.gradcheck import OP_BOUND

viz.use_style()
np.set_printoptions(precision=4, suppress=True)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The softmax of a stream
#
# The stable softmax of a row $x_1, \dots, x_n$ needs two passes over it: one for
# $m = \max_j x_j$, one for $l = \sum_j e^{x_j - m}$; then $\mathrm{softmax}(x)_j = e^{x_j - m} / l$.
# Can we get $m$ and $l$ in **one** pass, seeing each $x_j$ only once?
#
# Keep the max and the sum *of what we have seen so far*, $m_j$ and $l_j$:
#
# $$m_j = \max(m_{j-1}, x_j), \qquad l_j = l_{j-1}\, e^{m_{j-1} - m_j} + e^{x_j - m_j},
# \qquad m_0 = -\infty,\; l_0 = 0 .$$
#
# Why the factor $e^{m_{j-1} - m_j}$: $l_{j-1} = \sum_{i<j} e^{x_i - m_{j-1}}$ was summed
# relative to the old max. Multiplying by $e^{m_{j-1} - m_j}$ turns every term into
# $e^{x_i - m_{j-1}} e^{m_{j-1} - m_j} = e^{x_i - m_j}$, relative to the new max. So by
# induction $l_j = \sum_{i \le j} e^{x_i - m_j}$, and at the end $l_n = \sum_i e^{x_i - m}$
# exactly. Every exponent is $\le 0$, so nothing overflows. When the max does not
# change, the factor is $e^0 = 1$.
#
# Here it is element by element, on a row whose maximum arrives late:

# %%
x = np.array([1.0, 3.0, -2.0, 7.0, 0.5])
m, l = -math.inf, 0.0
print(f"{'j':>2} {'x_j':>5} {'m_j':>5} {'rescale e^(m_old-m_new)':>24} {'l_j':>9}")
for j, x_j in enumerate(x, start=1):
    m_new = max(m, x_j)
    rescale = math.exp(m - m_new)  # exp(-inf) = 0 on the first step
    l = l * rescale + math.exp(x_j - m_new)
    m = m_new
    print(f"{j:>2} {x_j:>5.1f} {m:>5.1f} {rescale:>24.6f} {l:>9.6f}")

two_pass = np.sum(np.exp(x - x.max()))
print("one pass: m =", m, " l =", round(l, 12))
print("two passes: max =", x.max(), " sum exp(x - max) =", round(two_pass, 12))
print("softmax from (m, l) equals gnp.softmax:", np.allclose(np.exp(x - m) / l, gnp.softmax(x), rtol=1e-15, atol=0))

# %% [markdown]
# ## 2. Blocks of keys, and the output carried along
#
# For attention, $x$ is one row of logits $S_{i,:}$, and what we want is not the
# weights but the output $O_i = \sum_j P_{ij} V_j = \frac{1}{l} \sum_j e^{S_{ij} - m} V_j$.
# The unnormalised sum $\text{acc} = \sum_j e^{S_{ij} - m} V_j$ is rescaled exactly
# like $l$. Taking the keys $b$ at a time (a block $S_b = Q K_b^\top \cdot \text{scale}$,
# all queries at once), the update per block is
#
# $$\begin{aligned}
# m_{\text{new}} &= \max\big(m, \operatorname{rowmax} S_b\big) \\
# \tilde P_b &= e^{S_b - m_{\text{new}}} && (n_q \times b) \\
# l &\leftarrow e^{m - m_{\text{new}}}\, l + \operatorname{rowsum} \tilde P_b \\
# \text{acc} &\leftarrow e^{m - m_{\text{new}}}\, \text{acc} + \tilde P_b V_b \\
# m &\leftarrow m_{\text{new}}
# \end{aligned}$$
#
# and after the last block $O = \text{acc} / l$. The largest array ever held is
# one $n_q \times b$ block. Query rows never interact, so the library also takes the
# queries $b$ at a time (a plain outer loop): every block $S_b$ is then $b \times b$,
# small enough to stay in the CPU's cache. A query whose keys are *all* masked keeps
# $m = -\infty$; the code then shifts by 0 instead (never $-\infty - (-\infty)$ = NaN),
# $l$ stays 0, and the output row is 0, just as on the plain path.
#
# Here are those lines for one sequence, one formula per line, with no
# mask. The library's `block_size=` path
# ([`gemini_np/functional/blocked.py`](../gemini_np/functional/blocked.py)) is the
# same lines, optimised: an outer loop over blocks of queries, masks, batches,
# buffers reused.

# %%
def online_attention(q, k, v, b):
    """softmax(Q Kᵀ/√d_k) V for q (n_q, d_k), k (n_k, d_k), v (n_k, d_v), keys b at a time."""
    scale = 1 / math.sqrt(q.shape[-1])
    m = np.full((q.shape[0], 1), -np.inf)  # running max per query row
    l = np.zeros((q.shape[0], 1))  # running sum of exp(S - m)
    acc = np.zeros((q.shape[0], v.shape[-1]))  # running sum of exp(S - m) V
    for start in range(0, k.shape[0], b):
        s_b = q @ k[start:start + b].T * scale  # S_b, (n_q, b)
        m_new = np.maximum(m, s_b.max(axis=-1, keepdims=True))
        p_b = np.exp(s_b - m_new)  # P~_b
        rescale = np.exp(m - m_new)  # e^(m - m_new): 0 on the first block
        l = rescale * l + p_b.sum(axis=-1, keepdims=True)
        acc = rescale * acc + p_b @ v[start:start + b]
        m = m_new
    return acc / l


q1, k1, v1 = rng.standard_normal((5, 4)), rng.standard_normal((12, 4)), rng.standard_normal((12, 3))
print("max |online_attention - attention_forward| =",
      f"{np.abs(online_attention(q1, k1, v1, b=5) - gnp.attention_forward(q1, k1, v1)[0]).max():.1e}")

# %% [markdown]
# Same inputs, plain path against the blocked path with block sizes that do and do
# not divide $n_k = 12$ (the last block is then shorter), with a causal mask:

# %%
n_q, n_k, d_k, d_v = 12, 12, 8, 4
q, k, v = (rng.standard_normal((2, n, d)) for n, d in ((n_q, d_k), (n_k, d_k), (n_k, d_v)))
causal = np.tril(np.ones((n_q, n_k), dtype=bool))
out_plain, cache_plain = gnp.attention_forward(q, k, v, mask=causal)


def rel_diff(a, b):
    """Normwise relative difference max|a - b| / max|b|."""
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


worst_forward = 0.0
for b in (1, 3, 5, 12, 64):
    out_b, cache_b = gnp.attention_forward(q, k, v, mask=causal, block_size=b)
    worst_forward = max(worst_forward, rel_diff(out_b, out_plain))
    print(f"block_size {b:>2}: {math.ceil(n_k / b):>2} key blocks, "
          f"cache.weights is {cache_b.weights}, rel. difference of O = {rel_diff(out_b, out_plain):.1e}")
print(f"forward: max relative difference blocked vs plain = {worst_forward:.1e}")

# %% [markdown]
# ## 3. The log-sum-exp, and the backward pass block by block
#
# The backward pass needs $P$ (for $dV = P^\top dO$ and $dS = P \circ (dP - \operatorname{rowsum}(dO \circ O))$).
# We did not keep it, but one number per query row is enough to rebuild any entry:
# the **log-sum-exp** $\text{lse}_i = m_i + \log l_i = \log \sum_j e^{S_{ij}}$, because
#
# $$P_{ij} = \frac{e^{S_{ij}}}{\sum_l e^{S_{il}}} = e^{S_{ij} - \text{lse}_i}.$$
#
# So the backward pass walks the key blocks again, computes $S_b$ once more,
# $P_b = e^{S_b - \text{lse}}$, and from it the block's share of every gradient:
#
# $$dV_b = P_b^\top dO, \quad dP_b = dO\, V_b^\top, \quad
# dS_b = P_b \circ \big(dP_b - \operatorname{rowsum}(dO \circ O)\big), \quad
# dQ \mathrel{+}= \text{scale}\cdot dS_b K_b, \quad dK_b = \text{scale}\cdot dS_b^\top Q .$$
#
# $\operatorname{rowsum}(dO \circ O) = \operatorname{rowsum}(dP \circ P)$ (notebook 02) is
# computed once, from arrays of size $n_q \times d_v$. The price of the saved memory:
# $Q K^\top$ is computed twice, in the forward and again in the backward.
#
# `cache.lse` holds the log-sum-exp; rebuilding $P$ from it gives the plain path's weights:

# %%
out_b, cache_b = gnp.attention_forward(q, k, v, mask=causal, block_size=5)
s = q @ k.transpose(0, 2, 1) / math.sqrt(d_k)
s = np.where(causal, s, -np.inf)
print("cache.lse shape:", cache_b.lse.shape, "(one number per query row)")
print("max |exp(S - lse) - P_plain| =", f"{np.max(np.abs(np.exp(s - cache_b.lse) - cache_plain.weights)):.1e}")

dout = rng.standard_normal(out_plain.shape)  # a random upstream gradient
grads_plain = gnp.attention_backward(dout, cache_plain)
worst_backward = 0.0
for b in (1, 3, 5, 12, 64):
    _, cache_b = gnp.attention_forward(q, k, v, mask=causal, block_size=b)
    for name, g_b, g in zip(("dq", "dk", "dv"), gnp.attention_backward(dout, cache_b), grads_plain):
        worst_backward = max(worst_backward, rel_diff(g_b, g))
print(f"backward: max relative difference blocked vs plain = {worst_backward:.1e}")

# %% [markdown]
# ## 4. Checks
#
# **Finite differences** (float64, random upstream gradient, as for every op), on
# the blocked path itself, with a padding mask and a block size that does not
# divide $n_k$:

# %%
q4, k4, v4 = (rng.standard_normal((2, n, 3)) for n in (4, 5, 5))
padding = np.array([True, True, True, False, True])  # key 3 is padding
errors = gnp.check_gradients(gnp.attention_forward, gnp.attention_backward, {"q": q4, "k": k4, "v": v4},
                             {"mask": padding, "block_size": 2})
for name, error in errors.items():
    print(f"d{name}: rel_error = {error:.1e}")
print(f"blocked gradient check (bound {OP_BOUND:.0e}):", "pass" if max(errors.values()) < OP_BOUND else "FAIL")

# %% [markdown]
# **Extreme logits.** Logits up to $\pm 10^4$, with each row's largest one in the
# *last* block of two keys: when it arrives, the running max jumps by about $10^4$
# (each row's jump is computed below from its own logits) and the rescaling factor
# $e^{m_{\text{old}} - m_{\text{new}}}$ underflows to exactly 0, which is right:
# everything seen before weighs nothing next to it.

# %%
q5 = np.array([[1e2], [-1e2]])
k5 = np.array([[0.5], [0.0], [-1e2], [1e2]])  # logits q·k up to ±1e4 (scale 1)
v5 = np.arange(8.0).reshape(4, 2)
logits5 = q5 @ k5.T  # (2 queries, 4 keys); blocks of 2 keys
for i, row in enumerate(logits5):
    m_old, m_new = row[:2].max(), max(row[:2].max(), row[2:].max())
    print(f"query {i}: logits {row.tolist()}, running max {m_old:g} -> {m_new:g}, jump {m_new - m_old:g}, "
          f"factor e^({m_old - m_new:g}) = {math.exp(m_old - m_new)}")
for dtype in (np.float32, np.float64):
    out5, cache5 = gnp.attention_forward(*(a.astype(dtype) for a in (q5, k5, v5)), scale=1.0, block_size=2)
    grads5 = gnp.attention_backward(np.ones_like(out5), cache5)
    finite = all(np.all(np.isfinite(a)) for a in (out5, *grads5))
    print(f"{np.dtype(dtype).name}: O = {out5.tolist()}, all finite: {finite}")

# %% [markdown]
# **Fully masked rows.** Query 0 may attend to nothing; query 1 has its whole first
# block masked, so its running max stays $-\infty$ for a block before becoming finite:

# %%
allowed = np.array([[0, 0, 0, 0], [0, 0, 1, 1], [1, 0, 1, 0]], dtype=bool)
q6, k6, v6 = (rng.standard_normal((n, 2)) for n in (3, 4, 4))
out6, cache6 = gnp.attention_forward(q6, k6, v6, mask=allowed, block_size=2)
dq6, dk6, dv6 = gnp.attention_backward(np.ones_like(out6), cache6)
print("output row of the fully masked query:", out6[0], " its dq:", dq6[0])
print("any NaN:", any(np.isnan(a).any() for a in (out6, dq6, dk6, dv6)))
print("same as plain:", np.allclose(out6, gnp.attention_forward(q6, k6, v6, mask=allowed)[0], rtol=1e-12, atol=1e-15))

# %% [markdown]
# ## 5. Memory
#
# `tracemalloc` sees every buffer NumPy allocates. We measure the peak of one
# forward + backward pass above what was in use before it (so the inputs do not
# count; the cache and the gradients do), at $n = 4096$, $d = 64$, one head, float64.

# %%
def peak_mib(fn):
    """Peak memory (MiB) that fn() allocates on top of what is already in use."""
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak / 2**20


def forward_backward(q, k, v, dout, block_size=None):
    out, cache = gnp.attention_forward(q, k, v, block_size=block_size)
    return gnp.attention_backward(dout, cache)


# %%
n, d = 4096, 64
qn, kn, vn, dn = (rng.standard_normal((1, n, d)) for _ in range(4))
plain_mib = peak_mib(lambda: forward_backward(qn, kn, vn, dn))
print(f"one n x d float64 array (Q, K, V or O): {n * d * 8 / 2**20:.0f} MiB")
print(f"one n x n float64 matrix: {n * n / 1e6:.1f} million numbers, {n * n * 8 / 2**20:.0f} MiB")
print(f"plain path peak: {plain_mib:.0f} MiB (P in the cache plus dS)")
block_sizes = [256, 512, 1024, 2048]
blocked_mib = {b: peak_mib(lambda: forward_backward(qn, kn, vn, dn, b)) for b in block_sizes}
for b, mib in blocked_mib.items():
    print(f"block_size {b:>4}: peak {mib:6.1f} MiB = {mib / plain_mib:5.1%} of plain")
print(f"peak memory ratio at block_size 256: {blocked_mib[256] / plain_mib:.3f}")

# %% [markdown]
# The blocked path's peak is a few $b \times b$ blocks ($S_b$ turning into $P_b$, and $dS_b$)
# plus a handful of $n \times d$ arrays (the cache, the gradients), so it grows with $b$
# only once the blocks outweigh those; the plain path's is two $n \times n$ matrices.
# And as $n$ grows, the plain path's memory grows like $n^2$, the blocked path's like $n$:

# %%
ns = [512, 1024, 2048, 4096]
plain_by_n, blocked_by_n = [], []
for n_ in ns[:-1]:  # n = 4096 was measured above
    a, b_, c, g = (rng.standard_normal((1, n_, d)) for _ in range(4))
    plain_by_n.append(peak_mib(lambda: forward_backward(a, b_, c, g)))
    blocked_by_n.append(peak_mib(lambda: forward_backward(a, b_, c, g, 256)))
plain_by_n.append(plain_mib)
blocked_by_n.append(blocked_mib[256])

fig = viz.memory_figure(block_sizes, list(blocked_mib.values()), plain_mib, ns, plain_by_n, blocked_by_n, n, d, 256)
plt.show()

# %% [markdown]
# ## 6. Aside: the plain path saves memory too, by overwriting
#
# Written the clear way, one formula per line, the plain forward allocates a new
# $n \times n$ array on almost every line: $QK^\top$, its scaled copy, $S - m$, $e^{S-m}$, and
# $P$. The library computes exactly the same lines but lets each one overwrite the
# buffer of the previous (`s -= m`, `exp(s, out=s)`, `s /= l`; see the comments in
# `functional/attention.py`), so only one $n \times n$ array ever exists: the $P$ it returns.
# Allocating a large array costs time as well as memory (the OS has to hand over fresh
# pages), so this is also most of what makes the plain path fast.

# %%
def clear_forward(q, k, v):
    """The textbook lines, each making a new array."""
    s = q @ k.mT / math.sqrt(q.shape[-1])
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    p = e / e.sum(axis=-1, keepdims=True)
    return p @ v, p


n = 2048
qc, kc, vc = (rng.standard_normal((1, n, d)) for _ in range(3))
one_matrix = n * n * 8 / 2**20
clear_mib = peak_mib(lambda: clear_forward(qc, kc, vc))
library_mib = peak_mib(lambda: gnp.attention_forward(qc, kc, vc))
print(f"n = {n}: one n x n float64 matrix = {one_matrix:.0f} MiB")
print(f"clear version, forward peak:   {clear_mib:5.0f} MiB = {clear_mib / one_matrix:.1f} matrices")
print(f"library (in place), forward:   {library_mib:5.0f} MiB = {library_mib / one_matrix:.1f} matrices")
print("same numbers:", np.allclose(clear_forward(qc, kc, vc)[0], gnp.attention_forward(qc, kc, vc)[0], rtol=1e-12, atol=1e-14))

# %% [markdown]
# ## What to remember
#
# * The online softmax keeps a running max $m$ and a running sum $l$ per row and
#   rescales the sum by $e^{m_{\text{old}} - m_{\text{new}}}$ whenever the max grows;
#   the output accumulator is rescaled the same way. The result is exactly the softmax,
#   not an approximation: blocked and plain agree to rounding (the maxima printed
#   above are far below the bound of $10^{-10}$ that the tests enforce).
# * The cache keeps $O$ and one log-sum-exp per query instead of $P$; the backward pass
#   rebuilds $P_b = e^{S_b - \text{lse}}$ block by block.
# * At $n = 4096$ the peak memory of forward + backward drops to about a twentieth of
#   the plain path's (block size 256, printed above; the tests require at most 15%); the
#   cost is a second $Q K^\top$ in the backward pass.
#   `python benchmarks/bench_attention.py` times both paths (README, "Performance").
# * The plain path is the one to read first (notebook 02); it keeps one $n \times n$
#   buffer by overwriting it line by line. `block_size=` is for long sequences.
