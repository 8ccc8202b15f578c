"""The tutorials: every notebook runs top to bottom, its committed copy matches its
source and carries outputs, and the numbers it prints are right.

Each notebook is executed once per session from its source (``tutorials/src``;
the committed ``.ipynb`` is checked to hold exactly the same cells), in a fresh
kernel, working directory ``tutorials/``, figures rendered by the inline
backend (Agg). The notebooks with Chinese labels run a second time with
``GEMINI_NP_CJK_FONT=none``, the path of a machine without a CJK font: they
must still run, say so in exactly one warning, and never emit matplotlib's
"Glyph ... missing" warning. The expected numbers are computed here,
independently of the notebooks.
"""
from __future__ import annotations

import base64
import importlib.util
import math
import re
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from gemini_np import viz

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("build_notebooks", ROOT / "tools" / "build_notebooks.py")
build = importlib.util.module_from_spec(_spec)
sys.modules["build_notebooks"] = build
_spec.loader.exec_module(build)

SOURCES = {p.name[:2]: p for p in build.sources()}
GLYPH_MISSING = re.compile(r"Glyph \d+ .{0,80}missing", re.S)
CJK = re.compile(r"[\u2e80-\u9fff]")
FONT_WARNING = "CJKFontWarning"


def notebook_ids():
    return sorted(SOURCES)


def text_of(nb) -> str:
    """Everything the notebook printed or displayed as text, cell after cell."""
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


