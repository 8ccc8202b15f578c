"""Write the README's figure: the article's worked example, its claim and the correct weights.

    python tools/make_readme_figure.py [PATH]     # default docs/figures/worked_example.png

The figure is ``gemini_np.viz.worked_example_figure()`` (the same one notebook 01
shows); tests/test_viz.py runs this script's ``make`` so the code cannot rot.
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gemini_np import viz  # noqa: E402

DEFAULT = ROOT / "docs" / "figures" / "worked_example.png"


def make(path: Path = DEFAULT) -> Path:
    """Draw the figure and save it atomically as a PNG; returns the path."""
    import matplotlib.pyplot as plt

    fig = viz.worked_example_figure()
    try:
        return viz.save_figure(fig, path)
    finally:
        plt.close(fig)


if __name__ == "__main__":
    print(make(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT))
