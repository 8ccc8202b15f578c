"""Write a copy of the repository for a class, with every answer to the exercises removed.

    python tools/make_student_copy.py OUT_DIR

OUT_DIR (new or empty) receives the git-tracked files of this repository, except:

* ``gemini_np/exercises/solutions.py`` (the reference solutions) is left out;
* ``tests/`` is left out (the tests hold right answers, e.g. the checkers' catalogue);
* in every tutorial (``tutorials/src/NN_slug.py`` and ``tutorials/NN_slug.ipynb``)
  the cells tagged ``solution`` are removed, and the outputs of the checker cells
  (``check(...)``) are cleared.

Then the copy is VERIFIED, and the command fails (exit 1, naming each finding)
if any of these is found in it: a cell tagged ``solution``; a solutions module or an
import of one; a file holding the body of a reference solution (its statements,
comments and blank lines ignored). The library itself (``gemini_np.functional``,
``gemini_np.reference``) still computes every op: that is what the checkers compare
against, and they refuse a function that merely calls it.

Students open the copy with ``pip install -e ".[notebooks]" && jupyter lab tutorials/``.
"""
from __future__ import annotations

import argparse
import ast
import io
import json
import re
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = Path("gemini_np/exercises/solutions.py")
LEFT_OUT = (SOLUTIONS, Path("tests"))
SOLUTION_TAG = "solution"
CELL_MARKER = re.compile(r"^# %%(.*)$")
CHECKER_CALL = re.compile(r"\bcheck\(")
#: An import of the solutions module (a mention in prose is fine).
IMPORTS_SOLUTIONS = re.compile(r"^\s*(from\s+[\w.]*exercises\.solutions\s+import|from\s+[\w.]*exercises\s+import\s+"
                               r"[^\n]*\bsolutions\b|import\s+[\w.]*exercises\.solutions)", re.M)
TEXT_SUFFIXES = {".py", ".ipynb", ".md", ".txt", ".toml", ".cfg", ".json", ".html", ".yml", ".yaml", ".rst"}
#: A solution line shorter than this (whitespace removed) is too generic to identify an answer.
MIN_LINE = 16


class StudentCopyError(RuntimeError):
    """The copy could not be made, or still holds an answer."""


# ----------------------------------------------------------------------------- copying


def tracked_files(root: Path = ROOT) -> list[Path]:
    """The repository's git-tracked files (relative paths)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=root, check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise StudentCopyError(f"cannot list the tracked files of {root} with git: {exc}") from None
    return [Path(p) for p in out.decode("utf-8").split("\0") if p]


def is_left_out(path: Path) -> bool:
    return any(path == skip or skip in path.parents for skip in LEFT_OUT)


def strip_source(text: str) -> str:
    """A jupytext percent source without its cells tagged ``solution`` (a cell runs to the next marker)."""
    kept, keep = [], True
    for line in text.splitlines(keepends=True):
        marker = CELL_MARKER.match(line.rstrip("\n"))
        if marker:
            keep = not _tagged(marker.group(1))
        if keep:
            kept.append(line)
    return "".join(kept)


def _tagged(marker_options: str) -> bool:
    """True if a ``# %%`` marker line's options carry the solution tag, e.g. ``tags=["solution"]``."""
    match = re.search(r"tags=(\[[^\]]*\])", marker_options)
    return bool(match) and SOLUTION_TAG in json.loads(match.group(1))


def strip_notebook(text: str) -> str:
    """A notebook (JSON) without its solution cells, and with the outputs of checker cells cleared."""
    import nbformat

    nb = nbformat.reads(text, as_version=4)
    nb.cells = [c for c in nb.cells if SOLUTION_TAG not in c.metadata.get("tags", [])]
    for cell in nb.cells:
        if cell.cell_type == "code" and CHECKER_CALL.search(cell.source):
            cell.outputs = []
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def make_copy(out_dir: Path, root: Path = ROOT) -> list[Path]:
    """Copy the tracked files into ``out_dir`` (new or empty), stripping the answers; returns the copied paths."""
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise StudentCopyError(f"{out_dir} exists and is not an empty folder; choose a new one")
    copied = []
    for rel in tracked_files(root):
        source = root / rel
        if is_left_out(rel) or not source.is_file():
            continue
        target = out_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel.parts[0] == "tutorials" and rel.suffix == ".py" and rel.parent.name == "src":
            target.write_text(strip_source(source.read_text(encoding="utf-8")), encoding="utf-8")
        elif rel.parts[0] == "tutorials" and rel.suffix == ".ipynb":
            target.write_text(strip_notebook(source.read_text(encoding="utf-8")), encoding="utf-8")
        else:
            shutil.copy2(source, target)
        copied.append(rel)
    return copied


