"""The command line, ``python -m gemini_np <command>``: every subcommand lives here.

    demo        the article's worked example, corrected; a gradient check of every op;
                a short training run and its figures
    train       train the image-text matching model (defaults: the article's §5 protocol)
    evaluate    the test accuracy of a saved checkpoint on its own held-out split
    gradcheck   every op's and the whole model's worst relative gradient error
    explore     the classroom explorer: one offline HTML page, attention forward and backward

Every mistake a user can make is answered with ONE line on stderr and a non-zero
exit status, never a traceback: a bad flag or value, an output path that cannot be
written, a broken checkpoint, a missing GPU or a bad ``GEMINI_NP_BACKEND`` give
``error: ...`` and status 2; a run that diverges gives ``error: ...`` and status 1;
Ctrl-C gives ``interrupted; nothing saved`` and status 130. Output paths are checked
before any long work starts, and files are written atomically, so nothing partial
is ever left behind.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy

EXIT_FAILED = 1  # a check failed or a run diverged
EXIT_USAGE = 2  # bad input: flags, values, paths, checkpoints, backend
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT

DESCRIPTION = "gemini_np: multimodal attention from scratch in NumPy, with hand-written backprop."


class UsageError(ValueError):
    """A command-line mistake; reported as one ``error:`` line."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake raises UsageError instead of printing the usage and exiting."""

    def error(self, message):
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# ----------------------------------------------------------------------------- shared options


def _add_backend_option(parser) -> None:
    parser.add_argument("--backend", default=os.environ.get("GEMINI_NP_BACKEND", "numpy"),
                        help="where arrays live: numpy or cupy (default: $GEMINI_NP_BACKEND, else numpy)")


def _select_backend(name) -> None:
    from .backend import set_backend

    set_backend(name)  # BackendError / ValueError: reported as one line by main()


def _check_outputs(**paths) -> None:
    """Check every output path the user gave, before the work: files for --save/--json, a folder for --plots."""
    from .files import check_output_dir, check_output_file

    for flag, path in paths.items():
        if path is None:
            continue
        option = "--" + flag.replace("_", "-")
        (check_output_dir if flag == "plots" else check_output_file)(path, option)


# ----------------------------------------------------------------------------- demo


DEMO_CONFIG = dict(samples=600, epochs=8)  # float32, see cmd_demo


def add_demo(commands) -> None:
    demo = commands.add_parser(
        "demo", help="the article's worked example, corrected, a gradient check, a short training run",
        description="Print the article's worked example (猫 / 喜欢 / 吃鱼) beside the correct softmax weights, "
                    "check every op's backward pass against finite differences, then train a small model for a "
                    "few seconds and save its figures.")
    demo.add_argument("--plots", metavar="DIR", default="runs/demo",
                      help="where the training figures go (default: %(default)s)")
    _add_backend_option(demo)
    demo.set_defaults(run=cmd_demo)


def cmd_demo(args) -> int:
    from . import article
    from .gradcheck import format_table, op_gradcheck_table

    _select_backend(args.backend)
    _check_outputs(plots=args.plots)
    print("The article's worked example (§4.3): 猫 / 喜欢 / 吃鱼, one-hot h_i in R^5")
    print("\nSimilarities s_ij = h_i · h_j:")
    print(article.format_matrix(article.similarities(), digits=1))
    print("\nWeights the article claims, w_ij = softmax(s_ij) (WRONG: softmax of a single number):")
    print(article.format_matrix(article.claimed_weights()))
    print("\nCorrect: row-wise softmax(S), each row sums to 1:")
    print(article.format_matrix(article.correct_weights(scaled=False)))
    print("\nCorrect with the formula's own scaling, softmax(S / √d_k), d_k = 5:")
    print(article.format_matrix(article.correct_weights(scaled=True)))
    print("\nThe article's identity is only the zero-temperature limit, softmax(S / T) with T = 0.05:")
    print(article.format_matrix(article.temperature_weights(0.05)))
    print("\nGradient check of every op (float64, random upstream gradient, central differences):")
    rows = op_gradcheck_table(seed=0)
    print(format_table(rows))
    demo_training(args.plots)
    return 0 if all(r["ok"] for r in rows) else EXIT_FAILED


