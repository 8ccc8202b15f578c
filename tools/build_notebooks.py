"""Build the tutorial notebooks from their sources, with jupytext and nbclient.

    python tools/build_notebooks.py              # every tutorials/src/NN_slug.py
    python tools/build_notebooks.py 01 05        # only those numbers
    python tools/build_notebooks.py --no-execute 02   # convert only (no outputs)

A source ``tutorials/src/NN_slug.py`` is a jupytext "percent" script: ``# %%``
starts a code cell, ``# %% [markdown]`` a markdown cell, ``# %% tags=["solution"]``
a cell tagged ``solution`` (student copies drop it: tools/make_student_copy.py).
``tutorials/jupytext.toml`` pairs each source with ``tutorials/NN_slug.ipynb``, so
JupyterLab with jupytext installed (``pip install -e ".[notebooks]"``) edits both.

Here each source is read by jupytext, run top to bottom by nbclient (a fresh
``python3`` kernel, working directory ``tutorials/``), cleaned of everything that
changes from run to run (timestamps, kernel and library versions, random cell
ids, the PNG "Software" chunk) and written atomically, so a rebuild of an
unchanged source only changes the diff where the outputs change.

The build refuses to write a notebook whose figures fell back to pinyin labels
(no CJK font on this machine) unless ``--allow-pinyin`` is given: the committed
notebooks show the Chinese characters.
"""
from __future__ import annotations

import argparse
import base64
import os
import struct
import sys
import time
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gemini_np.files import atomic_open  # noqa: E402

TUTORIALS = ROOT / "tutorials"
SOURCES = TUTORIALS / "src"
FORMAT = "py:percent"
KERNEL_NAME = "python3"
#: The notebook-level metadata every built notebook carries, and nothing else.
NOTEBOOK_METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": KERNEL_NAME},
    "language_info": {"name": "python", "pygments_lexer": "ipython3"},
}
#: The only cell metadata kept: tags (``solution`` marks an answer).
KEPT_CELL_METADATA = ("tags",)
#: Environment for the kernel: figures inline (rendered with Agg), a fixed hash seed.
KERNEL_ENV = {
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    "PYTHONHASHSEED": "0",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",  # silence debugpy's frozen-modules note on stderr
}
#: What gemini_np.viz prints (once) when it had to draw Chinese labels in pinyin.
PINYIN_MARK = "CJKFontWarning"


class DegradedNotebook(RuntimeError):
    """The notebook ran, but its Chinese labels fell back to pinyin (no CJK font)."""


def read_source(path: Path) -> nbformat.NotebookNode:
    """The source as an unexecuted notebook (jupytext), cleaned: fixed ids and metadata."""
    return clean(jupytext.read(Path(path), fmt=FORMAT))


notebook_from_source = read_source  # the name the tests used before jupytext


def cells_of(nb) -> list[tuple[str, str, list]]:
    """(cell type, source, tags) of every cell: what must agree between source and notebook."""
    return [(c.cell_type, c.source, list(c.metadata.get("tags", []))) for c in nb.cells]


def execute(nb, cwd: Path = TUTORIALS, timeout: int = 600, env: dict | None = None):
    """Run every cell top to bottom in a fresh ``python3`` kernel; returns the notebook.

    env: extra environment variables for the kernel. Raises
    nbclient.exceptions.CellExecutionError on the first failing cell.
    """
    from nbclient import NotebookClient

    client = NotebookClient(nb, kernel_name=KERNEL_NAME, timeout=timeout, record_timing=False,
                            coalesce_streams=True, resources={"metadata": {"path": str(cwd)}})
    client.execute(env={**os.environ, **KERNEL_ENV, **(env or {})})
    return nb


def clean(nb):
    """Remove what changes from run to run; returns the same notebook.

    Keeps sources, outputs, execution counts and cell tags. Sets the fixed
    notebook metadata and cell ids ("cell-01", ...); strips the text and time
    chunks (matplotlib's version) from PNG outputs.
    """
    nb.nbformat, nb.nbformat_minor = 4, 5
    nb.metadata = nbformat.from_dict(NOTEBOOK_METADATA)
    for i, cell in enumerate(nb.cells, start=1):
        cell.id = f"cell-{i:02d}"
        cell.metadata = nbformat.from_dict({k: cell.metadata[k] for k in KEPT_CELL_METADATA if cell.metadata.get(k)})
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data:
                data["image/png"] = strip_png_text(data["image/png"])
    return nb


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_VOLATILE_PNG_CHUNKS = {b"tEXt", b"zTXt", b"iTXt", b"tIME"}


