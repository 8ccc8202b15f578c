"""The training subcommands of ``python -m gemini_np``: train, evaluate, gradcheck,
and the short training run at the end of ``demo``.

Every failure a user can cause (a missing GPU, a broken checkpoint, a bad
option value) prints one line starting with ``error:`` on stderr and returns
exit status 2, without a traceback.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import numpy

from ._atomic import atomic_open

EXIT_ERROR = 2


def add_commands(commands) -> None:
    """Register train, evaluate and gradcheck on an argparse sub-parsers object."""
    from .train import TrainConfig

    defaults = TrainConfig()
    train = commands.add_parser(
        "train", help="train the matching model (defaults: the article's §5 protocol)",
        description="Train GeminiModel on the synthetic image-text matching data. The defaults are the "
                    "article's protocol: 1000 pairs (500 matching), 80/20 split with seed 42, 10 epochs, "
                    "batch 32, Adam.")
    train.add_argument("--epochs", type=int, default=defaults.epochs)
    train.add_argument("--batch-size", type=int, default=defaults.batch_size)
    train.add_argument("--samples", type=int, default=defaults.samples, help="pairs in all (multiple of 4)")
    train.add_argument("--seed", type=int, default=defaults.seed, help="model initialisation and batch order")
    train.add_argument("--data-seed", type=int, default=defaults.data_seed, help="which pairs are drawn")
    train.add_argument("--lr", type=float, default=defaults.lr, help="peak learning rate")
    train.add_argument("--optimizer", choices=("adam", "sgd"), default=defaults.optimizer)
    train.add_argument("--ablate", choices=("text", "image"), default=None,
                       help="replace that input by a constant, at train and test time")
    train.add_argument("--language", choices=("zh", "en"), default=defaults.language)
    train.add_argument("--dtype", choices=("float64", "float32"), default=defaults.dtype)
    train.add_argument("--save", metavar="PATH", help="write a checkpoint (.npz) here")
    train.add_argument("--json", metavar="PATH", help="write the metrics as JSON here")
    train.add_argument("--plots", metavar="DIR", help="write loss/accuracy curves and attention heatmaps (PNG) here")
    train.add_argument("--threads", type=int, default=1,
                       help="BLAS threads during training (default 1: faster for this small model; 0 = NumPy's default)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_backend_option(train)
    train.set_defaults(run=cmd_train)

    evaluate = commands.add_parser("evaluate", help="test accuracy of a checkpoint on its held-out split")
    evaluate.add_argument("checkpoint", metavar="CKPT")
    evaluate.add_argument("--json", metavar="PATH", help="write the metrics as JSON here")
    _add_backend_option(evaluate)
    evaluate.set_defaults(run=cmd_evaluate)

    gradcheck = commands.add_parser(
        "gradcheck", help="every op's and the whole model's worst relative gradient error")
    gradcheck.add_argument("--seed", type=int, default=0)
    gradcheck.add_argument("--entries", type=int, default=16,
                           help="finite-difference entries checked per model parameter tensor (all of small ones)")
    gradcheck.set_defaults(run=cmd_gradcheck)


def _add_backend_option(parser) -> None:
    parser.add_argument("--backend", default=os.environ.get("GEMINI_NP_BACKEND", "numpy"),
                        help="numpy or cupy (default: $GEMINI_NP_BACKEND, else numpy)")


def _error(message) -> int:
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
    return EXIT_ERROR


def _select_backend(name) -> bool:
    from .backend import BackendError, set_backend

    try:
        set_backend(name)
    except (BackendError, ValueError) as exc:
        _error(exc)
        return False
    return True


def write_json(path, data) -> Path:
    """Write ``data`` as indented UTF-8 JSON, atomically (temporary file, then os.replace)."""
    with atomic_open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False)
        f.write("\n")
    return path


# ----------------------------------------------------------------------------- train


def cmd_train(args) -> int:
    from .train import TrainConfig, train

    if not _select_backend(args.backend):
        return EXIT_ERROR
    try:
        config = TrainConfig(samples=args.samples, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                             optimizer=args.optimizer, seed=args.seed, data_seed=args.data_seed,
                             ablate=args.ablate, language=args.language, dtype=args.dtype)
        if args.threads < 0:
            raise ValueError(f"--threads must be 0 (NumPy's default) or a positive count, got {args.threads}")
        result = train(config, progress=not args.quiet, threads=args.threads or None)
    except (TypeError, ValueError) as exc:
        return _error(exc)
    return report_run(result, args.save, args.json, args.plots)


def report_run(result, save=None, json_path=None, plots=None) -> int:
    """Print a finished run's figures; write its checkpoint, metrics and plots where asked."""
    m = result.metrics
    what = "" if m["ablate"] is None else f" (ablated: {m['ablate']} replaced by a constant)"
    print(f"test accuracy {m['test_accuracy']:.4f} on {m['test_pairs']} held-out pairs{what}")
    print(f"train accuracy {m['train_accuracy']:.4f} on {m['train_pairs']} pairs, "
          f"{m['epochs']} epochs in {m['train_seconds']:.1f} s ({m['backend']}, {m['dtype']})")
    if save:
        from .checkpoint import save_checkpoint

        path = save_checkpoint(save, result.model, checkpoint_extra(result))
        print(f"checkpoint saved to {path}")
    if json_path:
        print(f"metrics written to {write_json(json_path, {**m, 'history': result.history})}")
    if plots:
        paths = save_run_plots(result, plots)
        print(f"figures saved to {Path(plots)}: {', '.join(p.name for p in paths)}")
    return 0


