"""gemini_np.viz: heatmaps, patch overlays, image grids, the worked example (viz/plots.py),
the figures of a training run (viz/training.py), and the projection-grade defaults every
figure gets (viz/style.py: >= 1200 px wide, text >= 10 pt, colour bars, colour-blind-safe
encodings). The font paths: tests/test_fonts.py."""
import struct
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.text  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import gemini_np as gnp  # noqa: E402
from gemini_np import article, viz  # noqa: E402
from gemini_np.viz import fonts  # noqa: E402
from helpers import GLYPH_MISSING, fresh_fonts, load_tool, render  # noqa: E402,F401 (fresh_fonts: a fixture)

ROOT = Path(__file__).resolve().parent.parent
TOKENS = ["猫", "喜欢", "吃鱼"]


pytestmark = pytest.mark.usefixtures("fresh_fonts")  # font search and warning afresh, figures closed


@pytest.fixture
def no_cjk_font(monkeypatch):
    monkeypatch.setattr(fonts, "_find_font", lambda chars: None)


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
    with pytest.raises(ValueError, match=r"2 dimensions, got shape \(2, 3, 3\)"):
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
    assert len(ax.lines) == 3 + 3 + 2  # grid lines at 0, 4, 8 both ways, and the mark (two rings)
    assert not any(GLYPH_MISSING.search(m) for m in render(fig))


def test_patch_overlay_rejects_a_map_that_does_not_tile_the_image():
    with pytest.raises(ValueError, match=r"weight_map \(3, 3\) must divide the image size 8×8"):
        viz.patch_overlay(np.zeros((8, 8)), np.zeros((3, 3)))