def strip_png_text(b64: str) -> str:
    """Drop the text and time chunks of a base64 PNG (they name the matplotlib version)."""
    raw = base64.b64decode(b64)
    if not raw.startswith(_PNG_SIGNATURE):
        return b64
    kept, pos = [_PNG_SIGNATURE], len(_PNG_SIGNATURE)
    while pos + 8 <= len(raw):
        (length,) = struct.unpack(">I", raw[pos: pos + 4])
        end = pos + 12 + length  # length, type, data, CRC
        if raw[pos + 4: pos + 8] not in _VOLATILE_PNG_CHUNKS:
            kept.append(raw[pos:end])
        pos = end
    return base64.b64encode(b"".join(kept)).decode("ascii")


def output_text(nb) -> str:
    """Everything the notebook printed (streams, text results, errors)."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                parts.append(out.text)
            elif out.output_type in ("execute_result", "display_data"):
                parts.append(out.get("data", {}).get("text/plain", ""))
            elif out.output_type == "error":
                parts.append("\n".join(out.traceback))
    return "\n".join(parts)


def write_atomic(nb, path: Path) -> None:
    """Validate, then write ``path`` through a temporary file and os.replace."""
    nbformat.validate(nb)
    with atomic_open(Path(path), "w", encoding="utf-8") as f:
        f.write(nbformat.writes(nb) + "\n")


def notebook_path(source: Path) -> Path:
    """tutorials/src/NN_slug.py -> tutorials/NN_slug.ipynb"""
    return Path(source).parent.parent / (Path(source).stem + ".ipynb")


def sources(numbers: list[str] | None = None) -> list[Path]:
    """The tutorial sources, sorted; ``numbers`` ("01", "3") selects by prefix."""
    found = sorted(SOURCES.glob("[0-9][0-9]_*.py"))
    if not numbers:
        return found
    wanted = {f"{int(n):02d}" for n in numbers}
    missing = wanted - {p.name[:2] for p in found}
    if missing:
        raise SystemExit(f"error: no tutorial source for {', '.join(sorted(missing))} in {SOURCES}")
    return [p for p in found if p.name[:2] in wanted]


def build(source: Path, run: bool = True, timeout: int = 600, allow_pinyin: bool = False,
          out: Path | None = None) -> Path:
    """Convert (and by default execute) one source; returns the notebook's path.

    Raises DegradedNotebook, writing nothing, when the run drew pinyin labels
    and ``allow_pinyin`` is False.
    """
    nb = read_source(source)
    if run:
        clean(execute(nb, timeout=timeout))
        if PINYIN_MARK in output_text(nb) and not allow_pinyin:
            raise DegradedNotebook("no CJK font here, so its Chinese labels came out in pinyin; install one "
                                   "(sudo apt-get install fonts-wqy-microhei) or pass --allow-pinyin")
    out = notebook_path(source) if out is None else Path(out)
    write_atomic(nb, out)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/build_notebooks.py",
                                     description="Build tutorials/NN_slug.ipynb from tutorials/src/NN_slug.py "
                                                 "(jupytext) and execute it top to bottom (nbclient).")
    parser.add_argument("numbers", nargs="*", metavar="NN", help="tutorial numbers to build (default: all)")
    parser.add_argument("--no-execute", action="store_true", help="convert only; the notebook gets no outputs")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell (default: 600)")
    parser.add_argument("--allow-pinyin", action="store_true",
                        help="write notebooks even if their Chinese labels fell back to pinyin (no CJK font)")
    args = parser.parse_args(argv)
    status = 0
    for source in sources(args.numbers):
        start = time.perf_counter()
        print(f"{source.relative_to(ROOT)} ...", end=" ", file=sys.stderr, flush=True)
        try:
            out = build(source, run=not args.no_execute, timeout=args.timeout, allow_pinyin=args.allow_pinyin)
        except Exception as exc:  # report and go on with the others
            print(f"NOT WRITTEN\nerror: {type(exc).__name__}: {exc}", file=sys.stderr)
            status = 1
            continue
        print(f"{out.relative_to(ROOT)} ({time.perf_counter() - start:.1f} s)", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
