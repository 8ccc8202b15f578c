"""Write the README's figure: the article's worked example, its claim and the correct weights.

    python tools/make_readme_figure.py [PATH]      # default docs/figures/worked_example.png
    python tools/make_readme_figure.py --allow-pinyin PATH

The figure is ``gemini_np.viz.worked_example_figure()`` (the same one notebook 01
shows). Its labels are Chinese (猫 / 喜欢 / 吃鱼): without a CJK font on this
machine they would come out in pinyin, and the tool refuses to write such a
degraded figure unless ``--allow-pinyin`` is given. tests/test_viz.py runs ``make``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gemini_np import article, viz  # noqa: E402

DEFAULT = ROOT / "docs" / "figures" / "worked_example.png"


class DegradedFigure(RuntimeError):
    """No CJK font here: the figure's Chinese labels would be drawn in pinyin."""


def make(path: Path = DEFAULT, allow_pinyin: bool = False) -> Path:
    """Draw the figure and save it atomically as a PNG; returns the path.

    Raises DegradedFigure (writing nothing) when no installed font draws the
    tokens and ``allow_pinyin`` is False.
    """
    import matplotlib.pyplot as plt

    if viz.cjk_font("".join(article.TOKENS)) is None and not allow_pinyin:
        raise DegradedFigure("no CJK font here, so the labels would be pinyin; install one "
                             "(sudo apt-get install fonts-wqy-microhei) or pass --allow-pinyin")
    fig = viz.worked_example_figure()
    try:
        return viz.save_figure(fig, path)
    finally:
        plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/make_readme_figure.py",
                                     description="Write the README's worked-example figure (PNG).")
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT, metavar="PATH",
                        help="where to write the PNG (default: docs/figures/worked_example.png)")
    parser.add_argument("--allow-pinyin", action="store_true",
                        help="write the figure even if no CJK font is installed (labels in pinyin)")
    args = parser.parse_args(argv)
    try:
        print(make(args.path, allow_pinyin=args.allow_pinyin))
    except DegradedFigure as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
