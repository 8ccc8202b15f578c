"""The page's Chinese glyphs: a subset of an installed CJK font, embedded in the page.

A classroom computer may have no Chinese font, and the page must not fetch one
from the network. So the page carries its own: only the glyphs of the Chinese
characters it actually shows (a hundred or so: about 20 KB as WOFF, instead of
the whole 5 MB font), cut out with fontTools (installed with matplotlib) and
embedded as a base64 ``@font-face``. The font's copyright and license (for
WenQuanYi Micro Hei: Apache-2.0, or GPL-3+ with the font exception) are kept in
the subset's own name table and written beside it in the page.

With no CJK font installed, the page is built without one and the browser's
own fonts draw the Chinese (the CLI says so in one line). The environment
variable ``GEMINI_NP_CJK_FONT`` works as in :mod:`gemini_np.viz.fonts`: a family
name to prefer, or ``none`` to embed no font.
"""
from __future__ import annotations

import base64
import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ..viz.fonts import PREFERRED_FONTS, has_cjk

#: The CSS family name of the embedded subset.
FAMILY = "gnp-cjk"


@dataclass
class EmbeddedFont:
    """A font subset ready to go into the page."""

    css: str  # the @font-face rule, the font as a base64 data URL
    family: str  # the installed font it was cut from, e.g. "WenQuanYi Micro Hei"
    notice: str  # its copyright and license, for the page
    glyphs: int  # how many characters it holds
    size: int  # bytes of the WOFF file


def cjk_characters(text: str) -> str:
    """The distinct Chinese (CJK) characters of ``text``, sorted."""
    return "".join(sorted({ch for ch in text if has_cjk(ch)}))


def embedded_font(text: str) -> EmbeddedFont | None:
    """A WOFF subset of an installed CJK font holding every CJK character of ``text``, or None."""
    chars = cjk_characters(text)
    found = find_cjk_font(chars)
    if found is None:
        return None
    path, number = found
    return _subset(path, number, chars)


def find_cjk_font(chars: str):
    """(file, face index) of an installed font with a glyph for every character of ``chars``, or None."""
    override = os.environ.get("GEMINI_NP_CJK_FONT", "").strip()
    if override.lower() == "none":
        return None
    from matplotlib import font_manager

    entries = {(f.name, f.fname) for f in font_manager.fontManager.ttflist}
    entries |= {("", fname) for fname in font_manager.findSystemFonts()}  # newer than matplotlib's cache
    preferred = ([override] if override else []) + list(PREFERRED_FONTS)
    rank = {name: i for i, name in enumerate(preferred)}
    for _, fname in sorted(entries, key=lambda e: (rank.get(e[0], len(rank)), e[0], e[1])):
        if "lastresort" in Path(fname).name.lower().replace(" ", ""):  # boxes for every character
            continue
        if Path(fname).suffix.lower() not in (".ttf", ".otf", ".ttc"):
            continue
        if _covers(fname, chars):
            return fname, 0
    return None


def _covers(fname: str, chars: str) -> bool:
    """True if face 0 of the font file has a glyph for every character."""
    from fontTools.ttLib import TTFont, TTLibError

    try:
        with TTFont(fname, fontNumber=0, lazy=True) as font:
            cmap = font.getBestCmap() or {}
    except (TTLibError, OSError, ValueError, KeyError, AssertionError):  # unreadable font files: skip
        return False
    return all(ord(ch) in cmap for ch in chars)


def _subset(fname: str, number: int, chars: str) -> EmbeddedFont:
    from fontTools import subset
    from fontTools.ttLib import TTFont

    logging.getLogger("fontTools").setLevel(logging.ERROR)  # "FFTM NOT subset" and such
    options = subset.Options()
    options.flavor = "woff"  # zlib-compressed; WOFF2 would need the brotli module
    options.name_IDs = ["*"]  # keep every name record: copyright (0) and license (13, 14) included
    options.name_languages = ["*"]
    options.hinting = False  # hints matter little at screen sizes and double the size
    with TTFont(fname, fontNumber=number) as font:
        family = _name(font, 1) or Path(fname).stem
        notice = " ".join(x for x in (_name(font, 0), _name(font, 13), _name(font, 14)) if x)
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=chars)
        subsetter.subset(font)
        buffer = io.BytesIO()
        font.flavor = "woff"
        font.save(buffer)
    woff = buffer.getvalue()
    data = base64.b64encode(woff).decode("ascii")
    notice = f"Chinese glyphs: a subset of {family}. {notice}".replace("*/", "* /")
    ranges = "U+2E80-9FFF, U+F900-FAFF, U+FE30-FE4F, U+FF00-FFEF"  # CJK only: Latin stays the page's font
    css = (f"/* {notice} */\n@font-face {{ font-family: \"{FAMILY}\"; "
           f"src: url(data:font/woff;base64,{data}) format(\"woff\"); unicode-range: {ranges}; }}")
    return EmbeddedFont(css, family, notice, len(chars), len(woff))


def _name(font, name_id: int) -> str:
    """A name-table string (English if there is one), on one line."""
    record = font["name"].getName(name_id, 3, 1, 0x409) or font["name"].getDebugName(name_id)
    return " ".join(str(record).split()) if record else ""
