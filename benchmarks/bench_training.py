"""One training step of the §5.4 model: gemini_np against its PyTorch twin, and where gemini_np's time goes.

Run from the repository root (about a minute; needs PyTorch for the comparison, CPU build):

    python benchmarks/bench_training.py
    python benchmarks/bench_training.py --repeats 200 --dtypes float32
    python benchmarks/bench_training.py --threads 2

What is timed, per dtype: one training step of the model ``python -m gemini_np train``
trains (GeminiModel with the default ModelConfig, a batch of 32 pairs of the article's data):
forward, binary cross-entropy, backward, one Adam update.

* gemini_np: ``model.forward``, ``bce_with_logits_forward/_backward``, ``model.backward``,
  ``Adam.step`` (the hand-written backward).
* PyTorch: the twin (``gemini_np.interop.to_torch``, the same weights), the same batch,
  ``F.binary_cross_entropy_with_logits``, ``loss.backward()``, ``torch.optim.Adam``
  (eager mode, CPU).

Both use the same number of threads (``--threads``, default 1 as ``python -m gemini_np train``
does: NumPy's BLAS through threadpoolctl, ``torch.set_num_threads`` for PyTorch), and run
interleaved in one process (gemini, torch, gemini, ...) on the same batches, so load from
other processes hits both alike; each figure is the median of ``--repeats`` steps after
warm-up steps. PyTorch's OpenMP threads wait passively (see bench_attention.py).

After the table, a profile of gemini_np's step (cProfile over ``--profile-steps`` steps):
the share of the step's time spent in each op, by the file of gemini_np.functional it lives in.

The last line is ``gemini_np/torch time per training step: <ratio>x``, the worst ratio over
the dtypes (below 1: gemini_np is faster).
"""
from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import statistics
import sys
import time
from pathlib import Path

import numpy

from bench_attention import cpu_model, set_omp_wait_policy  # the same machine line and OpenMP policy

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(_ROOT))

import gemini_np  # noqa: E402
from gemini_np.data import DataConfig, batches, load_split, model_inputs, take  # noqa: E402
from gemini_np.functional import bce_with_logits_backward, bce_with_logits_forward  # noqa: E402
from gemini_np.model import GeminiModel, ModelConfig  # noqa: E402
from gemini_np.optim import Adam  # noqa: E402
from gemini_np.progress import ProgressBar  # noqa: E402

BATCH = 32
LR = 2e-3


def training_batches(dtype: str, steps: int, seed: int = 0):
    """``steps`` batches of 32 pairs of the article's training split, as host arrays."""
    train_set, _ = load_split(DataConfig())
    tokens, images, labels = model_inputs(train_set, dtype)
    rng = numpy.random.default_rng(seed)
    out = []
    while len(out) < steps:
        for index in batches(len(train_set), BATCH, rng):
            if len(index) == BATCH and len(out) < steps:
                out.append((take(tokens, index), take(images, index), take(labels, index)))
    return out, len(train_set.vocab)


class GeminiStep:
    """forward, BCE, backward (by hand), Adam: one training step of gemini_np."""

    def __init__(self, config: ModelConfig):
        self.model = GeminiModel(config)
        self.optimizer = Adam(lr=LR)

    def __call__(self, tokens, images, labels):
        logits = self.model.forward(tokens, images)
        loss, cache = bce_with_logits_forward(logits, labels)
        self.model.backward(bce_with_logits_backward(1.0, cache))
        self.optimizer.step(self.model.params, self.model.grads)


class TorchStep:
    """The same step on the PyTorch twin of the same model: autograd and torch.optim.Adam."""

    def __init__(self, torch, config: ModelConfig):
        from gemini_np.interop import to_torch

        self.torch = torch
        self.twin = to_torch(GeminiModel(config))
        self.optimizer = torch.optim.Adam(self.twin.parameters(), lr=LR)

    def __call__(self, tokens, images, labels):
        torch = self.torch
        self.optimizer.zero_grad(set_to_none=True)
        logits = self.twin(torch.from_numpy(tokens), torch.from_numpy(images))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(labels))
        loss.backward()
        self.optimizer.step()


def timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def compare(dtype: str, torch, repeats: int, warmup: int, progress) -> dict:
    """Median seconds per step of each library, interleaved on the same batches."""
    data, vocab_size = training_batches(dtype, repeats + warmup)
    config = ModelConfig(vocab_size=vocab_size, dtype=dtype)
    steps = {"gemini_np": GeminiStep(config)}
    if torch is not None:
        steps["torch"] = TorchStep(torch, config)
    times = {name: [] for name in steps}
    for i, batch in enumerate(data):
        for name, step in steps.items():
            seconds = timed(step, *batch)
            if i >= warmup:
                times[name].append(seconds)
        progress.step()
    return {name: statistics.median(t) for name, t in times.items()}


