# %% [markdown]
# # 08 · Running on a GPU with CuPy (optional)
#
# *Optional: nothing later depends on it. For students who will run models on a GPU.*
#
# Everything in `gemini_np` is written against the *array API*: a kernel never
# calls `numpy.` on its inputs, it asks the inputs which library they belong to
# (`xp = array_namespace(q, k, v)`) and uses that. Hand it NumPy arrays and it
# runs on the CPU; hand it CuPy arrays and the very same lines run on the GPU.
#
# This notebook runs anywhere. On a machine without a GPU (like the one that
# built the copy you are reading, most likely) it explains the switch, runs on
# NumPy, and shows how the CPU-only test suite still proves the GPU path.
#
# **You will learn to**
# * say where an op computes and where new arrays are created;
# * move arrays between host and GPU, and switch the backend;
# * judge a GPU result: the parity check, and why float32 gets a looser bound.
#
# **Prerequisites:** notebook 02.
#
# **Time:** about 20 minutes.

# %%
import math

import numpy as np

import gemini_np as gnp
from gemini_np.backend import array_namespace

np.set_printoptions(precision=4, suppress=True)
print("default backend:", gnp.get_backend().__name__)

# %% [markdown]
# ## 1. Two questions, two answers
#
# * **Where does an op compute?** Where its inputs live. `attention_forward`
#   takes its array module from `q`, `k`, `v`; there is no global switch to forget.
# * **Where are new arrays created?** Model weights and data batches are
#   created on `gnp.get_backend()`: `numpy` by default, `cupy` after
#   `gnp.set_backend("cupy")`, inside `with gnp.use_backend("cupy"):`, or when
#   the environment variable `GEMINI_NP_BACKEND=cupy` is set before the first use.
#
# Random numbers are always drawn on the host with
# `numpy.random.default_rng(seed)` and then moved with `gnp.from_numpy`, so a
# seed gives the same numbers on every backend.
#
# ## 2. Asking for the GPU
#
# `set_backend("cupy")` either returns the `cupy` module or raises
# `gnp.BackendError` with the exact `pip install` command that would fix it.
# We fall back to NumPy so the notebook runs either way:

# %%
try:
    xp = gnp.set_backend("cupy")
    print("CuPy and a GPU are available.")
except gnp.BackendError as error:
    xp = gnp.set_backend("numpy")
    print("No usable GPU here, staying on NumPy. The message says how to get one:\n")
    print(error)
print("\nbackend in use:", xp.__name__)

# %% [markdown]
# ## 3. The same code on whatever backend we got
#
# Draw on the host, move to the backend, compute, and bring the result back
# with `gnp.to_numpy` (on CuPy that is the one explicit device-to-host copy).

# %%
rng = np.random.default_rng(0)
host = {name: rng.standard_normal((2, 64, 16)) for name in ("q", "k", "v")}  # (batch, n, d_k)
q, k, v = (gnp.from_numpy(a, xp=xp) for a in host.values())
out, cache = gnp.attention_forward(q, k, v)
dq, dk, dv = gnp.attention_backward(gnp.from_numpy(rng.standard_normal((2, 64, 16)), xp=xp), cache)
print("inputs live in:", array_namespace(q).__name__, "| output lives in:", array_namespace(out).__name__,
      "| dtype:", out.dtype)
out_host = gnp.to_numpy(out)
print("back on the host:", type(out_host).__name__, out_host.shape)

# %% [markdown]
# ## 4. What the parity check is
#
# A GPU result is trusted when it agrees with a NumPy **float64** reference
# computed on the CPU from the same inputs, in the normwise sense
# $\max|x_{\text{gpu}} - x_{\text{ref}}| \le \text{rtol} \cdot \max|x_{\text{ref}}|$:
#
# * float64 on the GPU: `rtol = 1e-10`. The same formulas in the same
#   precision differ only in summation order, about $10^{-14}$.
# * float32: `rtol = 1e-4`. float32 itself rounds at $6 \cdot 10^{-8}$ and an op
#   sums a few hundred products; that error is a property of float32, not of the GPU.
#
# Each result must also stay in the GPU library (no silent copy to NumPy) and
# keep its dtype (no silent float64 in a float32 path). Here is the same check
# for the backend we have (on NumPy the float64 line is trivially exact; the
# float32 line shows the real float32 rounding):

