"""gemini_np.viz: heatmaps, patch overlays, image grids, the worked example (viz/plots.py) and
the figures of a training run (viz/training.py). The font paths: tests/test_fonts.py."""
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import gemini_np as gnp  # noqa: E402
from gemini_np import article, viz  # noqa: E402
from gemini_np.viz import fonts  # noqa: E402
from helpers import GLYPH_MISSING, render  # noqa: E402

TOKENS = ["猫", "喜欢", "吃鱼"]


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    monkeypatch.setattr(fonts, "_warned", False)  # the once-per-process warning, per test
    monkeypatch.setattr(fonts, "_font_cache", {})
    monkeypatch.delenv("GEMINI_NP_CJK_FONT", raising=False)
    yield
    plt.close("all")


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