def profile(dtype: str, steps: int) -> list:
    """(where, seconds per step, share) of gemini_np's step, by functional file; the biggest first."""
    data, vocab_size = training_batches(dtype, steps + 3)
    step = GeminiStep(ModelConfig(vocab_size=vocab_size, dtype=dtype))
    for batch in data[:3]:
        step(*batch)
    profiler = cProfile.Profile()
    profiler.enable()
    for batch in data[3:]:
        step(*batch)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # {(file, line, function): (calls, ..., tottime, cumtime, callers)}
    total = sum(entry[2] for entry in stats.values())
    by_place: dict = {}
    for (filename, _, function), entry in stats.items():
        place = _place(filename, function)
        by_place[place] = by_place.get(place, 0.0) + entry[2]  # own time, so nothing is counted twice
    rows = sorted(by_place.items(), key=lambda item: -item[1])
    return [(place, seconds / steps, seconds / total) for place, seconds in rows]


def _place(filename: str, function: str) -> str:
    """A readable home for a profiled function: gemini_np's file, or 'numpy' / 'python'."""
    path = Path(filename)
    if "gemini_np" in path.parts:
        inside = path.parts[path.parts.index("gemini_np") + 1:]
        return "gemini_np/" + "/".join(inside)
    if "numpy" in path.parts or function.startswith("<method") or "numpy" in function:
        return "numpy (reductions, reshapes)"
    return "python and other"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=60, help="timed steps per library and dtype (default 60)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (default 5)")
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"], choices=["float64", "float32"])
    parser.add_argument("--threads", type=int, default=1, help="BLAS / torch threads (default 1, as `train`)")
    parser.add_argument("--profile-steps", type=int, default=30, help="gemini_np steps profiled (0: no profile)")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even when installed")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0 or args.threads < 1 or args.profile_steps < 0:
        parser.error("--repeats and --threads must be >= 1, --warmup and --profile-steps >= 0")
    omp_wait = set_omp_wait_policy("passive")  # before torch is imported
    from threadpoolctl import threadpool_limits

    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            print("note: PyTorch is not installed; timing gemini_np alone (pip install -e \".[torch]\")")
    if torch is not None:
        torch.set_num_threads(args.threads)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {cpu_model()}, {os.cpu_count()} logical cores, load average {load:.2f} at start")
    print(f"python {platform.python_version()}, numpy {numpy.__version__}, gemini_np {gemini_np.__version__}"
          + (f", torch {torch.__version__} (OMP_WAIT_POLICY {omp_wait})" if torch is not None else ""))
    print(f"one training step (forward, BCE, backward, Adam) of the §5.4 model, batch {BATCH}; "
          f"{args.threads} thread(s) each; medians of {args.repeats} interleaved steps after {args.warmup} warm-up")
    print()
    results = {}
    with threadpool_limits(limits=args.threads, user_api="blas"):
        progress = ProgressBar(len(args.dtypes) * (args.repeats + args.warmup), "timing")
        for dtype in args.dtypes:
            results[dtype] = compare(dtype, torch, args.repeats, args.warmup, progress)
        progress.close()
        header = f"{'dtype':>8} | {'gemini_np ms':>12}" + (f" | {'torch ms':>9} | {'gemini_np/torch':>15}" if torch else "")
        print(header)
        print("-" * len(header))
        for dtype, med in results.items():
            line = f"{dtype:>8} | {med['gemini_np'] * 1e3:>12.2f}"
            if "torch" in med:
                line += f" | {med['torch'] * 1e3:>9.2f} | {med['gemini_np'] / med['torch']:>14.2f}x"
            print(line)
        print()
        if args.profile_steps:
            for dtype in args.dtypes:
                print(f"where gemini_np's {dtype} step spends its time (cProfile, own time, {args.profile_steps} steps; "
                      f"the profiler itself slows the step):")
                for place, seconds, share in profile(dtype, args.profile_steps)[:12]:
                    print(f"  {share:6.1%}  {seconds * 1e3:7.2f} ms  {place}")
                print()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load:.2f} at end")
    if torch is not None:
        worst = max(med["gemini_np"] / med["torch"] for med in results.values())
        print(f"gemini_np/torch time per training step: {worst:.2f}x")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; nothing saved", file=sys.stderr)
        sys.exit(130)
