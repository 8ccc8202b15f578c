"""The teacher's tools: the notebook builder, the student copy, the cheat sheet.

    tools/build_notebooks.py     jupytext + nbclient; refuses pinyin output unless asked
    tools/make_student_copy.py   a copy without answers, verified; its notebooks still run
    tools/make_cheatsheet.py     the one-page sheet, every formula checked against the library
"""
from __future__ import annotations

import base64
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from gemini_np import viz
from gemini_np.viz import cheatsheet
from helpers import load_tool

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("build_notebooks", "make_student_copy", "make_cheatsheet", "make_readme_figure")


build = load_tool("build_notebooks")
student = load_tool("make_student_copy")


@pytest.mark.parametrize("tool", TOOLS)
def test_every_tool_takes_help_and_writes_nothing(tool, tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "tools" / f"{tool}.py"), "--help"], cwd=tmp_path,
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert result.returncode == 0 and result.stdout.startswith("usage:"), result.stderr
    assert not list(tmp_path.iterdir()), "--help wrote a file"


# ---------------------------------------------------------------- the notebook builder

def test_builder_reads_percent_sources_with_tags():
    text = '# %% [markdown]\n# # Title\n#\n# text\n\n# %%\nx = 1\n\n# %% tags=["solution"]\nprint(x)\n'
    path = Path(build.TUTORIALS) / "src" / "00_probe.py"  # read from a string: jupytext needs a format, not a file
    import jupytext

    nb = build.clean(jupytext.reads(text, fmt=build.FORMAT))
    assert build.cells_of(nb) == [("markdown", "# Title\n\ntext", []), ("code", "x = 1", []),
                                  ("code", "print(x)", ["solution"])]
    assert [c.id for c in nb.cells] == ["cell-01", "cell-02", "cell-03"]
    assert nb.metadata == build.NOTEBOOK_METADATA
    assert not path.exists()


def test_builder_strips_png_text_chunks():
    import io

    import matplotlib.pyplot as plt

    fig, _ = plt.subplots()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")  # with matplotlib's Software chunk
    plt.close(fig)
    raw = buffer.getvalue()
    assert b"Software" in raw
    cleaned = base64.b64decode(build.strip_png_text(base64.b64encode(raw).decode()))
    assert b"Software" not in cleaned and struct.unpack(">II", cleaned[16:24]) == struct.unpack(">II", raw[16:24])


def test_builder_refuses_pinyin_unless_asked(tmp_path, monkeypatch):
    """Without a CJK font the notebook's labels would be pinyin: nothing is written unless --allow-pinyin."""
    monkeypatch.setenv("GEMINI_NP_CJK_FONT", "none")  # the kernel's environment: no CJK font
    out = tmp_path / "01.ipynb"
    with pytest.raises(build.DegradedNotebook, match="--allow-pinyin"):
        build.build(build.sources(["01"])[0], out=out)
    assert not out.exists()
    build.build(build.sources(["01"])[0], out=out, allow_pinyin=True)
    nb = nbformat.read(out, as_version=4)
    assert "māo" in build.output_text(nb) or build.PINYIN_MARK in build.output_text(nb)
    assert [p.name for p in tmp_path.iterdir()] == ["01.ipynb"]  # atomic: no temporary file left


# ---------------------------------------------------------------- the student copy

@pytest.fixture(scope="module")
def student_copy(tmp_path_factory):
    if not (ROOT / student.SOLUTIONS).exists():
        pytest.skip("gemini_np/exercises/solutions.py is not here (already a student copy)")
    out = tmp_path_factory.mktemp("class") / "copy"
    student.make_copy(out)
    return out


def test_student_copy_holds_no_answer(student_copy):
    assert student.verify(student_copy) == []
    assert not (student_copy / student.SOLUTIONS).exists()
    assert not (student_copy / "tests").exists()
    for source in sorted((student_copy / "tutorials" / "src").glob("[0-9][0-9]_*.py")):
        text = source.read_text(encoding="utf-8")
        assert 'tags=["solution"]' not in text
        nb = nbformat.read(build.notebook_path(source), as_version=4)
        assert not [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]
        assert build.cells_of(nb) == build.cells_of(build.clean(__import__("jupytext").read(source, fmt=build.FORMAT)))
        for cell in nb.cells:
            if cell.cell_type == "code" and "check(" in cell.source:
                assert cell.outputs == [], "a checker's output was kept"
    # what the teacher's notebooks show and the copy must not: the worked answers
    original = (ROOT / "tutorials" / "src" / "02_attention.py").read_text(encoding="utf-8")
    copy = (student_copy / "tutorials" / "src" / "02_attention.py").read_text(encoding="utf-8")
    for answer in ("dS = P * (dP - np.sum(dP * P, axis=-1, keepdims=True))", "getsource(reference.softmax)",
                   "getsource(reference.attention_backward)"):
        assert answer in original and answer not in copy


