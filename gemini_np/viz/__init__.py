"""Figures for class, in five modules:

    gemini_np.viz.style      the defaults every figure gets: 150 dpi, >= 1260 px wide,
                             text >= 10 pt, colour-blind-safe colours and markers
    gemini_np.viz.plots      attention heatmaps, fusion heatmaps, patch overlays, image grids,
                             the worked example
    gemini_np.viz.lessons    the tutorials' other figures (temperature, d_k scaling, masks, ...)
    gemini_np.viz.training   the figures of a training run (curves, fusion attention)
    gemini_np.viz.fonts      Chinese labels: a CJK font if one is installed, else pinyin

Everything a notebook needs is importable from ``gemini_np.viz`` itself.
"""
from .fonts import LATIN_FAMILY, CJKFontWarning, cjk_font, display_labels, has_cjk, to_pinyin
from .lessons import (
    mask_figure,
    memory_figure,
    patch_grid_figure,
    positions_figure,
    scaling_figure,
    temperature_figure,
)
from .plots import (
    attention_heatmap,
    draw_patch_grid,
    fusion_heatmap,
    image_grid,
    patch_overlay,
    query_weight_map,
    save_figure,
    separate_groups,
    subplots,
    word_overlays,
    worked_example_figure,
)
from .style import DPI, MIN_FONT_PT, MIN_WIDTH_IN, MIN_WIDTH_PX, PALETTE, context, figure_size, use_style
from .training import attention_figure, curves_figure, majority_accuracy, save_run_figures

__all__ = [
    "DPI",
    "LATIN_FAMILY",
    "MIN_FONT_PT",
    "MIN_WIDTH_IN",
    "MIN_WIDTH_PX",
    "PALETTE",
    "CJKFontWarning",
    "attention_figure",
    "attention_heatmap",
    "cjk_font",
    "context",
    "curves_figure",
    "display_labels",
    "draw_patch_grid",
    "figure_size",
    "fusion_heatmap",
    "has_cjk",
    "image_grid",
    "majority_accuracy",
    "mask_figure",
    "memory_figure",
    "patch_grid_figure",
    "patch_overlay",
    "positions_figure",
    "query_weight_map",
    "save_figure",
    "save_run_figures",
    "scaling_figure",
    "separate_groups",
    "subplots",
    "temperature_figure",
    "to_pinyin",
    "use_style",
    "word_overlays",
    "worked_example_figure",
]
