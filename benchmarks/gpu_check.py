"""GPU parity and speed check for the CuPy backend.

Run from the repository root on a machine with CuPy and a GPU (no install and
no network needed; about a minute on an H200):

    PYTHONPATH=. python3 benchmarks/gpu_check.py --out gpu.md

and, on any machine, the CPU dry run that the test suite runs
(``tests/test_gpu_check.py``), where ``array_api_strict`` on its non-default
device ``device1`` stands in for CuPy:

    PYTHONPATH=. python3 benchmarks/gpu_check.py --dry-run

Part 1, parity. Every op of the registry (``gemini_np.functional.registry.OPS``) runs forward and backward
on the GPU in float64 and in float32, and one whole training step of a small
``GeminiModel`` (forward, backward, optimizer update) runs on the GPU in
float64. Each result must

* be an array of the GPU library (no silent fallback to NumPy),
* keep the input's dtype (no silent float64 in a float32 path), and
* agree with NumPy float64 on the CPU, computed from the *same* inputs (the
  float32 inputs rounded to float32 first, then widened), in the normwise
  sense  max|gpu − ref| ≤ rtol · max|ref|.

Tolerances, per dtype:

* float64, rtol 1e-10. Both sides compute the same formulas in IEEE double;
  they differ only in summation order (cuBLAS vs OpenBLAS blocking, parallel
  reductions) and in the last bit or two of exp/tanh/log1p. For sums of at most
  a few hundred terms that is about n·u ≈ 1e-14 (u = 1.1e-16). 1e-10 leaves four
  orders of margin, while any real bug (a wrong index, a dropped mask, a stale
  in-place buffer) shows up at 1e-3 or more.
* float32, rtol 1e-4 (ops and the model step). Unit roundoff is 6e-8; an op
  rounds its inputs and sums up to a few hundred products, ≈ 1e-6 to 1e-5
  relative to the float64 result; a model step composes a dozen ops. The dry
  run on the CPU measures the same float32-vs-float64 error (it is a property
  of float32, not of the GPU) and prints it, so the margin is visible.

The model step uses the optimizer in float64 and float32. Adam's first step is
lr · g / (|g| + eps), which is ill-conditioned for tiny |g|: a float32 gradient
of 1e-9 versus 1e-8 changes the update by half of lr. So float32 compares the
gradients and an SGD step (linear in g); float64 also compares Adam.

Part 2, speed. Attention forward + backward (``attention_forward`` then
``attention_backward``, with a random upstream gradient) at a few
(batch·heads, n, d) sizes, in float32 and float64: CuPy timed with CUDA events
after warm-up runs (median of ``--repeats``), NumPy on the CPU timed with
``time.perf_counter`` (median, at least 3 runs). Printed as a Markdown table,
and written with the parity summary to ``--out PATH``.

Exit status: 0 when every parity check passes, 1 otherwise (also when an op
raises), 2 when CuPy or a GPU is missing (and not ``--dry-run``).
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import traceback
from pathlib import Path

import numpy as np

# Run from a checkout without installing: make the repository root importable.
_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import gemini_np  # noqa: E402
import gemini_np.functional as F  # noqa: E402
from gemini_np.backend import BackendError, array_namespace, to_numpy, use_backend  # noqa: E402

RTOL = {"float64": 1e-10, "float32": 1e-4}
DTYPES = ("float64", "float32")
SIZES = [(32, 512, 64), (8, 1024, 64), (1, 4096, 64), (16, 2048, 64)]
DRY_SIZES = [(2, 64, 16), (1, 128, 16)]


def log(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------- where the arrays live


class Target:
    """The library under test: CuPy on the GPU, or array_api_strict on device1 (dry run)."""

    def __init__(self, dry_run: bool):
        self.dry_run = dry_run
        if dry_run:
            import array_api_strict as xps

            self.xp, self.device = xps, xps.Device("device1")
            self.label = f"array_api_strict {xps.__version__} on {self.device} (dry run: stands in for CuPy)"
        else:
            self.xp = gemini_np.set_backend("cupy")  # BackendError names the pip command when missing
            gemini_np.set_backend("numpy")  # kernels follow their inputs; creators are told per use
            self.device = self.xp.cuda.Device()
            props = self.xp.cuda.runtime.getDeviceProperties(self.device.id)
            name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
            self.label = f"CuPy {self.xp.__version__} on {name}{self._cuda_versions()}"

    def _cuda_versions(self) -> str:
        """" (CUDA runtime 13.0, driver 13.0)", or "" when CuPy cannot say."""
        try:
            runtime = self.xp.cuda.runtime
            rt, drv = runtime.runtimeGetVersion(), runtime.driverGetVersion()
            return f" (CUDA runtime {rt // 1000}.{rt % 1000 // 10}, driver {drv // 1000}.{drv % 1000 // 10})"
        except Exception:  # informational only
            return ""

    def put(self, host):
        """Host NumPy array -> the target (None and Python scalars pass through)."""
        if host is None or not isinstance(host, np.ndarray):
            return host
        if self.dry_run:
            return self.xp.asarray(host, device=self.device)
        return self.xp.asarray(host)

    def backend(self):
        """Context in which newly created model parameters go to the target."""
        if self.dry_run:
            return use_backend(self.xp, device=self.device)
        return use_backend("cupy")

    def sync(self) -> None:
        if not self.dry_run:
            self.device.synchronize()

    def owns(self, x) -> bool:
        """x is an array of the target library, on the target device."""
        try:
            space = array_namespace(x)
        except TypeError:
            return False
        if space is not self.xp:
            return False
        if self.dry_run:
            return x.device == self.device
        return x.device.id == self.device.id


# --------------------------------------------------------------------------- comparisons


def normwise_error(actual, expected) -> float:
    """max|actual − expected| / max|expected| (0 when both are all zero)."""
    actual = np.asarray(to_numpy(actual), dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        raise ValueError(f"shape {actual.shape} != reference shape {expected.shape}")
    if not np.array_equal(np.isfinite(actual), np.isfinite(expected)):
        return float("inf")
    diff = float(np.max(np.abs(actual - expected), initial=0.0))
    scale = float(np.max(np.abs(expected), initial=0.0))
    return 0.0 if diff == 0.0 else diff / max(scale, 1e-300)


def dtype_name(x) -> str:
    return str(x.dtype).split(".")[-1]


class Check:
    """Collects parity results; each is a row of the summary table."""

    def __init__(self):
        self.rows = []  # (what, dtype, worst error, rtol, ok, note)

    def record(self, what, dtype, error, ok, note=""):
        self.rows.append((what, dtype, error, RTOL[dtype], ok, note))
        status = "ok" if ok else "FAIL"
        log(f"  {status:4} {what:<34} {dtype:<8} err {error:9.2e} (rtol {RTOL[dtype]:.0e}) {note}")

    @property
    def failures(self):
        return [r for r in self.rows if not r[4]]


def compare(target, check, what, dtype, results, references):
    """results: named target arrays; references: the same names as host float64 arrays."""
    worst, problems = 0.0, []
    for name, ref in references.items():
        got = results[name]
        if ref is None:
            if got is not None:
                problems.append(f"{name} should be None")
            continue
        if not target.owns(got):
            problems.append(f"{name} left the target ({type(got).__module__}.{type(got).__name__})")
            continue
        if dtype_name(got) != dtype:
            problems.append(f"{name} is {dtype_name(got)}, expected {dtype}")
            continue
        worst = max(worst, normwise_error(got, ref))
    ok = not problems and worst <= RTOL[dtype]
    check.record(what, dtype, worst, ok, "; ".join(problems))


# --------------------------------------------------------------------------- op cases


def _cast(host, dtype):
    """Float arrays to ``dtype``; bool/int arrays and non-arrays unchanged."""
    if isinstance(host, np.ndarray) and host.dtype.kind == "f":
        return host.astype(dtype)
    return host


def _as_tuple(g):
    return g if isinstance(g, tuple) else (g,)


def check_op(target, check, op, example, dtype, seed):
    """One registry entry (gemini_np.functional.registry) on the target against NumPy float64."""
    inputs = {k: _cast(v, dtype) for k, v in {**example.inputs, **example.static}.items()}
    # The reference sees exactly the target's inputs: rounded to dtype, then widened to float64.
    ref_inputs = {k: _cast(v, np.float64) for k, v in inputs.items()}
    out_ref, cache_ref = op.forward(**ref_inputs)
    dout = np.random.default_rng(seed).standard_normal(np.shape(out_ref)).astype(dtype)
    grads_ref = _as_tuple(op.backward(dout.astype(np.float64), cache_ref))

    out, cache = op.forward(**{k: target.put(v) if isinstance(v, np.ndarray) else v for k, v in inputs.items()})
    grads = _as_tuple(op.backward(target.put(dout), cache))
    target.sync()
    results = {"out": out, **{f"grad{i}": g for i, g in enumerate(grads)}}
    references = {"out": out_ref, **{f"grad{i}": g for i, g in enumerate(grads_ref)}}
    if len(grads) != len(grads_ref):
        check.record(op.name, dtype, float("inf"), False, f"{len(grads)} gradients, expected {len(grads_ref)}")
        return
    if getattr(cache_ref, "weights", None) is not None:
        results["weights"], references["weights"] = cache.weights, cache_ref.weights
    compare(target, check, op.name, dtype, results, references)


def run_op_parity(target, check, small):
    """Every entry of the op registry, at sizes that exercise real GPU kernels (tiny in the dry run)."""
    from gemini_np.functional.registry import LARGE, OPS, TINY

    log(f"[parity] {len(OPS)} ops x {len(DTYPES)} dtypes, forward and backward, against NumPy float64")
    for dtype in DTYPES:
        for i, op in enumerate(OPS):
            try:
                check_op(target, check, op, op.make_example(TINY if small else LARGE), dtype, seed=i)
            except Exception as exc:  # report and go on: one broken op must not hide the others
                check.record(op.name, dtype, float("inf"), False, f"raised {type(exc).__name__}: {exc}")
                traceback.print_exc(limit=3)


# --------------------------------------------------------------------------- one training step


def _model_api():
    """(GeminiModel, SGD, Adam) when the model package is there, else None."""
    try:
        from gemini_np.model import GeminiModel
        from gemini_np.optim import SGD, Adam
    except ImportError as exc:
        log(f"[model] skipped: {exc}")
        return None
    return GeminiModel, SGD, Adam


def run_model_parity(target, check, small):
    api = _model_api()
    if api is None:
        return False
    GeminiModel, SGD, Adam = api
    if small:
        config = dict(vocab_size=13, image_size=4, patch_size=2, channels=3, d_model=8, n_heads=2, d_ff=16, seed=3)
        batch, length = 3, 5
    else:
        config = dict(vocab_size=40, image_size=8, patch_size=2, channels=3, d_model=32, n_heads=2, d_ff=64, seed=3)
        batch, length = 8, 10
    rng = np.random.default_rng(11)
    tokens = rng.integers(1, config["vocab_size"], size=(batch, length))
    tokens[:, -2:] = 0  # padding at the end of every caption
    tokens[0, 1:] = 0  # and one caption that is all padding but its first token
    size, channels = config["image_size"], config["channels"]
    images = rng.random((batch, size, size, channels))
    labels = (rng.random(batch) < 0.5) * 1.0
    optimizers = {"sgd": lambda: SGD(lr=0.1, momentum=0.9), "adam": lambda: Adam(lr=1e-2)}
    log(f"[model] one training step of GeminiModel({config}) on a batch of {batch}")
    for dtype in DTYPES:
        for opt_name, make_optimizer in optimizers.items():
            if dtype == "float32" and opt_name == "adam":
                continue  # Adam's first step is sign-like: ill-conditioned for tiny gradients (see the docstring)
            what = f"model step ({opt_name})"
            try:
                ref = _train_step(GeminiModel, config, dtype, make_optimizer, tokens, images, labels, None)
                got = _train_step(GeminiModel, config, dtype, make_optimizer, tokens, images, labels, target)
                compare(target, check, what, dtype, got, ref)
            except Exception as exc:
                check.record(what, dtype, float("inf"), False, f"raised {type(exc).__name__}: {exc}")
                traceback.print_exc(limit=4)
    return True


def _train_step(GeminiModel, config, dtype, make_optimizer, tokens, images, labels, target):
    """Forward, loss, backward, one optimizer update. Returns {name: array}.

    target None: the float64 NumPy reference, started from the *same* weights
    (drawn on the host, rounded to ``dtype``, widened back) and the same inputs.
    Otherwise the model is created directly on the target, as a user would.
    """
    if target is None:
        model = GeminiModel(**config, dtype="float64")
        rounded = GeminiModel(**config, dtype=dtype).params
        model.load_params({k: np.asarray(v, dtype=np.float64) for k, v in rounded.items()})
        put = lambda a: _cast(_cast(a, dtype), np.float64)  # noqa: E731
    else:
        with target.backend():
            model = GeminiModel(**config, dtype=dtype)
        put = lambda a: target.put(_cast(a, dtype))  # noqa: E731
    logits = model.forward(put(tokens), put(images))
    loss, cache = F.bce_with_logits_forward(logits, put(labels))
    model.backward(F.bce_with_logits_backward(1.0, cache))
    grads = {f"grad {k}": v for k, v in model.grads.items()}
    make_optimizer().step(model.params, model.grads)  # updates the parameters in place
    target is not None and target.sync()
    return {"logits": logits, "loss": loss, **grads, **{f"param {k}": v for k, v in model.params.items()}}


# --------------------------------------------------------------------------- speed


def time_numpy(fn, min_runs=3, budget_s=4.0) -> float:
    """Median seconds of fn() on the CPU: one warm-up, then runs until min_runs and budget_s are both met."""
    fn()
    times, start = [], time.perf_counter()
    while len(times) < min_runs or (time.perf_counter() - start < budget_s and len(times) < 15):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_target(target, fn, repeats) -> float:
    """Median seconds of fn() on the target: warm-up runs, then CUDA events around each run."""
    for _ in range(3):
        fn()
    target.sync()
    if target.dry_run:
        return time_numpy(fn, min_runs=3, budget_s=0.0)
    cuda = target.xp.cuda
    times = []
    for _ in range(repeats):
        start, end = cuda.Event(), cuda.Event()
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(cuda.get_elapsed_time(start, end) / 1e3)  # ms -> s
    return statistics.median(times)


def attention_step(q, k, v, dout, **kwargs):
    """One forward + backward: what a training step does with an attention layer."""
    out, cache = F.attention_forward(q, k, v, **kwargs)
    return F.attention_backward(dout, cache)


def run_timing(target, sizes, repeats, deadline, cpu_seconds=3.0, block_size=512):
    rows = []
    log(f"[speed] attention forward+backward, {len(sizes)} sizes x {len(DTYPES)} dtypes")
    for dtype in ("float32", "float64"):
        for bh, n, d in sizes:
            if time.perf_counter() > deadline:
                log(f"  skipped ({bh}, {n}, {d}) {dtype}: time budget spent")
                continue
            rng = np.random.default_rng(0)
            host = [rng.standard_normal((bh, n, d)).astype(dtype) for _ in range(4)]
            dev = [target.put(a) for a in host]
            t_gpu = time_target(target, lambda: attention_step(*dev), repeats)
            t_blk = None
            if n >= 4 * block_size:  # the memory-efficient path, where it matters: long sequences
                t_blk = time_target(target, lambda: attention_step(*dev, block_size=block_size), repeats)
            t_cpu = time_numpy(lambda: attention_step(*host), budget_s=cpu_seconds)
            gflop = 12 * bh * n * n * d / 1e9  # 6 matmuls of 2·bh·n²·d flops (forward 2, backward 4)
            rows.append((bh, n, d, dtype, t_cpu, t_gpu, t_blk, gflop))
            blk = f", blocked {t_blk * 1e3:.2f} ms" if t_blk is not None else ""
            log(f"  ({bh}, {n}, {d}) {dtype}: NumPy {t_cpu * 1e3:.1f} ms, target {t_gpu * 1e3:.2f} ms{blk}")
            del dev
            if not target.dry_run:
                target.xp.get_default_memory_pool().free_all_blocks()
    return rows


def timing_table(rows, target, block_size) -> str:
    name = "array_api_strict" if target.dry_run else "CuPy GPU"
    lines = [
        f"| (batch·heads, n, d) | dtype | NumPy CPU ms | {name} ms | speed-up | {name} GF/s | {name} blocked b={block_size} ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for bh, n, d, dtype, t_cpu, t_gpu, t_blk, gflop in rows:
        blk = f"{t_blk * 1e3:.2f}" if t_blk is not None else "–"
        lines.append(
            f"| ({bh}, {n}, {d}) | {dtype} | {t_cpu * 1e3:.1f} | {t_gpu * 1e3:.2f} | {t_cpu / t_gpu:.1f}x | "
            f"{gflop / t_gpu:.0f} | {blk} |"
        )
    return "\n".join(lines)


def parity_table(check) -> str:
    lines = ["| check | dtype | worst normwise error | rtol | result |", "| --- | --- | ---: | ---: | --- |"]
    for what, dtype, error, rtol, ok, note in check.rows:
        result = "ok" if ok else f"FAIL {note}".strip()
        lines.append(f"| {what} | {dtype} | {error:.2e} | {rtol:.0e} | {result} |")
    return "\n".join(lines)


def machine_line(target) -> str:
    threads = os.environ.get("OMP_NUM_THREADS") or os.environ.get("OPENBLAS_NUM_THREADS") or "default"
    tf32 = os.environ.get("CUPY_TF32", "0")
    return (
        f"{target.label}; NumPy {np.__version__} on {platform.processor() or platform.machine()} with "
        f"{os.cpu_count()} CPUs (BLAS threads: {threads}); Python {platform.python_version()}; "
        f"CUPY_TF32={tf32} (float32 matmuls {'may use TF32' if tf32 != '0' else 'in full FP32'})"
    )


# --------------------------------------------------------------------------- main


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _parse_sizes(text: str):
    try:
        sizes = [tuple(int(n) for n in item.lower().split("x")) for item in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or any(len(s) != 3 or min(s) < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"sizes must look like 32x512x64,1x4096x64, got {text!r}")
    return sizes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="array_api_strict on device1 instead of CuPy (CPU only)")
    parser.add_argument("--out", type=Path, help="also write the Markdown report here")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per cell on the GPU (median)")
    parser.add_argument("--budget-s", type=float, default=150.0, help="skip remaining timing cells after this many seconds")
    parser.add_argument("--no-timing", action="store_true", help="parity only")
    parser.add_argument("--block-size", type=int, default=512, help="blocked path timed when n >= 4 x this")
    parser.add_argument("--cpu-seconds", type=float, default=3.0, help="NumPy timing: keep repeating (up to 15 runs) for this long")
    parser.add_argument("--sizes", type=_parse_sizes, help="timing sizes, e.g. 32x512x64,1x4096x64 (batch·heads x n x d)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        target = Target(args.dry_run)
    except BackendError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log(f"gpu_check: {machine_line(target)}")
    check = Check()
    run_op_parity(target, check, small=args.dry_run)
    has_model = run_model_parity(target, check, small=args.dry_run)
    log(f"[parity] {len(check.rows) - len(check.failures)}/{len(check.rows)} checks passed"
        f" ({time.perf_counter() - start:.1f} s so far)")

    report = [f"# gemini_np GPU check\n\n{machine_line(target)}\n", "## Parity with NumPy float64\n", parity_table(check)]
    if not has_model:
        report.append("\n(model training step not checked: gemini_np.model / gemini_np.optim not available)")
    if not args.no_timing:
        sizes = args.sizes or (DRY_SIZES if args.dry_run else SIZES)
        rows = run_timing(target, sizes, 3 if args.dry_run else args.repeats, start + args.budget_s, args.cpu_seconds,
                          args.block_size)
        table = timing_table(rows, target, args.block_size)
        log("\n" + table)
        report += ["\n## Attention forward + backward\n",
                   "Median of timed runs after warm-up; GPU timed with CUDA events, CPU with perf_counter. "
                   "GF/s counts the six matmuls, 12·B·n²·d flops.\n", table]
    if args.out:
        atomic_write(args.out, "\n".join(report) + "\n")
        log(f"wrote {args.out}")
    failures = check.failures
    log(f"gpu_check: {'FAILED ' + str(len(failures)) + ' checks' if failures else 'all parity checks passed'}"
        f" in {time.perf_counter() - start:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; nothing saved", file=sys.stderr)
        sys.exit(130)