def test_verify_finds_an_answer_left_in_the_copy(student_copy, tmp_path):
    """The verification is not vacuous: a solution body pasted anywhere, a tagged cell, an import: each is found."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(student_copy, copy)
    solutions = (ROOT / student.SOLUTIONS).read_text(encoding="utf-8")
    (copy / "tutorials" / "my_notes.py").write_text(solutions, encoding="utf-8")
    (copy / "gemini_np" / "helper.py").write_text("from gemini_np.exercises.solutions import softmax\n", encoding="utf-8")
    nb_path = copy / "tutorials" / "01_worked_example.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("answer", metadata={"tags": ["solution"]}))
    nbformat.write(nb, nb_path)
    findings = "\n".join(student.verify(copy))
    bodies = student.solution_bodies(ROOT / student.SOLUTIONS)
    for name in (n for n, lines in bodies.items() if lines):
        assert f"my_notes.py: holds the body of the solution {name!r}" in findings
    assert "helper.py: imports the solutions module" in findings
    assert "01_worked_example.ipynb: 1 cell(s) tagged 'solution'" in findings


def test_student_copy_refuses_a_used_folder(tmp_path):
    (tmp_path / "x").write_text("", encoding="utf-8")
    with pytest.raises(student.StudentCopyError, match="not an empty folder"):
        student.make_copy(tmp_path)


#: The student notebooks run in the tests: every one with an exercise (08 and 09 have none, 06 trains: slow).
STUDENT_RUNS = ("01", "02", "03", "04", "05", "07")


@pytest.mark.parametrize("number", STUDENT_RUNS)
def test_student_notebook_runs_with_placeholders(student_copy, number):
    """The stripped notebook runs top to bottom in the copy, and every exercise says 'not attempted'."""
    source = next((student_copy / "tutorials" / "src").glob(f"{number}_*.py"))
    nb = build.read_source(source)
    build.execute(nb, cwd=student_copy / "tutorials", env={"PYTHONPATH": str(student_copy)})
    text = build.output_text(nb)
    calls = [c.source for c in nb.cells if c.cell_type == "code" and "raise NotImplementedError" in c.source]
    assert calls
    for cell in calls:
        name = cell.split('check(my_', 1)[1].split(",", 1)[1].split('"')[1]
        assert f"[NOT ATTEMPTED] {name}" in text
    assert "gemini_np/exercises/solutions.py" not in text


def test_student_copy_command_line(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "make_student_copy.py"), str(tmp_path / "c")],
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    if not (ROOT / student.SOLUTIONS).exists():
        assert result.returncode == 1 and "missing" in result.stderr
        return
    assert result.returncode == 0, result.stderr
    assert "verified" in result.stdout
    again = subprocess.run([sys.executable, str(ROOT / "tools" / "make_student_copy.py"), str(tmp_path / "c")],
                           capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert again.returncode == 1 and again.stderr.startswith("error:") and "Traceback" not in again.stderr


# ---------------------------------------------------------------- the cheat sheet

def test_every_formula_on_the_cheat_sheet_matches_the_library():
    results = cheatsheet.check_all()
    assert len(results) >= 9
    assert all(error <= 1e-12 for error in results.values()), results


def test_cheat_sheet_covers_what_the_issue_asks():
    text = cheatsheet.text()
    for topic in ("Softmax", "Scaled dot-product attention", "Per-patch attention", "Summed-logit fusion",
                  "fully masked row", "Online softmax", r"dV = P^\top dO", r"\leftarrow e^{m - m'}"):
        assert topic in text


def test_cheat_sheet_is_regenerated_from_its_source(tmp_path):
    tool = load_tool("make_cheatsheet")
    pdf, png = tool.make(tmp_path)
    stamp = cheatsheet.fingerprint().encode()
    for made, committed in ((pdf, ROOT / "docs" / "cheatsheet.pdf"), (png, ROOT / "docs" / "cheatsheet.png")):
        assert stamp in made.read_bytes()
        assert stamp in committed.read_bytes(), f"{committed.name} is stale: run python tools/make_cheatsheet.py"
    raw = png.read_bytes()
    assert struct.unpack(">II", raw[16:24])[0] >= viz.MIN_WIDTH_PX
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.read_bytes().count(b"/Type /Page\n") + \
        pdf.read_bytes().count(b"/Type /Page ") + pdf.read_bytes().count(b"/Type/Page") >= 1


def test_cheat_sheet_refuses_a_formula_that_disagrees(tmp_path, monkeypatch):
    tool = load_tool("make_cheatsheet")
    wrong = cheatsheet.Line("$x$", lambda: 1.0)
    monkeypatch.setattr(cheatsheet, "SECTIONS", cheatsheet.SECTIONS + [("wrong", [wrong])])
    with pytest.raises(SystemExit, match="disagree"):
        tool.make(tmp_path)
    assert not list(tmp_path.iterdir())


def test_jupytext_pairing_config():
    """tutorials/jupytext.toml pairs NN_slug.ipynb with src/NN_slug.py, keeping only the tags."""
    text = (ROOT / "tutorials" / "jupytext.toml").read_text(encoding="utf-8")
    assert 'formats = "ipynb,src//py:percent"' in text and 'cell_metadata_filter = "tags,-all"' in text
    assert json.loads(json.dumps(build.NOTEBOOK_METADATA))["kernelspec"]["name"] == "python3"
