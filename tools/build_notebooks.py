"""Build the tutorial notebooks from their plain-Python sources.

    python tools/build_notebooks.py            # every tutorials/src/NN_*.py
    python tools/build_notebooks.py 01 03      # only those numbers
    python tools/build_notebooks.py --no-execute 02   # convert only (no outputs)

Source format (see the team's notebook notes): ``tutorials/src/NN_slug.py`` is
plain Python. A line ``# %% [markdown]`` starts a markdown cell whose lines are
``# ``-prefixed markdown; a line ``# %%`` starts a code cell. Nothing may come
before the first marker.

Each source becomes ``tutorials/NN_slug.ipynb``: executed top to bottom with
nbclient (kernel ``python3`` run by the current interpreter, working directory
``tutorials/``, figures inline as PNG), then cleaned of everything that changes
from run to run (timestamps, kernel and Python versions, random cell ids, the
PNG "Software" text chunk), and written atomically (temp file + os.replace), so
a rebuild on an unchanged source only changes the diff where the outputs do.

The functions are importable (the tests use them): ``parse_source``,
``notebook_from_source``, ``execute``, ``clean``, ``write_atomic``, ``build``.
"""
from __future__ import annotations

import argparse
import base64
import os
import struct
import sys
import time
from pathlib import Path

import nbformat

from gemini_np.files import atomic_open

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = ROOT / "tutorials"
SOURCES = TUTORIALS / "src"

MARKDOWN_MARKER = "# %% [markdown]"
CODE_MARKER = "# %%"
KERNEL_NAME = "python3"
#: The notebook-level metadata every built notebook carries, and nothing else.
NOTEBOOK_METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": KERNEL_NAME},
    "language_info": {"name": "python", "pygments_lexer": "ipython3"},
}
#: Environment for the kernel: figures inline (the inline backend renders with Agg),
#: a fixed hash seed, and no colour codes in tracebacks.
KERNEL_ENV = {
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    "PYTHONHASHSEED": "0",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",  # silence debugpy's frozen-modules note on stderr
}


class SourceError(ValueError):
    """A tutorial source does not follow the cell-marker format."""