def markdown_of(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


_executed: dict = {}


def executed(number: str, font: bool = True):
    """The notebook built from its source and run (once per session and font setting)."""
    key = (number, font)
    if key not in _executed:
        nb = build.notebook_from_source(SOURCES[number])
        env = {} if font else {"GEMINI_NP_CJK_FONT": "none"}
        build.execute(nb, cwd=build.TUTORIALS, timeout=600, env=env)
        _executed[key] = nb
    return _executed[key]


#: Notebooks that draw Chinese labels (tick labels, titles) through gemini_np.viz.
CHINESE_LABELS = {"01", "02", "04", "05"}


# ---------------------------------------------------------------- the committed notebooks

@pytest.mark.parametrize("number", notebook_ids())
def test_committed_notebook_matches_its_source(number):
    source = SOURCES[number]
    path = build.notebook_path(source)
    assert path.exists(), f"{path.name} is missing: run `python tools/build_notebooks.py {number}`"
    nb = nbformat.read(path, as_version=4)
    expected = build.parse_source(source.read_text(encoding="utf-8"), name=source.name)
    committed = [(c.cell_type, c.source) for c in nb.cells]
    assert committed == expected, f"{path.name} drifted from {source.name}: rebuild it with tools/build_notebooks.py"


@pytest.mark.parametrize("number", notebook_ids())
def test_committed_notebook_has_outputs_and_no_volatile_metadata(number):
    path = build.notebook_path(SOURCES[number])
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata == build.NOTEBOOK_METADATA, "notebook metadata must be the fixed set (no versions)"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "run top to bottom, once"
    for i, cell in enumerate(nb.cells, start=1):
        assert cell.id == f"cell-{i:02d}"
        assert cell.metadata == {}, f"cell {i} carries metadata {dict(cell.metadata)}"
    outputs = [o for c in code for o in c.outputs]
    assert outputs, "the committed notebook has no outputs: build it with tools/build_notebooks.py"
    assert not [o for o in outputs if o.output_type == "error"]
    text = text_of(nb)
    assert not GLYPH_MISSING.search(text), "a missing-glyph warning was committed"
    for o in outputs:
        png = o.get("data", {}).get("image/png")
        if png:
            raw = base64.b64decode(png)
            assert raw.startswith(b"\x89PNG") and b"tEXt" not in raw and b"Software" not in raw


def test_notebooks_with_figures_commit_them():
    """A newcomer on GitHub sees the figures without running anything."""
    for number in ("01", "02", "03", "04"):
        nb = nbformat.read(build.notebook_path(SOURCES[number]), as_version=4)
        pngs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
        assert pngs, f"notebook {number} has no committed figure"


def test_the_tutorials_cover_the_issue():
    assert {"01", "02", "03", "04", "06", "07"} <= set(SOURCES)


def test_build_tool_parses_the_cell_format():
    text = "# %% [markdown]\n# # Title\n#\n# text\n\n# %%\nx = 1\n\n\n# %%\nprint(x)\n"
    assert build.parse_source(text) == [("markdown", "# Title\n\ntext"), ("code", "x = 1"), ("code", "print(x)")]
    with pytest.raises(ValueError, match="before the first cell marker"):
        build.parse_source("import os\n# %%\n")
    with pytest.raises(ValueError, match="must start with '# '"):
        build.parse_source("# %% [markdown]\nnot a comment\n")


# ---------------------------------------------------------------- running them

@pytest.mark.parametrize("number", notebook_ids())
def test_notebook_runs_top_to_bottom(number):
    nb = executed(number)  # raises CellExecutionError on the first failing cell
    text = text_of(nb)
    assert not GLYPH_MISSING.search(text), "matplotlib could not draw some characters"
    if viz.cjk_font() is not None:
        assert FONT_WARNING not in text, "a CJK font is installed, yet the notebook fell back to pinyin"
    else:
        assert text.count(FONT_WARNING) <= 1
    check = KEY_NUMBERS.get(number)
    if check:
        check(nb)


@pytest.mark.parametrize("number", [n for n in notebook_ids() if n in CHINESE_LABELS])
def test_notebook_runs_without_a_cjk_font(number):
    nb = executed(number, font=False)
    text = text_of(nb)
    assert not GLYPH_MISSING.search(text)
    assert text.count(FONT_WARNING) == 1, "exactly one warning saying how to install a font"
    assert "apt-get install fonts-" in text
    check = KEY_NUMBERS.get(number)
    if check:
        check(nb)


# ---------------------------------------------------------------- the numbers they print

def _number_after(label: str, text: str) -> float:
    match = re.search(re.escape(label) + r"\s*([-+0-9.e]+)", text)
    assert match, f"{label!r} not printed"
    return float(match.group(1))


def check_01(nb):
    text, prose = text_of(nb), markdown_of(nb)
    e, a = math.e, math.exp(1 / math.sqrt(5))
    correct = {"unscaled self": e / (e + 2), "unscaled other": 1 / (e + 2),
               "scaled self": a / (a + 2), "scaled other": 1 / (a + 2)}
    for name, value in correct.items():
        assert f"{value:.4f}" in text, f"{name} weight {value:.4f} not printed"
        assert f"{value:.4f}" in prose, f"the summary should quote {value:.4f}"
    assert [f"{v:.4f}" for v in correct.values()] == ["0.5761", "0.2119", "0.4388", "0.2806"]
    claim = text.index("The article's claim")
    assert "(WRONG)" in text[claim: claim + 80], "the article's identity must be labelled as its wrong claim"
    correct_block = text[text.index("Correct: row-wise softmax(S)"):]
    rows = [line.split()[1:] for line in correct_block.splitlines()[2:5]]
    expected = np.full((3, 3), 1 / (e + 2)) + np.eye(3) * (e / (e + 2) - 1 / (e + 2))
    np.testing.assert_allclose(np.array(rows, dtype=float), expected, atol=5e-5)
    assert _number_after("max |weights - softmax(S/√5)| =", text) < 1e-12
    # temperature limit: at T = 0.01 the self weight rounds to 1, at T = 1 it is e/(e+2)
    assert re.search(r"0\.010\s+1\.0000\s+0\.0000", text)
    assert re.search(r"1\.000\s+0\.5761\s+0\.2119", text)


def check_02(nb):
    text = text_of(nb)
    for grad in ("dq", "dk", "dv"):
        assert _number_after(f"{grad}: rel_error =", text) < 1e-7
    assert "gradient check (bound 1e-7): pass" in text
    for name in ("dQ", "dK", "dV"):
        assert _number_after(f"{name}: max |by hand - library| =", text) < 1e-12
    assert text.count("[NOT ATTEMPTED]") == 3
    assert "[FAIL] softmax: correct on small inputs, but large logits" in text
    assert "bug hidden" in text and "bug caught" in text
    table = text[text.index("var(q·k)"):]
    for d_k in (4, 16, 64, 256, 1024):
        row = re.search(rf"^\s*{d_k}\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)", table, re.M)
        var, var_scaled, max_w, max_w_scaled = map(float, row.groups())
        assert abs(var / d_k - 1) < 0.15, f"var(q·k) should be ≈ d_k = {d_k}, printed {var}"
        assert abs(var_scaled - 1) < 0.15
        assert max_w_scaled < max_w or d_k == 4
    assert "output finite: True | gradients finite: True" in text
    assert "any NaN anywhere: False" in text
    assert "weights on masked keys: 0.0" in text


def check_03(nb):
    text = text_of(nb)
    assert _number_after("max |patch attention - masked global attention| =", text) < 1e-12
    assert _number_after("max |vectorized - loop over patches| =", text) < 1e-12
    assert "unpatchify(patchify(x)) == x: True" in text
    p = 4
    for size in (16, 32, 48):
        n_pix = size * size
        row = f"{size:>3}×{size:<3} {n_pix * p * p:>15,} {n_pix ** 2:>16,} {n_pix // (p * p):>6}"
        assert row in text, f"logit counts for {size}×{size} wrong or missing"
    assert "gradient check (bound 1e-7): pass" in text
    assert text.count("[NOT ATTEMPTED]") == 1


def check_04(nb):
    text = text_of(nb)
    assert "ValueError: the text logits Q_t K_tᵀ have shape (3, 3) but the image logits Q_i K_iᵀ have shape (4, 4)" in text
    assert _number_after("softmax(Q_t K_tᵀ/√d_k + Q_i K_iᵀ/√d_k) V| =", text) < 1e-12
    explicit = re.search(r"explicit scale 1/√d_k\s+= 0\.5000: max \|difference\| = ([0-9.e+-]+)", text)
    default = re.search(r"default scale 1/√\(2 d_k\) = 0\.3536: max \|difference\| = ([0-9.e+-]+)", text)
    assert float(explicit.group(1)) < 1e-12
    assert float(default.group(1)) > 1e-3
    assert "dQ_cat == [dQ_t, dQ_i]: True | dK_cat == [dK_t, dK_i]: True" in text
    assert "gradient check (bound 1e-7): pass" in text
    assert "weight on the <pad> key, per query: [0. 0. 0. 0. 0. 0. 0.]" in text
    assert "rows still sum to 1: True" in text


def check_05(nb):
    from gemini_np import data
    from gemini_np.train import TrainConfig

    text = text_of(nb)
    config = TrainConfig()
    n_test = math.ceil(config.test_fraction * config.samples)
    assert f"pairs: {config.samples - n_test} train + {n_test} test" in text
    combos = len(data.COLORS) * len(data.SHAPES) * len(data.POSITIONS)
    assert f"captions seen as often in positive as in negative pairs: {combos} of {combos}" in text
    assert f"images seen as often in positive as in negative pairs: {config.samples // 2} of {config.samples // 2}" in text
    match = re.search(r"test accuracy: ([0-9.]+) \((\d+) of (\d+) test pairs\)", text)
    accuracy, correct, total = float(match.group(1)), int(match.group(2)), int(match.group(3))
    assert total == n_test and abs(accuracy - correct / total) < 1e-9
    last_epoch = re.findall(rf"^\s*{config.epochs}\s+[0-9.]+\s+[0-9.]+\s+[0-9.]+\s+([0-9.]+)$", text, re.M)
    assert last_epoch and abs(float(last_epoch[0]) - accuracy) < 1e-3, "the table's last epoch is the reported accuracy"
    # the notebook's claim: the fusion works, one modality alone stays at chance
    only_image = float(re.search(r"image only \(no text\)\s+3\s+([0-9.]+)", text).group(1))
    only_text = float(re.search(r"text only \(no image\)\s+3\s+([0-9.]+)", text).group(1))
    assert only_image <= 0.6 and only_text <= 0.6
    assert accuracy >= max(only_image, only_text) + 0.3
    assert "TypeError: cannot unpack non-iterable ellipsis object" in text


def check_06(nb):
    text, prose = text_of(nb), markdown_of(nb)
    for number in range(1, 7):
        heading = f"## Erratum {number} ·"
        assert heading in prose, f"erratum {number} has no section"
    # every erratum section is followed by at least one code cell with output
    sections = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("## Erratum")]
    for start, end in zip(sections, sections[1:] + [len(nb.cells)]):
        assert any(c.cell_type == "code" and c.outputs for c in nb.cells[start:end]), nb.cells[start].source[:40]
    e = math.e
    assert f"first row [{e / (e + 2):.4f} {1 / (e + 2):.4f} {1 / (e + 2):.4f}]" in text
    assert "changing only Q changes the output: True" in text
    assert "operands could not be broadcast together with shapes (4,4) (16,16)" in text
    assert "row sums: [3. 3. 3.]" in text
    assert "any attention layer? False" in text
    assert "inside fusion_layer(): undefined name(s) ['embedding_dim']" in text
    assert "Concatenate is called with 2 positional inputs" in text
    assert "A and B give identical id sequences: True" in text
    assert "has size 6 and the array at index 1 has size 768" in text
    assert "Carnegie Mellon University" in text and "arXiv:1906.08237" in text


