"""Chinese labels in figures: find a CJK font, or fall back to pinyin.

Matplotlib's default font (DejaVu Sans) has no Chinese glyphs, so 猫 would come
out as an empty box with a "Glyph 29483 missing" warning for every character.
Instead, every label goes through :func:`display_labels`:

* if the system has *any* font covering the characters (we search matplotlib's
  font list, and the system's font files in case matplotlib's font cache is
  older than the font), the label is drawn with that font, Latin text staying
  in DejaVu Sans;
* if not, the label is written in pinyin (猫 -> māo) from a small built-in
  table, characters outside the table as U+XXXX, and ONE short
  :class:`CJKFontWarning` per process says what to install.

The environment variable ``GEMINI_NP_CJK_FONT`` picks a font family by name,
or, set to ``none``, forces the pinyin labels (say, for a projector without
the font).
"""
from __future__ import annotations

import os
import warnings
from functools import lru_cache
from pathlib import Path

LATIN_FAMILY = "DejaVu Sans"
#: Where no font covers a label's characters, this tells the user how to get one.
INSTALL_HINT = "to see the characters: sudo apt-get install fonts-wqy-microhei (or any CJK font), then restart Python"
#: Families tried first (common CJK fonts); any other font covering the characters also works.
PREFERRED_FONTS = (
    "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Noto Sans CJK SC", "Noto Sans CJK JP",
    "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "Droid Sans Fallback",
    "AR PL UMing CN", "AR PL UKai CN", "SimHei", "Microsoft YaHei", "PingFang SC",
    "Heiti SC", "Hiragino Sans GB", "Arial Unicode MS",
)


class CJKFontWarning(UserWarning):
    """No installed font has the Chinese glyphs; labels fall back to pinyin."""


# ---------------------------------------------------------------- pinyin fallback

#: Whole words whose reading differs from the characters' own (neutral tones).
PINYIN_WORDS = {"喜欢": "xǐhuan", "我们": "wǒmen", "你们": "nǐmen", "他们": "tāmen", "东西": "dōngxi"}
#: One reading per character: the tokens of the article's example and of the
#: synthetic captions (colours, shapes, positions, sizes) and a few common words.
PINYIN_CHARS = {
    # the article's example: 猫 / 喜欢 / 吃鱼
    "猫": "māo", "喜": "xǐ", "欢": "huān", "吃": "chī", "鱼": "yú", "狗": "gǒu",
    # colours
    "红": "hóng", "橙": "chéng", "黄": "huáng", "绿": "lǜ", "青": "qīng", "蓝": "lán",
    "紫": "zǐ", "粉": "fěn", "白": "bái", "黑": "hēi", "灰": "huī", "棕": "zōng", "色": "sè",
    # shapes
    "圆": "yuán", "形": "xíng", "方": "fāng", "正": "zhèng", "长": "cháng", "矩": "jǔ",
    "三": "sān", "角": "jiǎo", "星": "xīng", "十": "shí", "字": "zì", "菱": "líng",
    "椭": "tuǒ", "条": "tiáo", "线": "xiàn", "横": "héng", "竖": "shù", "点": "diǎn",
    "块": "kuài", "环": "huán", "叉": "chā", "心": "xīn",
    # positions
    "在": "zài", "左": "zuǒ", "右": "yòu", "上": "shàng", "下": "xià", "边": "biān",
    "中": "zhōng", "间": "jiān", "面": "miàn", "前": "qián", "后": "hòu", "里": "lǐ",
    "外": "wài", "侧": "cè", "部": "bù", "顶": "dǐng", "底": "dǐ", "央": "yāng",
    # sizes and counts
    "大": "dà", "小": "xiǎo", "一": "yī", "二": "èr", "两": "liǎng", "四": "sì", "五": "wǔ",
    "个": "gè", "多": "duō", "少": "shǎo",
    # common words
    "的": "de", "是": "shì", "有": "yǒu", "和": "hé", "与": "yǔ", "不": "bù", "没": "méi",
    "很": "hěn", "好": "hǎo", "看": "kàn", "我": "wǒ", "你": "nǐ", "他": "tā", "她": "tā",
    "它": "tā", "们": "men", "这": "zhè", "那": "nà", "图": "tú", "像": "xiàng",
    "片": "piàn", "文": "wén", "本": "běn", "词": "cí", "句": "jù", "东": "dōng", "西": "xī",
}


def has_cjk(text: str) -> bool:
    """True if ``text`` contains a character DejaVu Sans cannot draw (CJK and friends)."""
    return any(_is_cjk(ch) for ch in str(text))


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return (
        0x2E80 <= o <= 0x9FFF  # radicals, punctuation, kana, bopomofo, unified ideographs
        or 0xAC00 <= o <= 0xD7AF  # hangul
        or 0xF900 <= o <= 0xFAFF  # compatibility ideographs
        or 0xFE30 <= o <= 0xFE4F  # compatibility forms
        or 0xFF00 <= o <= 0xFFEF  # full-width forms
        or 0x20000 <= o <= 0x3FFFF  # extension B and later
    )


