"""Figures for class, in three modules:

    gemini_np.viz.plots      attention heatmaps, patch overlays, image grids, the worked example
    gemini_np.viz.training   the figures of a training run (curves, fusion attention)
    gemini_np.viz.fonts      Chinese labels: a CJK font if one is installed, else pinyin

Everything a notebook needs is importable from ``gemini_np.viz`` itself.
"""
from .fonts import LATIN_FAMILY, CJKFontWarning, cjk_font, display_labels, has_cjk, to_pinyin
from .plots import (
    DPI,
    attention_heatmap,
    image_grid,
    patch_overlay,
    query_weight_map,
    save_figure,
    subplots,
    worked_example_figure,
)
from .training import attention_figure, curves_figure, save_run_figures

__all__ = [
    "DPI",
    "LATIN_FAMILY",
    "CJKFontWarning",
    "attention_figure",
    "attention_heatmap",
    "cjk_font",
    "curves_figure",
    "display_labels",
    "has_cjk",
    "image_grid",
    "patch_overlay",
    "query_weight_map",
    "save_figure",
    "save_run_figures",
    "subplots",
    "to_pinyin",
    "worked_example_figure",
]
