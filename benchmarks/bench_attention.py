"""Attention forward + backward: gemini_np against PyTorch CPU eager.

Run from the repository root (takes about four minutes; ``--quick`` about half a minute):

    python benchmarks/bench_attention.py            # full table
    python benchmarks/bench_attention.py --quick    # fewer repeats, one block size
    python benchmarks/bench_attention.py --repeats 21 --dtypes float32
    python benchmarks/bench_attention.py --threads 1   # both libraries single-threaded
    python benchmarks/bench_attention.py --shapes 32,128,64 --omp-wait default   # one shape, PyTorch spinning

What is timed, per shape (B = batch*heads, n = n_q = n_k, d = d_k = d_v):

* gemini_np: ``attention_forward(q, k, v)`` then ``attention_backward(dout, cache)``.
* PyTorch:   ``scaled_dot_product_attention(q, k, v)`` then ``torch.autograd.grad``
  (eager mode, CPU, ``torch.set_num_threads`` = the number of threads NumPy's BLAS uses).

The two are interleaved in one process (gemini, torch, gemini, torch, ...) so that
load from other processes hits both alike; each cell is the median of ``--repeats`` runs
after one warm-up run each. Interleaving has one trap, which the script removes by default:
PyTorch's OpenMP threads spin for a while after each of its kernels and take the cores
NumPy's next call needs (see ``set_omp_wait_policy``); ``OMP_WAIT_POLICY=PASSIVE`` makes
them sleep instead, which is faster for PyTorch as well. ``--omp-wait default`` shows the
difference.

FLOP convention (the same count for both, whatever they do internally): the forward is
two matmuls, S = Q Kᵀ and O = P V, i.e. 4·B·n²·d; the backward is four, dV = Pᵀ dO,
dP = dO Vᵀ, dQ = dS K and dK = dSᵀ Q, i.e. 8·B·n²·d. GF/s = 12·B·n²·d / time.
Elementwise work (exp, max, sums) is not counted. PyTorch's fused CPU kernel recomputes
Q Kᵀ in its backward (it keeps no n×n matrix), which it is not credited for here.

The ceiling is the machine's own matmul speed: one large square GEMM in NumPy
(and in PyTorch, when installed), 2·N³ flops.

The last table is the memory-efficient path (``block_size=b``, online softmax) against
the plain path at n = 4096: median time and the tracemalloc peak of forward + backward
(inputs excluded; the cache and the gradients included).
"""
from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
import tracemalloc

import numpy

import gemini_np
from gemini_np import attention_backward, attention_forward
from gemini_np.progress import ProgressBar

SHAPES = [(32, 128, 64), (32, 512, 64), (8, 1024, 64), (1, 4096, 64)]
BLOCKED_SHAPE = (1, 4096, 64)
BLOCK_SIZES = (128, 256, 512)


# --------------------------------------------------------------------------- helpers