# %%
RTOL = {"float64": 1e-10, "float32": 1e-4}
reference = gnp.attention_forward(*host.values())[0]  # NumPy float64 on the CPU


def normwise_error(actual, expected):
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))


# %%
for dtype in ("float64", "float32"):
    inputs = [gnp.from_numpy(a.astype(dtype), xp=xp) for a in host.values()]
    result, _ = gnp.attention_forward(*inputs)
    same_library = array_namespace(result) is xp
    same_dtype = str(result.dtype) == dtype
    expected = gnp.attention_forward(*(a.astype(dtype).astype("float64") for a in host.values()))[0]
    error = normwise_error(gnp.to_numpy(result).astype("float64"), expected)
    verdict = "pass" if same_library and same_dtype and error <= RTOL[dtype] else "FAIL"
    print(f"{dtype}: stays in {xp.__name__}: {same_library}, keeps {dtype}: {same_dtype}, "
          f"error {error:.1e} <= rtol {RTOL[dtype]:.0e}: {verdict}")

# %% [markdown]
# The full version of this check, every op forward and backward plus one
# training step of the model, in both dtypes, and a speed table, is the script
# `benchmarks/gpu_check.py`:
#
# ```bash
# PYTHONPATH=. python3 benchmarks/gpu_check.py --out gpu.md   # on a GPU machine
# PYTHONPATH=. python3 benchmarks/gpu_check.py --dry-run      # anywhere: the CPU stand-in below
# ```
#
# ## 5. Proving the GPU path without a GPU
#
# A CPU-only CI machine cannot run CuPy, so how do we know no kernel secretly
# calls NumPy? We run them on `array_api_strict`, a deliberately minimal array
# library that implements only the standard, can place arrays on a second,
# fake device (`device1`), and refuses to be silently converted to NumPy. If a
# kernel called `numpy.` on an input, or mixed devices, it would fail here.
# (`array-api-strict` is a test dependency; the cell skips itself without it.)

# %%
try:
    import array_api_strict as strict
except ImportError:
    strict = None
    print("array_api_strict is not installed (pip install array-api-strict); skipping this demonstration")

if strict is not None:
    device = strict.Device("device1")
    q_s, k_s, v_s = (strict.asarray(a, device=device) for a in host.values())
    out_s, cache_s = gnp.attention_forward(q_s, k_s, v_s)
    grads_s = gnp.attention_backward(strict.asarray(np.ones((2, 64, 16)), device=device), cache_s)
    print("output library:", array_namespace(out_s).__name__, "| device:", out_s.device,
          "| gradients on the same device:", all(g.device == device for g in grads_s))
    print("agrees with NumPy:", np.allclose(np.asarray(gnp.to_numpy(out_s)), reference))

# %% [markdown]
# ## 6. How to switch, in practice
#
# 1. Install the CuPy wheel for your CUDA version, from the repository root:
#    `pip install -e ".[cuda12]"` (CUDA 12) or `pip install -e ".[cuda13]"` (CUDA 13).
#    Check with `nvidia-smi` that the driver sees the GPU.
# 2. Choose the backend, in any of three ways:
#    * in code: `gnp.set_backend("cupy")`, or for a block, `with gnp.use_backend("cupy"): ...`;
#    * from the shell: `GEMINI_NP_BACKEND=cupy python ...`;
#    * for training: `python -m gemini_np train --backend cupy`.
# 3. Put your own arrays on the GPU with `gnp.from_numpy(a)` (or create them with
#    `cupy`), and bring results back with `gnp.to_numpy(x)`; plotting
#    (`gemini_np.viz`) copies to the host by itself. Checkpoints are always saved
#    as NumPy arrays and load on either backend.
# 4. Run the parity check above (`benchmarks/gpu_check.py`) once on a new machine.
#
# Speed: attention is matrix products and a softmax, which a GPU does very well
# once the matrices are large; for the tiny examples of these notebooks the
# CPU is as fast, because every GPU call has a fixed launch cost.

# %%
gnp.set_backend("numpy")  # leave the default as we found it
print("backend restored:", gnp.get_backend().__name__)

# %% [markdown]
# ## What to remember
#
# * An op computes where its inputs live; new arrays are created on `gnp.get_backend()`.
# * Random numbers are drawn on the host, so a seed gives the same numbers on every backend.
# * A GPU result is trusted when it matches a float64 CPU reference: to
#   `1e-10` in float64, to `1e-4` in float32 (float32's own rounding).