def to_pinyin(text: str) -> str:
    """Chinese text -> pinyin with tone marks, e.g. "吃鱼" -> "chīyú", "喜欢" -> "xǐhuan".

    Known words first, then characters; other non-Latin characters become
    "U+XXXX" (so nothing is ever drawn as a box); everything else is kept.
    """
    text, out, i = str(text), [], 0
    while i < len(text):
        word = next((w for w in PINYIN_WORDS if text.startswith(w, i)), None)
        if word:
            out.append(PINYIN_WORDS[word])
            i += len(word)
            continue
        ch = text[i]
        if ch in PINYIN_CHARS:
            out.append(PINYIN_CHARS[ch])
        elif _is_cjk(ch):
            out.append(f"U+{ord(ch):04X}")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


# ---------------------------------------------------------------- finding a CJK font

@lru_cache(maxsize=None)
def _charmap(fname: str) -> frozenset:
    """The code points a font file has glyphs for (empty if it cannot be read)."""
    from matplotlib import ft2font

    try:
        return frozenset(ft2font.FT2Font(fname).get_charmap())
    except Exception:  # unreadable or unsupported file: it covers nothing
        return frozenset()


def _covers(fname: str, chars: frozenset) -> bool:
    """True if the font file has a glyph for every character (a str) in ``chars``."""
    return {ord(ch) for ch in chars} <= _charmap(fname)


def _is_placeholder_font(family: str) -> bool:
    """Fonts that 'cover' every character with a box naming its Unicode block
    (matplotlib ships "Last Resort High-Efficiency"): tofu by design, never a CJK font."""
    return family.lower().startswith("last resort")


def _candidates():
    """(family, file) of matplotlib's known fonts, preferred CJK families first."""
    from matplotlib import font_manager

    entries = {(f.name, f.fname) for f in font_manager.fontManager.ttflist if not _is_placeholder_font(f.name)}
    rank = {name: i for i, name in enumerate(PREFERRED_FONTS)}
    return sorted(entries, key=lambda e: (rank.get(e[0], len(rank)), e[0], e[1]))


def _register_uncached_fonts(chars: frozenset) -> None:
    """Add system font files matplotlib's (possibly stale) cache does not know, if they cover ``chars``."""
    from matplotlib import font_manager

    known = {f.fname for f in font_manager.fontManager.ttflist}
    for fname in font_manager.findSystemFonts():
        if fname not in known and "lastresort" not in Path(fname).name.lower() and _covers(fname, chars):
            try:
                font_manager.fontManager.addfont(fname)
            except Exception:  # a file matplotlib cannot parse: skip it
                continue


_font_cache: dict = {}  # (chars, GEMINI_NP_CJK_FONT) -> family or None


def _find_font(chars: frozenset) -> str | None:
    """Family name of an installed font that covers every character in ``chars``."""
    override = os.environ.get("GEMINI_NP_CJK_FONT", "").strip()
    if override.lower() == "none":
        return None
    key = (chars, override)
    if key not in _font_cache:
        _font_cache[key] = _search_font(chars, override)
    return _font_cache[key]


def _search_font(chars: frozenset, override: str) -> str | None:
    for attempt in range(2):
        candidates = _candidates()
        if override:  # the user's choice, if it exists and covers the characters
            candidates = [c for c in candidates if c[0] == override] or candidates
        for family, fname in candidates:
            if _covers(fname, chars):
                return family
        if attempt == 0:
            _register_uncached_fonts(chars)
    return None


def cjk_font(text: str = "猫喜欢吃鱼") -> str | None:
    """Family name of a font that draws every CJK character of ``text``, or None."""
    chars = frozenset(ch for ch in str(text) if _is_cjk(ch))
    if not chars:
        return LATIN_FAMILY
    return _find_font(chars)


_warned = False


def _warn_no_font(example: str) -> None:
    """One short line, once per process (and no source line echoed under it)."""
    global _warned
    if _warned:
        return
    _warned = True
    message = f"no Chinese font found, labels are shown in pinyin ({example} -> {to_pinyin(example)}); {INSTALL_HINT}"
    warnings.warn_explicit(message, CJKFontWarning, filename="gemini_np.viz", lineno=0)


def display_labels(labels) -> tuple[list[str], list[str]]:
    """Labels as they will be drawn, and the font families to draw them with.

    labels: strings (or anything with str()). Returns (texts, families): texts
    are the labels themselves when a CJK font covers all their characters (or
    they have none), otherwise their pinyin; families is [LATIN_FAMILY, cjk
    font] or [LATIN_FAMILY]. Warns once per process (CJKFontWarning) when a
    fallback was needed.
    """
    labels = [str(t) for t in labels]
    cjk = [t for t in labels if has_cjk(t)]
    if not cjk:
        return labels, [LATIN_FAMILY]
    font = cjk_font("".join(cjk))
    if font is not None:
        return labels, [LATIN_FAMILY, font]
    _warn_no_font(cjk[0])
    return [to_pinyin(t) for t in labels], [LATIN_FAMILY]