def demo_training(plots_dir) -> None:
    """The demo's last part: a short training run with its progress bar, its accuracy, its figures."""
    from .model import ModelConfig
    from .train import TrainConfig, train
    from .viz import save_run_figures

    config = TrainConfig(**DEMO_CONFIG, model=ModelConfig(dtype="float32"))
    print(f"\nA short training run: {config.samples} image-caption pairs (Chinese captions, hard negatives), "
          f"{_plural(config.epochs, 'epoch')}, batch {config.batch_size}, Adam, {config.dtype}.")
    print("(The full protocol of the article is `python -m gemini_np train`.)")
    sys.stdout.flush()
    result = train(config, progress=True)
    m = result.metrics
    print(f"test accuracy {m['test_accuracy']:.4f} on {m['test_pairs']} held-out pairs "
          f"(train {m['train_accuracy']:.4f}, {m['train_seconds']:.1f} s)")
    paths = save_run_figures(result, plots_dir)
    print(f"figures saved to {Path(plots_dir)}: {', '.join(p.name for p in paths)}")


# ----------------------------------------------------------------------------- train


def add_train(commands) -> None:
    from .data import LANGUAGES
    from .train import OPTIMIZERS, TrainConfig

    d = TrainConfig()
    train = commands.add_parser(
        "train", help="train the matching model (defaults: the article's §5 protocol)",
        description="Train GeminiModel on the synthetic image-text matching data. The defaults are the "
                    "article's protocol: 1000 pairs (500 matching), 80/20 split with seed 42, 10 epochs, "
                    "batch 32, Adam.")
    train.add_argument("--epochs", type=int, default=d.epochs, help="passes over the training pairs (default: %(default)s)")
    train.add_argument("--batch-size", type=int, default=d.batch_size, help="pairs per step (default: %(default)s)")
    train.add_argument("--samples", type=int, default=d.samples,
                       help="image-caption pairs in all, a multiple of 4 (default: %(default)s)")
    train.add_argument("--seed", type=int, default=d.seed,
                       help="initial weights and batch order (default: %(default)s)")
    train.add_argument("--data-seed", type=int, default=d.data_seed, help="which pairs are drawn (default: %(default)s)")
    train.add_argument("--lr", type=float, default=d.lr, help="peak learning rate (default: %(default)s)")
    train.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer, help="(default: %(default)s)")
    train.add_argument("--ablate", choices=("text", "image"), default=None,
                       help="replace that input by a constant, at train and test time")
    train.add_argument("--language", choices=LANGUAGES, default=d.language,
                       help="caption language: Chinese or English (default: %(default)s)")
    train.add_argument("--dtype", choices=("float64", "float32"), default=d.dtype,
                       help="float type of the model and data (default: %(default)s)")
    train.add_argument("--save", metavar="FILE", help="write a checkpoint (.npz) here")
    train.add_argument("--json", metavar="FILE", help="write the metrics as JSON here")
    train.add_argument("--plots", metavar="DIR", help="write loss/accuracy curves and attention heatmaps (PNG) here")
    train.add_argument("--threads", type=int, default=1,
                       help="BLAS threads during training; 0 = NumPy's default (default: %(default)s, the fastest "
                            "for this small model)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_backend_option(train)
    train.set_defaults(run=cmd_train)


def cmd_train(args) -> int:
    from .model import ModelConfig
    from .train import TrainConfig, train

    _select_backend(args.backend)
    config = TrainConfig(samples=args.samples, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                         optimizer=args.optimizer, seed=args.seed, data_seed=args.data_seed, ablate=args.ablate,
                         language=args.language, model=ModelConfig(seed=args.seed, dtype=args.dtype))
    if args.threads < 0:
        raise UsageError(f"--threads must be 0 (NumPy's default) or a positive count, got {args.threads}")
    _check_outputs(save=args.save, json=args.json, plots=args.plots)
    with numpy.errstate(over="ignore", invalid="ignore", divide="ignore"):  # a NaN stops the run (TrainingDiverged)
        result = train(config, progress=not args.quiet, threads=args.threads or None)
    return report_run(result, args.save, args.json, args.plots)


def report_run(result, save=None, json_path=None, plots=None) -> int:
    """Print a finished run's figures; write its checkpoint, metrics and plots where asked."""
    from .files import write_json

    m = result.metrics
    what = "" if m["ablate"] is None else f" (ablated: {m['ablate']} replaced by a constant)"
    print(f"test accuracy {m['test_accuracy']:.4f} on {m['test_pairs']} held-out pairs "
          f"(balanced accuracy {m['test_balanced_accuracy']:.4f}){what}")
    print(f"train accuracy {m['train_accuracy']:.4f} on {m['train_pairs']} pairs, "
          f"{_plural(m['epochs'], 'epoch')} in {m['train_seconds']:.1f} s ({m['backend']}, {m['dtype']})")
    if save:
        from .checkpoint import save_checkpoint

        print(f"checkpoint saved to {save_checkpoint(save, result.model, checkpoint_extra(result))}")
    if json_path:
        print(f"metrics written to {write_json(json_path, {**m, 'history': result.history})}")
    if plots:
        import matplotlib

        matplotlib.use("Agg")  # a command line run draws into files only
        from .viz import save_run_figures

        paths = save_run_figures(result, plots)
        print(f"figures saved to {Path(plots)}: {', '.join(p.name for p in paths)}")
    return 0


def checkpoint_extra(result) -> dict:
    """What a checkpoint stores besides the parameters: how to rebuild its test split, and the run."""
    return {
        "data": result.config.data_config().to_dict(),
        "train": result.config.to_dict(),
        "metrics": result.metrics,
        "vocab": result.test_set.vocab.to_list(),
    }


# ----------------------------------------------------------------------------- evaluate


def add_evaluate(commands) -> None:
    evaluate = commands.add_parser("evaluate", help="test accuracy of a checkpoint on its held-out split",
                                   description="Load a checkpoint written by `train --save` and report its test "
                                               "accuracy on the held-out split it was trained with.")
    evaluate.add_argument("checkpoint", metavar="CKPT", help="a .npz file written by `train --save`")
    evaluate.add_argument("--json", metavar="FILE", help="write the metrics as JSON here")
    _add_backend_option(evaluate)
    evaluate.set_defaults(run=cmd_evaluate)


def cmd_evaluate(args) -> int:
    from .checkpoint import CheckpointError, load_checkpoint
    from .data import DataConfig
    from .files import write_json
    from .train import evaluate_model_on_split

    _select_backend(args.backend)
    _check_outputs(json=args.json)
    model, info = load_checkpoint(args.checkpoint)
    try:
        data_config = DataConfig.from_dict(info.get("data"))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{args.checkpoint}: its data settings are unusable: {exc}") from None
    result = evaluate_model_on_split(model, data_config)
    print(f"test accuracy {result['accuracy']:.4f} on {result['pairs']} held-out pairs "
          f"(balanced accuracy {result['balanced_accuracy']:.4f}, loss {result['loss']:.4f})")
    if args.json:
        metrics = {"test_accuracy": result["accuracy"], "test_balanced_accuracy": result["balanced_accuracy"],
                   "test_loss": result["loss"], "test_pairs": result["pairs"], "checkpoint": str(args.checkpoint)}
        print(f"metrics written to {write_json(args.json, metrics)}")
    return 0


# ----------------------------------------------------------------------------- gradcheck


def add_gradcheck(commands) -> None:
    gradcheck = commands.add_parser(
        "gradcheck", help="every op's and the whole model's worst relative gradient error",
        description="Check every backward pass against central differences in float64, with a random upstream "
                    "gradient: every op of the registry (bound 1e-7) and every parameter of a small model (1e-5).")
    gradcheck.add_argument("--seed", type=int, default=0, help="the random inputs (default: %(default)s)")
    gradcheck.add_argument("--entries", type=int, default=16,
                           help="entries checked per model parameter tensor, all of smaller ones (default: %(default)s)")
    _add_backend_option(gradcheck)
    gradcheck.set_defaults(run=cmd_gradcheck)


def cmd_gradcheck(args) -> int:
    from .gradcheck import format_table, model_gradcheck_rows, op_gradcheck_table
    from .validation import check_int, check_positive_int

    _select_backend(args.backend)
    check_int(args.seed, "--seed", minimum=0)
    check_positive_int(args.entries, "--entries")
    print("Worst relative error of every backward pass against central differences")
    print("(float64, random upstream gradient; bound 1e-7 for one op, 1e-5 for the model)\n")
    rows = op_gradcheck_table(seed=args.seed) + model_gradcheck_rows(seed=args.seed, max_entries=args.entries)
    print(format_table(rows))
    failed = [r["op"] for r in rows if not r["ok"]]
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")
        return EXIT_FAILED
    print(f"\nall {len(rows)} checks pass")
    return 0


# ----------------------------------------------------------------------------- explore


def add_explore(commands) -> None:
    from .explorer import DEFAULT_OUT, LANGS

    explore = commands.add_parser(
        "explore", help="write the classroom explorer: one offline HTML page, attention forward and backward",
        description="Write one self-contained HTML page (no network, no install) that steps through attention "
                    "forward and backward on the article's example (猫 / 喜欢 / 吃鱼), with live editing, per-patch "
                    "image attention, the fusion layer's weights of a trained model and the online softmax. "
                    "Computed with NumPy whatever $GEMINI_NP_BACKEND says.")
    explore.add_argument("--out", metavar="FILE", default=DEFAULT_OUT, help="the page to write (default: %(default)s)")
    explore.add_argument("--lang", choices=LANGS, default="zh",
                         help="the language the page opens in; it switches in the page (default: %(default)s)")
    explore.add_argument("--checkpoint", metavar="CKPT",
                         help="show this model (from `train --save`) instead of training a small one (a few seconds)")
    explore.set_defaults(run=cmd_explore)


def cmd_explore(args) -> int:
    from .explorer import write_page

    _select_backend("numpy")  # the page's numbers are NumPy's, whatever $GEMINI_NP_BACKEND says
    _check_outputs(out=args.out)
    page = write_page(args.out, lang=args.lang, checkpoint=args.checkpoint)
    if page.font is None:
        print("note: no Chinese font found to embed; the page uses the browser's fonts for its Chinese text "
              "(sudo apt-get install fonts-wqy-microhei to embed one)")
    print(f"explorer written to {Path(args.out)} ({page.size / 1e6:.2f} MB, {page.seconds:.1f} s); "
          f"open it in any browser, no network needed")
    return 0


# ----------------------------------------------------------------------------- main

#: Each subcommand: a function that adds its parser (with ``run`` set) to the sub-parsers.
COMMANDS = (add_demo, add_train, add_evaluate, add_gradcheck, add_explore)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m gemini_np", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    for add in COMMANDS:
        add(commands)
    return parser


def main(argv=None) -> int:
    """Run one subcommand; returns the exit status (see the module docstring)."""
    from .backend import BackendError
    from .train import TrainingDiverged

    _reconfigure_stdout()
    try:
        args = _parse(argv)
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted; nothing saved", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `... | head`: the reader has gone, which is no error of the user's
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so Python's exit flush stays quiet
        return EXIT_FAILED
    except TrainingDiverged as exc:
        return _error(exc, EXIT_FAILED)
    except (UsageError, BackendError, ValueError, TypeError, OSError) as exc:
        return _error(exc, EXIT_USAGE)
    except MemoryError:
        return _error("out of memory: try fewer --samples or a smaller --batch-size", EXIT_USAGE)


def _parse(argv):
    """Parse ``argv``; an unknown flag is reported with the subcommand's help, not the top-level one."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        raise UsageError(f"unrecognized arguments: {' '.join(extra)} (see `python -m gemini_np {args.command} --help`)")
    return args


def _error(exc, status: int) -> int:
    message = str(exc) if not isinstance(exc, OSError) else f"{exc.strerror or exc}: {exc.filename or ''}".strip(": ")
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return status


def _reconfigure_stdout() -> None:
    """Print Chinese tokens even where the terminal's encoding is not UTF-8."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="replace")
        except AttributeError:
            pass