def parse_source(text: str, name: str = "<source>") -> list[tuple[str, str]]:
    """Split a source file into cells.

    text: the file's contents. Returns [(kind, cell_text)], kind "markdown" or
    "code". Markdown lines lose their "# " prefix ("#" alone is a blank line);
    leading and trailing blank lines of a cell are dropped.
    """
    cells: list[tuple[str, list[str]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.rstrip()
        if stripped == MARKDOWN_MARKER:
            cells.append(("markdown", []))
        elif stripped == CODE_MARKER:
            cells.append(("code", []))
        elif not cells:
            if stripped:
                raise SourceError(f"{name}:{number}: text before the first cell marker ({CODE_MARKER!r} or {MARKDOWN_MARKER!r})")
        elif cells[-1][0] == "markdown":
            cells[-1][1].append(_markdown_line(stripped, name, number))
        else:
            cells[-1][1].append(stripped)
    if not cells:
        raise SourceError(f"{name}: no cells (a source starts with {CODE_MARKER!r} or {MARKDOWN_MARKER!r})")
    return [(kind, _trim(lines)) for kind, lines in cells]


def _markdown_line(line: str, name: str, number: int) -> str:
    if line == "#":
        return ""
    if line.startswith("# "):
        return line[2:]
    if not line:
        return ""
    raise SourceError(f"{name}:{number}: a markdown cell line must start with '# ', got {line!r}")


def _trim(lines: list[str]) -> str:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return "\n".join(lines)


def notebook_from_source(path: Path) -> nbformat.NotebookNode:
    """An unexecuted notebook with one cell per source cell and fixed cell ids."""
    path = Path(path)
    nb = nbformat.v4.new_notebook()
    for kind, text in parse_source(path.read_text(encoding="utf-8"), name=str(path)):
        make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        nb.cells.append(make(text))
    return clean(nb)


def execute(nb: nbformat.NotebookNode, cwd: Path = TUTORIALS, timeout: int = 600, env: dict | None = None) -> nbformat.NotebookNode:
    """Run every cell top to bottom in a fresh ``python3`` kernel (the current interpreter).

    cwd: the kernel's working directory. env: extra environment variables for
    the kernel (on top of os.environ and KERNEL_ENV). Raises
    nbclient.exceptions.CellExecutionError on the first failing cell.
    Returns the same notebook, now with outputs.
    """
    from nbclient import NotebookClient

    kernel_env = {**os.environ, **KERNEL_ENV, **(env or {})}
    client = NotebookClient(
        nb,
        kernel_name=KERNEL_NAME,
        timeout=timeout,
        record_timing=False,
        coalesce_streams=True,  # one stdout block per cell, however many print() calls
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute(env=kernel_env)
    return nb


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove what changes from run to run; returns the same notebook.

    Keeps: sources, outputs, sequential execution counts. Sets fixed notebook
    metadata and cell ids ("cell-01", ...), empties cell metadata, and strips
    the text chunks (matplotlib version, ...) from PNG outputs.
    """
    nb.nbformat, nb.nbformat_minor = 4, 5
    nb.metadata = nbformat.from_dict(NOTEBOOK_METADATA)
    for i, cell in enumerate(nb.cells, start=1):
        cell.id = f"cell-{i:02d}"
        cell.metadata = nbformat.from_dict({})
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data:
                data["image/png"] = _strip_png_text(data["image/png"])
    return nb


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_VOLATILE_PNG_CHUNKS = {b"tEXt", b"zTXt", b"iTXt", b"tIME"}


def _strip_png_text(b64: str) -> str:
    """Drop text and time chunks from a base64 PNG (they name the matplotlib version)."""
    raw = base64.b64decode(b64)
    if not raw.startswith(_PNG_SIGNATURE):
        return b64
    kept, pos = [_PNG_SIGNATURE], len(_PNG_SIGNATURE)
    while pos + 8 <= len(raw):
        (length,) = struct.unpack(">I", raw[pos : pos + 4])
        kind = raw[pos + 4 : pos + 8]
        end = pos + 12 + length  # length, type, data, CRC
        if kind not in _VOLATILE_PNG_CHUNKS:
            kept.append(raw[pos:end])
        pos = end
    return base64.b64encode(b"".join(kept)).decode("ascii")


def write_atomic(nb: nbformat.NotebookNode, path: Path) -> None:
    """Validate, then write ``path`` via a temporary file and os.replace."""
    path = Path(path)
    nbformat.validate(nb)
    text = nbformat.writes(nb) + "\n"
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)


def notebook_path(source: Path) -> Path:
    """tutorials/src/NN_slug.py -> tutorials/NN_slug.ipynb"""
    return Path(source).parent.parent / (Path(source).stem + ".ipynb")


def sources(numbers: list[str] | None = None) -> list[Path]:
    """The tutorial sources, sorted; ``numbers`` ("01", "3") selects by prefix."""
    found = sorted(p for p in SOURCES.glob("[0-9][0-9]_*.py"))
    if not numbers:
        return found
    wanted = {f"{int(n):02d}" for n in numbers}
    chosen = [p for p in found if p.name[:2] in wanted]
    missing = wanted - {p.name[:2] for p in chosen}
    if missing:
        raise SystemExit(f"no tutorial source for {', '.join(sorted(missing))} in {SOURCES}")
    return chosen


def build(source: Path, run: bool = True, timeout: int = 600) -> Path:
    """Convert (and by default execute) one source; returns the notebook's path."""
    nb = notebook_from_source(source)
    if run:
        execute(nb, cwd=TUTORIALS, timeout=timeout)
        clean(nb)
    out = notebook_path(source)
    write_atomic(nb, out)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("numbers", nargs="*", help="tutorial numbers to build (default: all)")
    parser.add_argument("--no-execute", action="store_true", help="convert only; the notebook gets no outputs")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell (default 600)")
    args = parser.parse_args(argv)
    status = 0
    for source in sources(args.numbers):
        start = time.perf_counter()
        print(f"{source.relative_to(ROOT)} ...", end=" ", file=sys.stderr, flush=True)
        try:
            out = build(source, run=not args.no_execute, timeout=args.timeout)
        except Exception as exc:  # report and go on with the others
            print(f"FAILED\n{type(exc).__name__}: {exc}", file=sys.stderr)
            status = 1
            continue
        print(f"{out.relative_to(ROOT)} ({time.perf_counter() - start:.1f} s)", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
