"""gemini_np.viz: heatmaps and overlays, and Chinese labels with and without a CJK font.

Both font paths are tested on every machine: the "no CJK font" path by
replacing the font lookup, the "font installed" path with whatever CJK font the
system has (CI installs one; see .ci/run), skipped with a clear reason if none.
In neither path may matplotlib emit a "Glyph ... missing" warning.
"""
import io
import re
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib import ft2font  # noqa: E402

import gemini_np as gnp  # noqa: E402
from gemini_np import article, viz  # noqa: E402

TOKENS = ["猫", "喜欢", "吃鱼"]
GLYPH_MISSING = re.compile(r"Glyph \d+ .*missing", re.S)


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    monkeypatch.setattr(viz, "_warned", False)  # the once-per-process warning, per test
    monkeypatch.setattr(viz, "_font_cache", {})
    monkeypatch.delenv("GEMINI_NP_CJK_FONT", raising=False)
    yield
    plt.close("all")


def render(fig) -> list[str]:
    """Draw the figure to PNG bytes; return the messages of every warning raised meanwhile."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(io.BytesIO(), format="png")
    return [str(w.message) for w in caught]


def draw_heatmap() -> tuple[object, list]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = viz.attention_heatmap(article.correct_weights(), TOKENS, TOKENS, title="P")
    return fig, caught


def tick_texts(ax, axis="x"):
    labels = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    return [t.get_text() for t in labels]


# ---------------------------------------------------------------- the detector itself

def test_drawing_chinese_with_the_default_font_does_warn():
    """Guard: our 'no missing glyph' checks can see the warning when it happens."""
    fig, ax = plt.subplots()
    ax.set_title("猫", fontfamily="DejaVu Sans")
    messages = render(fig)
    assert any(GLYPH_MISSING.search(m) for m in messages), messages


# ---------------------------------------------------------------- no CJK font: pinyin

@pytest.fixture
def no_cjk_font(monkeypatch):
    monkeypatch.setattr(viz, "_find_font", lambda chars: None)


def test_fallback_uses_pinyin_and_warns_once(no_cjk_font):
    fig, caught = draw_heatmap()
    font_warnings = [w for w in caught if issubclass(w.category, viz.CJKFontWarning)]
    assert len(font_warnings) == 1, [str(w.message) for w in caught]
    message = str(font_warnings[0].message)
    assert "apt-get install fonts-" in message and "pinyin" in message
    ax = fig.axes[0]
    assert tick_texts(ax, "x") == ["māo", "xǐhuan", "chīyú"]
    assert tick_texts(ax, "y") == ["māo", "xǐhuan", "chīyú"]
    assert not any(GLYPH_MISSING.search(m) for m in render(fig))
    fig2, caught2 = draw_heatmap()  # a second figure: no second warning
    assert not [w for w in caught2 if issubclass(w.category, viz.CJKFontWarning)]
    assert not any(GLYPH_MISSING.search(m) for m in render(fig2))


def test_environment_variable_forces_pinyin(monkeypatch):
    monkeypatch.setenv("GEMINI_NP_CJK_FONT", "none")
    assert viz.cjk_font("猫") is None
    with pytest.warns(viz.CJKFontWarning, match="pinyin"):
        texts, families = viz.display_labels(["猫", "cat"])
    assert texts == ["māo", "cat"] and families == [viz.LATIN_FAMILY]


def test_pinyin_table():
    assert viz.to_pinyin("猫") == "māo"
    assert viz.to_pinyin("喜欢") == "xǐhuan"  # the word's neutral tone, not xǐhuān
    assert viz.to_pinyin("吃鱼") == "chīyú"
    assert viz.to_pinyin("红色 圆形 在 左边") == "hóngsè yuánxíng zài zuǒbiān"
    assert viz.to_pinyin("<pad>") == "<pad>"
    assert viz.to_pinyin("龘") == "U+9F98"  # unknown: its code point, never a box


def test_pinyin_covers_the_dataset_vocabulary():
    """Every word of the synthetic captions has a real pinyin fallback (no U+XXXX)."""
    data = pytest.importorskip("gemini_np.data")
    words = data.build_vocabulary("zh").to_list()
    assert any(viz.has_cjk(w) for w in words)
    assert not [w for w in words if "U+" in viz.to_pinyin(w)]


def test_pinyin_is_drawable_by_the_default_font():
    charmap = ft2font.FT2Font(font_manager.findfont(viz.LATIN_FAMILY)).get_charmap()
    table_text = "".join(viz.PINYIN_CHARS.values()) + "".join(viz.PINYIN_WORDS.values()) + "U+0123456789ABCDEF"
    missing = sorted({ch for ch in table_text if ord(ch) not in charmap})
    assert not missing


# ---------------------------------------------------------------- a CJK font installed

def test_chinese_labels_with_an_installed_font():
    font = viz.cjk_font("".join(TOKENS))
    if font is None:
        pytest.skip("no CJK font on this machine (CI installs fonts-wqy-microhei; see .ci/run)")
    fig, caught = draw_heatmap()
    assert not [w for w in caught if issubclass(w.category, viz.CJKFontWarning)]
    ax = fig.axes[0]
    assert tick_texts(ax, "x") == TOKENS and tick_texts(ax, "y") == TOKENS
    families = ax.get_xticklabels()[0].get_fontfamily()
    assert font in families
    # the family matplotlib will resolve really has the glyphs
    path = font_manager.findfont(font_manager.FontProperties(family=font), fallback_to_default=False)
    assert {ord(ch) for ch in "".join(TOKENS)} <= set(ft2font.FT2Font(path).get_charmap())
    assert not any(GLYPH_MISSING.search(m) for m in render(fig))


def test_font_search_finds_fonts_missing_from_matplotlibs_cache(monkeypatch):
    """A font installed after matplotlib built its cache is still found."""
    font = viz.cjk_font("猫")
    if font is None:
        pytest.skip("no CJK font on this machine")
    entry = next(f for f in font_manager.fontManager.ttflist if f.name == font)
    stale = [f for f in font_manager.fontManager.ttflist if f.fname != entry.fname]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", stale)
    monkeypatch.setattr(viz, "_font_cache", {})
    assert viz.cjk_font("猫") is not None
    assert any(f.fname == entry.fname for f in font_manager.fontManager.ttflist)


def test_no_cjk_labels_need_no_font():
    texts, families = viz.display_labels(["a", "b"])
    assert texts == ["a", "b"] and families == [viz.LATIN_FAMILY]


# ---------------------------------------------------------------- heatmaps

def test_heatmap_writes_values_and_has_a_colorbar(no_cjk_font):
    w = article.correct_weights()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", viz.CJKFontWarning)
        fig = viz.attention_heatmap(w, TOKENS, TOKENS, digits=4)
    ax, cbar_ax = fig.axes
    values = sorted(t.get_text() for t in ax.texts)
    assert values == sorted(f"{x:.4f}" for x in w.ravel())
    assert "0.5761" in values and "0.2119" in values
    assert cbar_ax.get_ylim()[0] == pytest.approx(0.0)


def test_heatmap_skips_values_on_large_matrices():
    fig = viz.attention_heatmap(np.full((20, 20), 0.05))
    assert not fig.axes[0].texts


def test_heatmap_rejects_bad_input():
    with pytest.raises(ValueError, match=r"2-D.*\(2, 3, 3\)"):
        viz.attention_heatmap(np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match="row_labels has 2 labels"):
        viz.attention_heatmap(np.zeros((3, 3)), ["a", "b"], ["a", "b", "c"])


def test_worked_example_figure_shows_the_three_matrices(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", viz.CJKFontWarning)  # either font path will do here
        fig = viz.worked_example_figure()
    heatmaps = [ax for ax in fig.axes if ax.images]
    assert len(heatmaps) == 3
    shown = [ax.images[0].get_array() for ax in heatmaps]
    np.testing.assert_allclose(shown[0], np.eye(3))
    np.testing.assert_allclose(shown[1], article.correct_weights(scaled=False))
    np.testing.assert_allclose(shown[2], article.correct_weights(scaled=True))
    path = viz.save_figure(fig, tmp_path / "sub" / "w.png")
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") and b"Software" not in data
    assert [p.name for p in path.parent.iterdir()] == ["w.png"]  # no temp file left behind


# ---------------------------------------------------------------- patch overlays

def test_query_weight_map_places_the_patch_weights():
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((6, 8, 3)) for _ in range(3))
    _, cache = gnp.patch_attention_forward(q, k, v, patch_size=2)
    row, col = 3, 4
    wmap = viz.query_weight_map(cache.weights, 2, row, col)
    assert wmap.shape == (6, 8)
    assert wmap.sum() == pytest.approx(1.0)
    # explicit reference: pixel (3, 4) attends to the pixels of patch rows 2-3, cols 4-5
    s = np.array([[q[row, col] @ k[r, c] for c in (4, 5)] for r in (2, 3)]) / np.sqrt(3)
    expected = np.exp(s) / np.exp(s).sum()
    np.testing.assert_allclose(wmap[2:4, 4:6], expected)
    assert np.count_nonzero(wmap) == 4


def test_patch_overlay_draws_image_weights_and_grid():
    image = np.random.default_rng(1).random((8, 8, 3))
    fig = viz.patch_overlay(image, np.arange(4.0).reshape(2, 2) / 6, patch_size=4, mark=(1, 1), title="w")
    ax = fig.axes[0]
    assert len(ax.images) == 2
    np.testing.assert_allclose(ax.images[1].get_array()[:4, 4:], 1 / 6)
    assert len(ax.lines) == 3 + 3 + 1  # grid lines at 0, 4, 8 both ways, and the mark
    assert not any(GLYPH_MISSING.search(m) for m in render(fig))


def test_patch_overlay_rejects_a_map_that_does_not_tile_the_image():
    with pytest.raises(ValueError, match=r"weight_map \(3, 3\) must divide the image size 8×8"):
        viz.patch_overlay(np.zeros((8, 8)), np.zeros((3, 3)))


def test_image_grid_titles_follow_the_font_path(no_cjk_font):
    images = np.random.default_rng(2).random((3, 8, 8, 3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = viz.image_grid(images, ["红色 圆形 在 左边", "蓝色 方形", "x"], ncols=2, title_colors=["g", "r", "k"])
    assert sum(issubclass(w.category, viz.CJKFontWarning) for w in caught) == 1
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert titles == ["hóngsè yuánxíng zài zuǒbiān", "lánsè fāngxíng", "x"]
    assert len(fig.axes) == 4 and not fig.axes[3].axison  # the unused fourth cell is blank
    assert not any(GLYPH_MISSING.search(m) for m in render(fig))
    with pytest.raises(ValueError, match="2 titles for 3 images"):
        viz.image_grid(images, ["a", "b"])


# ---------------------------------------------------------------- the README's figure

def test_readme_figure_is_made_by_code(tmp_path):
    """docs/figures/worked_example.png comes from tools/make_readme_figure.py, which runs here."""
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("make_readme_figure", root / "tools" / "make_readme_figure.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", viz.CJKFontWarning)
        path = tool.make(tmp_path / "worked_example.png")
    assert path.read_bytes().startswith(b"\x89PNG")
    committed = root / "docs" / "figures" / "worked_example.png"
    assert committed.read_bytes().startswith(b"\x89PNG")
    assert "docs/figures/worked_example.png" in (root / "README.md").read_text(encoding="utf-8")