def checkpoint_extra(result) -> dict:
    """What a checkpoint stores besides the parameters: how to rebuild its test split, and the run."""
    return {
        "data": result.config.data_config(),
        "train": dataclasses.asdict(result.config),
        "metrics": result.metrics,
        "vocab": result.test_set.vocab.to_list(),
    }


def save_run_plots(result, directory):
    import matplotlib

    matplotlib.use("Agg")  # a command line run draws into files only
    from .train import save_plots

    return save_plots(result, directory)


# ----------------------------------------------------------------------------- evaluate


def cmd_evaluate(args) -> int:
    from .checkpoint import CheckpointError, load_checkpoint
    from .train import evaluate_model_on_split

    if not _select_backend(args.backend):
        return EXIT_ERROR
    try:
        model, info = load_checkpoint(args.checkpoint)
        if not isinstance(info.get("data"), dict):
            raise CheckpointError(f"{args.checkpoint} does not say which data it was trained on (no 'data' entry)")
        result = evaluate_model_on_split(model, info["data"])
    except CheckpointError as exc:
        return _error(exc)
    except (KeyError, TypeError, ValueError) as exc:
        return _error(f"{args.checkpoint}: its data description is unusable: {exc}")
    print(f"test accuracy {result['accuracy']:.4f} on {result['pairs']} held-out pairs (loss {result['loss']:.4f})")
    if args.json:
        metrics = {"test_accuracy": result["accuracy"], "test_loss": result["loss"], "test_pairs": result["pairs"],
                   "checkpoint": str(args.checkpoint)}
        print(f"metrics written to {write_json(args.json, metrics)}")
    return 0


# ----------------------------------------------------------------------------- gradcheck


def small_model(seed: int = 0):
    """A small float64 GeminiModel for finite differences, with a random matching matrix.

    (A fresh model's matching matrix M is zero, which makes every gradient
    upstream of it exactly zero: a check there could not fail.)
    Returns (model, tokens, images).
    """
    from .model import GeminiModel

    rng = numpy.random.default_rng(seed)
    model = GeminiModel(vocab_size=7, image_size=4, patch_size=2, channels=3, d_model=8, n_heads=2, d_ff=16,
                        seed=seed, dtype="float64")
    model.set_param("head.bilinear.w", rng.standard_normal((8, 8)))
    tokens = numpy.array([[2, 3, 4, 0], [5, 6, 1, 2], [3, 0, 0, 0]])  # with padding
    images = rng.random((3, 4, 4, 3))
    return model, tokens, images