def blas_threads() -> tuple[int, str]:
    """How many threads NumPy's BLAS uses, and how we know."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        for lib in threadpool_info():
            if lib.get("user_api") == "blas":
                return int(lib["num_threads"]), f"{lib.get('internal_api')} {lib.get('version')}, via threadpoolctl"
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var]), f"from ${var} (threadpoolctl not installed)"
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return n, "assumed = usable cores (threadpoolctl not installed)"


_LIMITER = None  # keeps the threadpoolctl limit alive for the whole run


def limit_blas_threads(parser, n: int) -> None:
    global _LIMITER
    if n < 1:
        parser.error(f"--threads must be >= 1, got {n}")
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        parser.error("--threads needs threadpoolctl (pip install threadpoolctl), "
                     "or set OPENBLAS_NUM_THREADS before starting Python")
    _LIMITER = threadpool_limits(limits=n, user_api="blas")


def set_omp_wait_policy(choice: str) -> str:
    """Set OMP_WAIT_POLICY=PASSIVE unless asked not to (or already set); return what holds.

    Why: PyTorch's CPU build runs its kernels on GNU OpenMP threads, which by default keep
    spinning for a while after each parallel region. Interleaved with NumPy in one process,
    those spinning threads hold the cores that OpenBLAS's threads (and NumPy's elementwise
    loops) need next. On the 2-core machine of the README (four runs of each setting, the
    (32, 128, 64) float32 step) spinning made gemini_np take 19.5–22.0 ms instead of
    12.1–18.0 ms, and PyTorch 15.3–18.0 ms instead of 12.3–13.4 ms: passive waiting is
    faster for both libraries.
    """
    if "OMP_WAIT_POLICY" in os.environ:
        return f"{os.environ['OMP_WAIT_POLICY']} (from the environment)"
    if choice == "passive":
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        return "PASSIVE (set by this script; --omp-wait default leaves libgomp's spinning default)"
    return "unset (libgomp's default: threads spin after each parallel region)"


def parse_shape(text: str) -> tuple[int, int, int]:
    """'32,128,64' -> (32, 128, 64): batch·heads, n, d."""
    try:
        b, n, d = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a shape is three positive ints B,n,d (e.g. 32,128,64), got {text!r}")
    if min(b, n, d) < 1:
        raise argparse.ArgumentTypeError(f"a shape is three positive ints B,n,d, got {text!r}")
    return b, n, d


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def attention_flops(b: int, n: int, d: int) -> int:
    """4·B·n²·d forward + 8·B·n²·d backward (see the module docstring)."""
    return 12 * b * n * n * d


def inputs(b, n, d, dtype, seed=0):
    rng = numpy.random.default_rng(seed)
    return [rng.standard_normal((b, n, d)).astype(dtype) for _ in range(4)]  # q, k, v, dout


def gemini_step(q, k, v, dout, block_size=None):
    out, cache = attention_forward(q, k, v, block_size=block_size) if block_size else attention_forward(q, k, v)
    return attention_backward(dout, cache)


def make_torch_step(torch, q, k, v, dout):
    import torch.nn.functional as F

    qt, kt, vt = (torch.from_numpy(a).requires_grad_(True) for a in (q, k, v))
    dt = torch.from_numpy(dout)

    def step():
        out = F.scaled_dot_product_attention(qt, kt, vt)
        return torch.autograd.grad(out, (qt, kt, vt), dt)

    return step


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleaved_medians(fns: dict, repeats: int, progress: ProgressBar | None = None) -> dict:
    """Median wall time of each callable, run alternately, one untimed warm-up each."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(timed(fn))
        if progress:
            progress.step()
    return {name: statistics.median(t) for name, t in times.items()}


def matmul_ceiling(dtype, n, repeats, torch=None) -> dict:
    """GF/s of one n×n @ n×n product, NumPy (and PyTorch)."""
    a, b = inputs(1, n, n, dtype)[:2]
    a, b = a[0], b[0]
    fns = {"numpy": lambda: a @ b}
    if torch is not None:
        at, bt = torch.from_numpy(a), torch.from_numpy(b)
        fns["torch"] = lambda: at @ bt
    med = interleaved_medians(fns, repeats)
    return {name: 2 * n**3 / t / 1e9 for name, t in med.items()}


def peak_bytes(fn) -> int:
    """tracemalloc peak of fn() above what was allocated before it (NumPy reports its buffers)."""
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    result = fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del result
    return peak - base