def check_07(nb):
    text = text_of(nb)
    backend = re.search(r"backend in use: (\w+)", text).group(1)
    assert backend in ("numpy", "cupy")
    if backend == "numpy":
        assert "pip install" in text, "without CuPy the notebook must show how to install it"
    assert "float64: stays in" in text and "float32: stays in" in text
    assert text.count(": pass") == 2 and "FAIL" not in text
    assert "backend restored: numpy" in text


def check_08(nb):
    """Online softmax / blocked attention (issue 6's notebook): the numbers its prose relies on."""
    text = text_of(nb)
    x = [1.0, 3.0, -2.0, 7.0, 0.5]
    l_exact = math.fsum(math.exp(t - 7.0) for t in x)
    assert _number_after("one pass: m = 7.0  l =", text) == pytest.approx(l_exact, rel=1e-11)
    assert "equals gnp.softmax: True" in text
    assert _number_after("forward: max relative difference blocked vs plain =", text) < 1e-10
    assert _number_after("backward: max relative difference blocked vs plain =", text) < 1e-10
    assert _number_after("max |exp(S - lse) - P_plain| =", text) < 1e-12
    for grad in ("dq", "dk", "dv"):
        assert _number_after(f"d{grad[1]}: rel_error =", text) < 1e-7
    assert "blocked gradient check (bound 1e-7): pass" in text
    assert text.count("all finite: True") == 2 and "any NaN: False" in text and "same as plain: True" in text
    ratio = _number_after("peak memory ratio at block_size 256:", text)
    assert 0.03 < ratio < 0.07, "the prose says about a twentieth (and the issue at most 15%)"
    matrices = re.search(r"library \(in place\), forward:\s+\d+ MiB = ([0-9.]+) matrices", text)
    assert matrices and float(matrices.group(1)) <= 1.1, "the prose says one n x n buffer"


KEY_NUMBERS = {"01": check_01, "02": check_02, "03": check_03, "04": check_04, "06": check_06, "07": check_07,
               "08": check_08}