def test_image_grid_titles_follow_the_font_path(no_cjk_font):
    images = np.random.default_rng(2).random((3, 8, 8, 3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = viz.image_grid(images, ["红色 圆形 在 左边", "蓝色 方形", "x"], ncols=2, matches=[True, False, True])
    assert sum(issubclass(w.category, viz.CJKFontWarning) for w in caught) == 1
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    # a match is told by a symbol and a word, not by colour alone
    assert titles == ["✓ match\nhóngsè yuánxíng zài zuǒbiān", "✗ no match\nlánsè fāngxíng", "✓ match\nx"]
    assert len(fig.axes) == 4 and not fig.axes[3].axison  # the unused fourth cell is blank
    assert not any(GLYPH_MISSING.search(m) for m in render(fig))
    with pytest.raises(ValueError, match="2 titles for 3 images"):
        viz.image_grid(images, ["a", "b"])


# ---------------------------------------------------------------- the README's figure

def test_readme_figure_is_made_by_code(tmp_path):
    """docs/figures/worked_example.png comes from tools/make_readme_figure.py, which runs here."""
    tool = load_tool("make_readme_figure")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", viz.CJKFontWarning)
        path = tool.make(tmp_path / "worked_example.png", allow_pinyin=True)
    assert png_size(path.read_bytes())[0] >= viz.MIN_WIDTH_PX
    committed = ROOT / "docs" / "figures" / "worked_example.png"
    assert png_size(committed.read_bytes())[0] >= viz.MIN_WIDTH_PX
    assert "docs/figures/worked_example.png" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_figure_refuses_pinyin_unless_asked(tmp_path, monkeypatch):
    tool = load_tool("make_readme_figure")
    monkeypatch.setattr(fonts, "_find_font", lambda chars: None)  # a machine without a CJK font
    target = tmp_path / "w.png"
    with pytest.raises(tool.DegradedFigure, match="--allow-pinyin"):
        tool.make(target)
    assert not target.exists()
    assert tool.main([str(target)]) == 1 and not target.exists()
    with pytest.warns(viz.CJKFontWarning):
        assert tool.main(["--allow-pinyin", str(target)]) == 0
    assert target.exists()


# ---------------------------------------------------------------- the figures of a training run


@pytest.fixture(scope="module")
def small_run():
    from gemini_np.model import ModelConfig
    from gemini_np.train import TrainConfig, train

    config = TrainConfig(samples=96, epochs=2, batch_size=16, model=ModelConfig(d_model=8, n_heads=2, d_ff=16))
    return train(config, progress=False)


def test_save_run_figures_writes_two_pngs_and_nothing_else(small_run, tmp_path):
    paths = viz.save_run_figures(small_run, tmp_path / "figures")
    assert [p.name for p in paths] == ["curves.png", "attention.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["attention.png", "curves.png"]
    assert plt.get_fignums() == []  # every figure closed


def test_curves_figure_plots_every_batch_and_every_epoch(small_run):
    fig = viz.curves_figure(small_run)
    ax_loss, ax_acc = fig.axes
    step_line, epoch_line = ax_loss.lines
    np.testing.assert_array_equal(step_line.get_ydata(), small_run.step_losses)
    np.testing.assert_array_equal(epoch_line.get_ydata(), [h["test_loss"] for h in small_run.history])
    np.testing.assert_array_equal(ax_acc.lines[1].get_ydata(), [h["test_accuracy"] for h in small_run.history])


def test_attention_figure_shows_images_and_text_to_patch_weights(small_run):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", viz.CJKFontWarning)  # either font path will do here
        fig = viz.attention_figure(small_run.model, small_run.test_set, n_examples=3)
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 6  # three images and three heatmaps
    heatmap = images[3].images[0].get_array()
    m = (16 // 4) ** 2  # patches of the default 16×16 images in 4×4 patches
    n_words = len(small_run.test_set.vocab.decode(small_run.test_set.tokens[0]))
    assert heatmap.shape == (n_words, m)
    assert not any(GLYPH_MISSING.search(m) for m in render(fig))


# ---------------------------------------------------------------- projection-grade defaults

def png_size(raw: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    assert raw.startswith(b"\x89PNG\r\n\x1a\n")
    return struct.unpack(">II", raw[16:24])


def saved(fig, tmp_path, name="f.png") -> tuple[int, int]:
    return png_size(viz.save_figure(fig, tmp_path / name).read_bytes())


def all_texts(fig):
    return [t for t in fig.findobj(matplotlib.text.Text) if t.get_text().strip() and t.get_visible()]


def test_defaults():
    assert viz.DPI >= 150 and viz.MIN_WIDTH_IN * viz.DPI >= viz.MIN_WIDTH_PX >= 1200
    assert viz.figure_size(4.0, 2.0) == (viz.MIN_WIDTH_IN, 2.0 * viz.MIN_WIDTH_IN / 4.0)  # enlarged, aspect kept
    assert viz.figure_size(12.0, 3.0) == (12.0, 3.0)
    assert viz.PALETTE[:2] == ("#0072B2", "#E69F00")  # Okabe-Ito, not matplotlib's red/green-prone tab10


def test_subplots_enforce_the_minimum_width(tmp_path):
    fig, _ = viz.subplots(figsize=(3.0, 2.0))
    assert fig.dpi == viz.DPI and fig.get_size_inches()[0] >= viz.MIN_WIDTH_IN
    assert saved(fig, tmp_path)[0] >= viz.MIN_WIDTH_PX


def figures_of_the_package():
    """One of each figure function, on small inputs."""
    rng = np.random.default_rng(0)
    image = rng.random((8, 8, 3))
    weights = gnp.softmax(rng.standard_normal((3, 7)))
    return {
        "attention_heatmap": lambda: viz.attention_heatmap(weights[:, :3] / weights[:, :3].sum(-1, keepdims=True)),
        "fusion_heatmap": lambda: viz.fusion_heatmap(weights, ["a", "b", "c"], ["0", "1", "2", "3"]),
        "patch_overlay": lambda: viz.patch_overlay(image, rng.random((2, 2)), 4),
        "word_overlays": lambda: viz.word_overlays(image, rng.random((2, 4)), ["a", "b"], 2),
        "image_grid": lambda: viz.image_grid(rng.random((3, 8, 8, 3)), ["a", "b", "c"], matches=[True, False, True]),
        "worked_example_figure": viz.worked_example_figure,
        "temperature_figure": lambda: viz.temperature_figure([0.1, 1, 10], [0.9, 0.5, 0.4], {"T = 1": (1, 0.5)}),
        "scaling_figure": lambda: viz.scaling_figure([4, 16], [4.0, 16.0], [1.0, 1.0], [0.4, 0.7], [0.2, 0.2], 16),
        "patch_grid_figure": lambda: viz.patch_grid_figure(gnp.patchify(image, 4), "patches"),
        "mask_figure": lambda: viz.mask_figure([np.eye(4, dtype=bool)], ["mask"]),
        "positions_figure": lambda: viz.positions_figure(rng.standard_normal((6, 8)).clip(-1, 1)),
        "memory_figure": lambda: viz.memory_figure([256, 512], [10.0, 20.0], 100.0, [512, 1024], [4.0, 16.0],
                                                   [2.0, 4.0], 1024, 64, 256),
    }


#: The figures that draw values as colours (the others are pictures or line plots).
HEATMAPS = {"attention_heatmap", "fusion_heatmap", "patch_overlay", "word_overlays", "worked_example_figure",
            "mask_figure", "positions_figure"}


@pytest.mark.parametrize("name", sorted(figures_of_the_package()))
def test_every_figure_is_projection_grade(name, tmp_path):
    """>= 1200 px wide as saved, no text under 10 pt, a colour bar on every heatmap."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", viz.CJKFontWarning)
        fig = figures_of_the_package()[name]()
    assert saved(fig, tmp_path)[0] >= viz.MIN_WIDTH_PX
    small = [(t.get_text(), t.get_fontsize()) for t in all_texts(fig) if t.get_fontsize() < viz.MIN_FONT_PT]
    assert not small, f"text under {viz.MIN_FONT_PT} pt: {small[:5]}"
    heatmaps = [ax for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>"]
    colorbars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    if name in HEATMAPS:
        assert heatmaps and colorbars, "a heatmap without a colour bar"


def test_panels_that_are_compared_share_one_colour_scale():
    fig = viz.worked_example_figure()
    limits = {ax.images[0].get_clim() for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>"}
    assert limits == {(0.0, 1.0)}
    rng = np.random.default_rng(1)
    fig = viz.word_overlays(rng.random((8, 8, 3)), rng.random((3, 4)), ["a", "b", "c"], 2)
    overlays = {ax.images[1].get_clim() for ax in fig.axes[1:] if len(ax.images) == 2}
    assert len(overlays) == 1


def test_fusion_heatmap_separates_words_from_patches():
    weights = gnp.softmax(np.random.default_rng(2).standard_normal((3, 7)))
    fig = viz.fusion_heatmap(weights, ["a", "b", "c"], ["0", "1", "2", "3"], title="t")
    ax = fig.axes[0]
    separators = [line for line in ax.lines if tuple(line.get_xdata()) == (2.5, 2.5)]
    assert separators, "no line between the word keys and the patch keys"
    group_labels = [t.get_text() for child in ax.child_axes for t in child.get_xticklabels()]
    assert group_labels == ["words", "patches"]
    assert isinstance(ax.images[0].norm, matplotlib.colors.LogNorm)  # small word->patch weights stay visible


def test_lines_differ_by_marker_as_well_as_colour():
    fig = viz.scaling_figure([4, 16, 64], [4.0, 16.0, 64.0], [1.0] * 3, [0.4, 0.7, 0.9], [0.2] * 3, 16)
    ax = fig.axes[1]
    data_lines = [line for line in ax.lines if len(line.get_xdata()) > 2]
    assert len({line.get_marker() for line in data_lines}) == len(data_lines)
    colours = {matplotlib.colors.to_hex(line.get_color()).upper() for line in data_lines}
    assert not colours & {"#D62728", "#2CA02C", "#FF0000", "#008000"}  # no red/green pair


def test_training_attention_figure_is_projection_grade(small_run, tmp_path):
    """The figure of `python -m gemini_np train --plots`: patch grid, colour bar, title, readable ticks."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", viz.CJKFontWarning)
        fig = viz.attention_figure(small_run.model, small_run.test_set, n_examples=2)
    assert saved(fig, tmp_path)[0] >= viz.MIN_WIDTH_PX
    assert fig._suptitle is not None and "fusion attention" in fig._suptitle.get_text()
    assert [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert all(len(ax.lines) >= 10 for ax in fig.axes[:2])  # the patch grid: 5 + 5 lines, 16×16 image, p = 4
    small = [t.get_text() for t in all_texts(fig) if t.get_fontsize() < viz.MIN_FONT_PT]
    assert not small


def test_curves_show_what_a_constant_answer_scores(small_run):
    fig = viz.curves_figure(small_run)
    floor = [line for line in fig.axes[1].lines if "always 'match'" in line.get_label()]
    assert floor and floor[0].get_ydata()[0] == pytest.approx(viz.majority_accuracy(small_run.test_set.labels))
