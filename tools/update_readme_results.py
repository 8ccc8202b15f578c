"""Run the article's training protocol and rewrite README.md's "Training results" table.

    python tools/update_readme_results.py            all three runs (about 2 minutes)
    python tools/update_readme_results.py --check    run nothing; exit 1 when README's markers are missing

Three runs of ``gemini_np.train.train`` with the defaults of ``python -m gemini_np train``:
the full model, and each modality replaced by a constant (``--ablate text`` / ``--ablate image``).
The table between ``<!-- results:start -->`` and ``<!-- results:end -->`` is replaced, everything
else in README is left alone; the file is written atomically. tests/test_training.py checks that
the full model's accuracy in the table is what the code produces.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

from gemini_np.files import atomic_open

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
#: (row label, value of --ablate, command line)
RUNS = (
    ("full model", None, "python -m gemini_np train"),
    ("text replaced by a constant", "text", "python -m gemini_np train --ablate text"),
    ("image replaced by a constant", "image", "python -m gemini_np train --ablate image"),
)


def results_block(results: list, config) -> str:
    """The Markdown written between the markers. results: (label, command, metrics) per run."""
    lines = [
        "| run | test accuracy | test balanced accuracy | train accuracy | training time (s) | command |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, command, m in results:
        lines.append(f"| {label} | {m['test_accuracy']:.4f} | {m['test_balanced_accuracy']:.4f} | "
                     f"{m['train_accuracy']:.4f} | {m['train_seconds']:.1f} | `{command}` |")
    m = results[0][2]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines += [
        "",
        f"*{m['samples']} pairs, {m['test_pairs']} held out; {m['epochs']} epochs of batches of {m['batch_size']}; "
        f"{m['optimizer']} with peak learning rate {config.lr:g} ({config.warmup} warm-up steps, cosine decay); "
        f"{m['parameters']:,} parameters, {m['dtype']}, {m['backend']}. Training time: the training loop "
        f"including the test evaluation after each epoch, one BLAS thread, on {os.cpu_count()} CPU cores "
        f"({platform.machine()}, Python {platform.python_version()}), load average {load:.1f} when the "
        f"runs started. Written by `python tools/update_readme_results.py`.*",
    ]
    return "\n".join(lines)


def replace_block(text: str, block: str) -> str:
    """``text`` with everything between the markers replaced by ``block``."""
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise SystemExit(f"error: README.md must contain {START} and {END} exactly once, in that order")
    head, rest = text.split(START)
    _, tail = rest.split(END)
    return f"{head}{START}\n{block}\n{END}{tail}"


def read_block(text: str) -> str:
    """What is between the markers now."""
    return text.split(START)[1].split(END)[0]


def write_atomic(path: Path, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that README has the markers")
    args = parser.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    replace_block(text, "")  # fail early when the markers are missing
    if args.check:
        return 0
    sys.path.insert(0, str(ROOT))
    from gemini_np.train import TrainConfig, train

    results = []
    for label, ablate, command in RUNS:
        print(f"{command}", file=sys.stderr)
        result = train(TrainConfig(ablate=ablate), progress=True)
        results.append((label, command, result.metrics))
    block = results_block(results, TrainConfig())
    write_atomic(README, replace_block(README.read_text(encoding="utf-8"), block))
    print(block)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; README.md unchanged", file=sys.stderr)
        sys.exit(130)
