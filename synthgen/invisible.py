"""Invisible format characters (Unicode category Cf): zero-width spaces and joiners, soft hyphens, word
joiners, byte-order marks, bidirectional marks, emoji tag characters. ``str.strip`` and ``str.split`` keep
them, so a completion of U+200B alone read as text, and scraped copies of one text that differ only in them
read as different texts. Dedup's normalization and the ``non_empty`` verifier both drop them through here."""

from __future__ import annotations

import re

# Every Cf code point (tested against unicodedata): soft hyphen, Arabic and Syriac marks, Mongolian vowel
# separator, zero-width and bidirectional controls, word joiner and invisible operators, byte-order mark,
# interlinear annotation, Egyptian hieroglyph controls, shorthand and musical format controls, tag characters.
FORMAT_CHARS = re.compile("[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
                          "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
                          "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
                          "\U000e0020-\U000e007f]")


def drop_format(text: str) -> str:
    """``text`` without its format characters (ASCII text, which has none, returned as is)."""
    return text if text.isascii() else FORMAT_CHARS.sub("", text)