def model_gradcheck_rows(seed: int = 0, max_entries: int | None = 16) -> list:
    """Finite-difference check of every parameter tensor of :func:`small_model`, and of d images.

    Returns rows like :func:`gemini_np.gradcheck.op_gradcheck_table`: one per
    part of the model (text, image, fusion, head) with its worst tensor, one
    for d images, and one for the whole model.
    """
    from .gradcheck import MODEL_BOUND, numerical_gradient, rel_error
    from .nn import check_module_gradients

    model, tokens, images = small_model(seed)
    errors = check_module_gradients(model, lambda: model.forward(tokens, images), seed=seed, max_entries=max_entries)
    upstream = numpy.random.default_rng(seed + 1).standard_normal(tokens.shape[0])
    model.forward(tokens, images)
    dimages = model.backward(upstream)
    numeric = numerical_gradient(lambda im: float(numpy.sum(model.forward(tokens, im) * upstream)), images)
    errors["d images"] = rel_error(dimages, numeric)
    rows = []
    for part, label in (("text.", "model: text encoder"), ("image.", "model: image encoder"),
                        ("fusion.", "model: fusion layer"), ("head.", "model: matching head")):
        part_errors = {k: v for k, v in errors.items() if k.startswith(part)}
        worst = max(part_errors, key=part_errors.get)
        rows.append({"op": label, "worst": worst[len(part):], "error": part_errors[worst], "bound": MODEL_BOUND,
                     "ok": part_errors[worst] < MODEL_BOUND})
    rows.append({"op": "model: d images", "worst": "images", "error": errors["d images"], "bound": MODEL_BOUND,
                 "ok": errors["d images"] < MODEL_BOUND})
    worst = max(errors, key=errors.get)
    rows.append({"op": f"whole model ({len(errors) - 1} tensors)", "worst": worst, "error": errors[worst],
                 "bound": MODEL_BOUND, "ok": errors[worst] < MODEL_BOUND})
    return rows


def cmd_gradcheck(args) -> int:
    from .gradcheck import format_table, op_gradcheck_table

    if args.entries is not None and args.entries < 1:
        return _error(f"--entries must be a positive int, got {args.entries}")
    print("Worst relative error of every backward pass against central differences")
    print("(float64, random upstream gradient; bound 1e-7 for one op, 1e-5 for the model)\n")
    rows = op_gradcheck_table(seed=args.seed)
    rows += model_gradcheck_rows(seed=args.seed, max_entries=args.entries)
    print(format_table(rows))
    failed = [r["op"] for r in rows if not r["ok"]]
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")
        return 1
    print(f"\nall {len(rows)} checks pass")
    return 0


# ----------------------------------------------------------------------------- demo


DEMO_CONFIG = dict(samples=600, epochs=8, dtype="float32")


def demo_training(plots_dir) -> bool:
    """The demo's last part: a short training run with its progress bar, its accuracy,
    and where its figures went. Returns True when it ran."""
    from .train import TrainConfig, train

    config = TrainConfig(**DEMO_CONFIG)
    print(f"\nA short training run: {config.samples} image-caption pairs (Chinese captions, hard negatives), "
          f"{config.epochs} epochs, batch {config.batch_size}, Adam, {config.dtype}.")
    print("(The full protocol of the article is `python -m gemini_np train`.)")
    sys.stdout.flush()
    result = train(config, progress=True)
    m = result.metrics
    print(f"test accuracy {m['test_accuracy']:.4f} on {m['test_pairs']} held-out pairs "
          f"(train {m['train_accuracy']:.4f}, {m['train_seconds']:.1f} s)")
    paths = save_run_plots(result, plots_dir)
    print(f"figures saved to {Path(plots_dir)}: {', '.join(p.name for p in paths)}")
    return True

