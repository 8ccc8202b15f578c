"""Write the one-page cheat sheet, docs/cheatsheet.pdf and docs/cheatsheet.png.

    python tools/make_cheatsheet.py            # into docs/
    python tools/make_cheatsheet.py OUT_DIR    # somewhere else

The content is gemini_np/viz/cheatsheet.py: every formula there carries a check
against the library, run first (the sheet is not written if one fails, or if the
formulas are not in the library's sync). Both files carry the sheet's fingerprint
(a hash of its text) so tests/test_tools.py can tell that the committed files
were made from the current source.
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

from gemini_np.files import atomic_open  # noqa: E402
from gemini_np.viz import cheatsheet  # noqa: E402

#: A formula on the sheet must equal the library's op to this (float64, small random inputs).
TOLERANCE = 1e-12


def make(out_dir: Path = ROOT / "docs") -> list[Path]:
    """Check every formula, then write cheatsheet.pdf and cheatsheet.png into ``out_dir``; returns the paths."""
    import matplotlib.pyplot as plt

    wrong = {formula: err for formula, err in cheatsheet.check_all().items() if not err <= TOLERANCE}
    if wrong:
        raise SystemExit("error: formulas on the sheet disagree with the library:\n" +
                         "\n".join(f"  {err:.1e}  {formula}" for formula, err in wrong.items()))
    out_dir = Path(out_dir)
    stamp = cheatsheet.fingerprint()
    fig = cheatsheet.cheatsheet_figure()
    paths = []
    try:
        for suffix, metadata in ((".pdf", {"Subject": stamp, "Creator": None, "Producer": None, "CreationDate": None}),
                                 (".png", {"Software": None, "Description": stamp})):
            path = out_dir / f"cheatsheet{suffix}"
            with atomic_open(path, "wb") as f:
                fig.savefig(f, format=suffix[1:], dpi=150, metadata=metadata)
            paths.append(path)
    finally:
        plt.close(fig)
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/make_cheatsheet.py",
                                     description="Write the one-page cheat sheet (PDF and PNG) from "
                                                 "gemini_np/viz/cheatsheet.py, after checking every formula "
                                                 "against the library.")
    parser.add_argument("out_dir", nargs="?", type=Path, default=ROOT / "docs", metavar="OUT_DIR",
                        help="folder for cheatsheet.pdf and cheatsheet.png (default: docs/)")
    args = parser.parse_args(argv)
    for path in make(args.out_dir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
