"""Scripts written without spaces between words (Chinese; Japanese kana and kanji): each character is a
token. A whitespace tokenizer would make a whole clause of such text one "word", so two paragraphs
differing by one word shared almost no shingles (Jaccard 0.33 where the English equivalent has 0.83) and
lexical metrics counted sentences as types. Korean (Hangul) separates words with spaces and is left alone.
"""

from __future__ import annotations

import re

CJK_RANGES = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # kana, CJK ideographs (+ ext. A, compat.)
_CJK_CHAR = re.compile(f"([{CJK_RANGES}])")
UNIT = re.compile(rf"[{CJK_RANGES}]|[^\s{CJK_RANGES}]+")  # a word: one CJK character, or a run of anything else


def space_cjk(text: str) -> str:
    """``text`` with a space on each side of every CJK character (ASCII text returned as is)."""
    return text if text.isascii() else _CJK_CHAR.sub(r" \1 ", text)


def has_cjk(text: str) -> bool:
    """Whether ``text`` holds a Chinese or Japanese character."""
    return not text.isascii() and _CJK_CHAR.search(text) is not None


def text_units(text: str) -> int:
    """The words of ``text``: whitespace-separated runs, each Chinese/Japanese character one word (a CJK
    clause has no spaces, so as one "word" it would make a budget or a length limit meaningless). Equals
    ``len(space_cjk(text).split())``; ASCII text takes the plain ``split`` path."""
    return len(text.split()) if text.isascii() else len(UNIT.findall(text))