# --------------------------------------------------------------------------- main

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per cell (default 9, --quick 3)")
    parser.add_argument("--quick", action="store_true", help="3 repeats, one block size, a smaller GEMM")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even when installed")
    parser.add_argument("--no-blocked", action="store_true", help="skip the blocked (memory-efficient) table")
    parser.add_argument("--threads", type=int, default=None,
                        help="limit NumPy's BLAS (via threadpoolctl) and torch to this many threads")
    parser.add_argument("--omp-wait", choices=["passive", "default"], default="passive",
                        help="PyTorch's OpenMP threads: sleep as soon as their work is done (passive, "
                             "the default here), or libgomp's default of spinning a while (default)")
    parser.add_argument("--shapes", nargs="+", type=parse_shape, default=SHAPES, metavar="B,n,d",
                        help="shapes of the main table (default: " + " ".join(",".join(map(str, s)) for s in SHAPES) + ")")
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 9)
    if repeats < 1:
        parser.error(f"--repeats must be >= 1, got {repeats}")
    omp_wait = set_omp_wait_policy(args.omp_wait)  # before torch is imported: libgomp reads it once

    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            torch = None
    if args.threads is not None:
        limit_blas_threads(parser, args.threads)
    threads, how = blas_threads()
    if torch is not None:
        torch.set_num_threads(threads)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {cpu_model()}, {os.cpu_count()} logical cores, load average {load:.2f} at start")
    print(f"python {platform.python_version()}, numpy {numpy.__version__}, gemini_np {gemini_np.__version__}"
          + (f", torch {torch.__version__}" if torch is not None else ", torch not installed (its columns are skipped)"))
    print(f"BLAS threads: {threads} ({how})" + (f"; torch.set_num_threads({threads})" if torch is not None else ""))
    if torch is not None:
        print(f"OMP_WAIT_POLICY for PyTorch's OpenMP threads: {omp_wait}")
    print(f"medians of {repeats} interleaved runs after one warm-up; FLOPs = 12·B·n²·d per forward+backward")
    print()

    gemm_n = 1024 if args.quick else 2048
    print(f"matmul ceiling ({gemm_n}×{gemm_n} @ {gemm_n}×{gemm_n}):")
    for dtype in args.dtypes:
        ceiling = matmul_ceiling(numpy.dtype(dtype), gemm_n, repeats, torch)
        line = f"  {dtype}: numpy {ceiling['numpy']:6.1f} GF/s"
        if "torch" in ceiling:
            line += f", torch {ceiling['torch']:6.1f} GF/s"
        print(line)
    print()

    header = f"{'B':>3} {'n':>5} {'d':>3} {'dtype':>8} | {'gemini ms':>10} {'GF/s':>6}"
    if torch is not None:
        header += f" | {'torch ms':>9} {'GF/s':>6} | {'gemini/torch':>12}"
    print("attention forward + backward")
    print(header)
    print("-" * len(header))
    progress = ProgressBar(len(args.dtypes) * len(args.shapes) * repeats, "timing")
    rows = []
    for dtype in args.dtypes:
        for b, n, d in args.shapes:
            q, k, v, dout = inputs(b, n, d, numpy.dtype(dtype))
            fns = {"gemini": lambda: gemini_step(q, k, v, dout)}
            if torch is not None:
                fns["torch"] = make_torch_step(torch, q, k, v, dout)
            med = interleaved_medians(fns, repeats, progress)
            rows.append((b, n, d, dtype, med))
            del q, k, v, dout, fns
    progress.close()
    for b, n, d, dtype, med in rows:
        gf = attention_flops(b, n, d) / 1e9
        line = f"{b:>3} {n:>5} {d:>3} {dtype:>8} | {med['gemini'] * 1e3:>10.1f} {gf / med['gemini']:>6.1f}"
        if "torch" in med:
            line += f" | {med['torch'] * 1e3:>9.1f} {gf / med['torch']:>6.1f} | {med['gemini'] / med['torch']:>11.2f}x"
        print(line)
    print()

    if not args.no_blocked:
        blocked_table(args.dtypes, (256,) if args.quick else BLOCK_SIZES, repeats)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load:.2f} at end")


def blocked_table(dtypes, block_sizes, repeats):
    b, n, d = BLOCKED_SHAPE
    print(f"memory-efficient attention (online softmax over key blocks) vs plain, B={b} n={n} d={d}, forward + backward")
    header = f"{'dtype':>8} {'path':>12} | {'ms':>8} {'time/plain':>10} | {'peak MiB':>9} {'peak/plain':>10}"
    print(header)
    print("-" * len(header))
    progress = ProgressBar(len(dtypes) * repeats, "blocked")
    lines = []
    for dtype in dtypes:
        q, k, v, dout = inputs(b, n, d, numpy.dtype(dtype))
        paths = {"plain": None, **{f"block {bs}": bs for bs in block_sizes}}
        fns = {name: (lambda bs=bs: gemini_step(q, k, v, dout, bs)) for name, bs in paths.items()}
        med = interleaved_medians(fns, repeats, progress)
        peaks = {name: peak_bytes(fn) for name, fn in fns.items()}
        for name in paths:
            lines.append(
                f"{dtype:>8} {name:>12} | {med[name] * 1e3:>8.1f} {med[name] / med['plain']:>9.2f}x"
                f" | {peaks[name] / 2**20:>9.1f} {peaks[name] / peaks['plain']:>9.1%}"
            )
    progress.close()
    print("\n".join(lines))
    print()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted; nothing saved", file=sys.stderr)
        sys.exit(130)