# ----------------------------------------------------------------------------- verifying


def _normalise(code: str) -> list[str]:
    """The code's lines without comments and whitespace (empty lines dropped)."""
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(code).readline) if t.type != tokenize.COMMENT]
        code = tokenize.untokenize(tokens)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        code = "\n".join(line.split("#", 1)[0] for line in code.splitlines())
    lines = ("".join(line.split()) for line in code.splitlines())
    return [line for line in lines if line]


def solution_bodies(solutions_path: Path) -> dict[str, list[str]]:
    """{function name: its body's distinctive lines, normalised}, docstrings left out."""
    source = solutions_path.read_text(encoding="utf-8")
    bodies = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.FunctionDef):
            continue
        statements = node.body
        if statements and isinstance(statements[0], ast.Expr) and isinstance(getattr(statements[0], "value", None),
                                                                             ast.Constant):
            statements = statements[1:]  # the docstring
        lines = [line for stmt in statements for line in _normalise(ast.get_source_segment(source, stmt))]
        bodies[node.name] = [line for line in lines if len(line) >= MIN_LINE]
    return bodies


def _searchable_text(path: Path) -> str:
    """What a reader sees in a file: a notebook's cell sources and text outputs, other files as they are."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix != ".ipynb":
        return text
    nb = json.loads(text)
    parts = []
    for cell in nb.get("cells", []):
        parts.append("".join(cell.get("source", "")))
        for out in cell.get("outputs", []):
            parts.append("".join(out.get("text", "")))
            parts.append("".join(out.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def verify(out_dir: Path, solutions_path: Path = ROOT / SOLUTIONS) -> list[str]:
    """Every answer found in the copy at ``out_dir`` (an empty list means it is clean)."""
    out_dir = Path(out_dir)
    findings = []
    bodies = {name: lines for name, lines in solution_bodies(solutions_path).items() if lines}
    if not bodies:
        findings.append(f"no solution bodies read from {solutions_path}: nothing to verify against")
    for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(out_dir)
        if path.name == "solutions.py" and "exercises" in rel.parts:
            findings.append(f"{rel}: a solutions module")
        if path.suffix not in TEXT_SUFFIXES:
            continue
        text = _searchable_text(path)
        if path.suffix == ".ipynb":
            tagged = [c for c in json.loads(path.read_text(encoding="utf-8")).get("cells", [])
                      if SOLUTION_TAG in c.get("metadata", {}).get("tags", [])]
            if tagged:
                findings.append(f"{rel}: {len(tagged)} cell(s) tagged {SOLUTION_TAG!r}")
        if path.suffix == ".py" and any(_tagged(m.group(1)) for m in map(CELL_MARKER.match, text.splitlines()) if m):
            findings.append(f"{rel}: a cell tagged {SOLUTION_TAG!r}")
        if IMPORTS_SOLUTIONS.search(text):
            findings.append(f"{rel}: imports the solutions module")
        present = set(_normalise(text))
        for name, lines in bodies.items():
            if all(line in present for line in lines):
                findings.append(f"{rel}: holds the body of the solution {name!r}")
    return findings


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/make_student_copy.py",
                                     description="Write a copy of the repository for a class, with the answers to "
                                                 "the exercises removed, and verify that none is left.")
    parser.add_argument("out_dir", metavar="OUT_DIR", type=Path, help="a new (or empty) folder for the copy")
    args = parser.parse_args(argv)
    if not (ROOT / SOLUTIONS).is_file():
        print(f"error: {SOLUTIONS} is missing here, so the copy cannot be verified against it", file=sys.stderr)
        return 1
    try:
        copied = make_copy(args.out_dir)
    except StudentCopyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    findings = verify(args.out_dir)
    if findings:
        print(f"error: the copy in {args.out_dir} still holds answers:", file=sys.stderr)
        for finding in findings:
            print(f"  {finding}", file=sys.stderr)
        return 1
    print(f"student copy written to {args.out_dir}: {len(copied)} files; verified: no solution cell, no solutions "
          f"module, no solution body ({len(solution_bodies(ROOT / SOLUTIONS))} checked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
