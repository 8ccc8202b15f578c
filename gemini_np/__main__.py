"""Command line: ``python -m gemini_np <command>``.

    demo        the article's worked example, corrected, a gradient check of every op,
                and a short training run with its figures
    train       train the image-text matching model (defaults: the article's §5 protocol)
    evaluate    test accuracy of a saved checkpoint on its held-out split
    gradcheck   every op's and the whole model's worst relative gradient error
"""
from __future__ import annotations

import argparse
import sys


def _reconfigure_stdout() -> None:
    """Print Chinese tokens even where the terminal's encoding is not UTF-8."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="replace")
        except AttributeError:
            pass


def cmd_demo(args) -> int:
    from . import article
    from .gradcheck import format_table, op_gradcheck_table

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
    from .commands import demo_training

    demo_training(args.plots)
    return 0 if all(r["ok"] for r in rows) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gemini_np", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    demo = commands.add_parser("demo", help="the article's worked example, corrected, and a gradient check")
    demo.add_argument("--plots", metavar="DIR", default="runs/demo", help="where the training figures go")
    demo.set_defaults(run=cmd_demo)
    from .commands import add_commands

    add_commands(commands)
    return parser


def main(argv=None) -> int:
    _reconfigure_stdout()
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
