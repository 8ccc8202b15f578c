"""gemini_np.viz.fonts: Chinese labels with and without a CJK font.

Both font paths are tested on every machine: the "no CJK font" path by
replacing the font lookup, the "font installed" path with whatever CJK font the
system has (CI installs one; see .ci/run), skipped with a clear reason if none.
In neither path may matplotlib emit a "Glyph ... missing" warning.
"""
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib import ft2font  # noqa: E402

from gemini_np import article, viz  # noqa: E402
from gemini_np.viz import fonts  # noqa: E402
from helpers import GLYPH_MISSING, fresh_fonts, render  # noqa: E402,F401 (fresh_fonts: a fixture)

TOKENS = ["猫", "喜欢", "吃鱼"]


pytestmark = pytest.mark.usefixtures("fresh_fonts")  # font search and warning afresh, figures closed


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
    monkeypatch.setattr(fonts, "_find_font", lambda chars: None)


def test_fallback_uses_pinyin_and_warns_once(no_cjk_font):
    fig, caught = draw_heatmap()
    font_warnings = [w for w in caught if issubclass(w.category, viz.CJKFontWarning)]
    assert len(font_warnings) == 1, [str(w.message) for w in caught]
    message = str(font_warnings[0].message)
    assert "apt-get install fonts-" in message and "pinyin" in message and "\n" not in message
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
    table_text = "".join(fonts.PINYIN_CHARS.values()) + "".join(fonts.PINYIN_WORDS.values()) + "U+0123456789ABCDEF"
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
    monkeypatch.setattr(fonts, "_font_cache", {})
    assert viz.cjk_font("猫") is not None
    assert any(f.fname == entry.fname for f in font_manager.fontManager.ttflist)


def test_no_cjk_labels_need_no_font():
    texts, families = viz.display_labels(["a", "b"])
    assert texts == ["a", "b"] and families == [viz.LATIN_FAMILY]


def test_the_font_warning_is_one_short_line_without_a_source_line(no_cjk_font):
    """warn_explicit with no real source file: Python prints one line, not the line of code that warned."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        viz.display_labels(["猫"])
    (w,) = caught
    printed = warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line)
    assert printed.count("\n") == 1 and printed.startswith("gemini_np.viz:0: CJKFontWarning: no Chinese font found")
    assert len(printed) < 200


def test_the_viz_package_re_exports_the_font_helpers():
    for name in ("CJKFontWarning", "LATIN_FAMILY", "cjk_font", "display_labels", "has_cjk", "to_pinyin"):
        assert getattr(viz, name) is getattr(fonts, name)
