"""The defaults every figure of gemini_np gets: made for a projector and for colour-blind eyes.

    DPI, MIN_WIDTH_IN     150 dpi and at least 8.4 inches wide: >= 1260 px as saved
    RC                    matplotlib settings: text >= 10 pt at that size, the palette below
    PALETTE, MARKERS      Okabe & Ito's colour-blind-safe colours, each series also with its own marker
    WEIGHT_CMAP           viridis for attention weights (perceptually uniform, colour-blind safe)
    MATCH, NO_MATCH       how a matching / non-matching pair is marked: a symbol, a word and a colour
    use_style()           apply RC for the rest of the session (the notebooks call it once)
    context()             apply RC inside a ``with`` block (every figure function of viz does)
    figure_size(w, h)     a requested size, enlarged to the minimum width (aspect kept)

Why these numbers: a projected figure is read from the back row, so a 1200 px
wide image with 10-12 pt text (about 21-25 px high at 150 dpi) is the smallest
that stays legible; about one in twelve men cannot tell red from green, so no
figure encodes a meaning by red versus green alone.
"""
from __future__ import annotations

#: Resolution of every figure (inline in the notebooks and saved as PNG).
DPI = 150
#: No figure is narrower than this (inches): 8.4 in × 150 dpi = 1260 px.
MIN_WIDTH_IN = 8.4
#: Minimum width of a committed figure, in pixels (the tests check it).
MIN_WIDTH_PX = 1200
#: Smallest text size used anywhere (points).
MIN_FONT_PT = 10

#: Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision deficiency.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
#: One marker per series, so lines differ by shape as well as by colour.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
WEIGHT_CMAP = "viridis"
#: A matching pair: a check mark, the word, blue. A non-matching one: a cross, the word, vermillion.
MATCH = {"symbol": "✓", "word": "match", "color": PALETTE[0]}
NO_MATCH = {"symbol": "✗", "word": "no match", "color": PALETTE[3]}
#: Lines drawn on top of images (patch grids): white with a dark edge reads on any colour.
GRID_COLOR = "white"

RC = {
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "figure.facecolor": "white",
    "font.size": 12,
    "axes.titlesize": 13,
    "axes.labelsize": 12,
    "xtick.labelsize": 11,
    "ytick.labelsize": 11,
    "legend.fontsize": 11,
    "legend.title_fontsize": 11,
    "figure.titlesize": 14,
    "axes.prop_cycle": None,  # filled in below (needs matplotlib's cycler)
    "lines.linewidth": 2.0,
    "lines.markersize": 7,
    "image.cmap": WEIGHT_CMAP,
    "axes.grid": False,
}


def _rc() -> dict:
    from cycler import cycler

    rc = dict(RC)
    rc["axes.prop_cycle"] = cycler(color=list(PALETTE))
    return rc


def use_style() -> None:
    """Apply :data:`RC` to every figure made from now on in this session (notebooks: once, at the top)."""
    import matplotlib

    matplotlib.rcParams.update(_rc())


def context():
    """``with context(): ...`` draws with :data:`RC` and restores the previous settings afterwards."""
    import matplotlib

    return matplotlib.rc_context(_rc())


def figure_size(width: float, height: float) -> tuple[float, float]:
    """(width, height) in inches, scaled up (aspect kept) to at least :data:`MIN_WIDTH_IN` wide."""
    if width >= MIN_WIDTH_IN:
        return float(width), float(height)
    factor = MIN_WIDTH_IN / width
    return MIN_WIDTH_IN, height * factor


def styled(function):
    """Decorator: run a figure function inside :func:`context` (so its text gets the sizes of RC)."""
    import functools

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with context():
            return function(*args, **kwargs)

    return wrapper
