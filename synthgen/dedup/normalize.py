"""Text normalization shared by exact hashing, shingling and decontamination.

``normalize_text`` is the exact-duplicate key's input: NFKC, invisible format characters removed (zero-width
spaces and joiners, soft hyphens, byte-order marks, bidirectional marks: scraped copies of one text differ
in them, and each one split a word in two for the shingles), casefold, whitespace runs collapsed to one
space and stripped. ``tokenize`` goes one step further for shingles: punctuation becomes a word break, so
"cats, dogs" and "cats dogs" share every shingle; each Chinese or Japanese character is a word of its own.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

import numpy as np

from ..cjk import space_cjk
from ..invisible import drop_format

_PUNCT = re.compile(r"[^\w\s]+")


def normalize_text(text: str) -> str:
    """NFKC → format characters removed → casefold → collapse whitespace (``" ".join(text.split())``).

    ASCII text skips NFKC (the identity on ASCII) and casefolds with ``lower`` (equal on ASCII)."""
    if text.isascii():
        return " ".join(text.lower().split())
    return " ".join(drop_format(unicodedata.normalize("NFKC", text)).casefold().split())


def tokenize(text: str) -> list[str]:
    """Word tokens of the normalized text; punctuation runs split words and are dropped."""
    return tokens_of_normalized(normalize_text(text))


def tokens_of_normalized(normalized: str) -> list[str]:
    """``tokenize`` for text that already went through :func:`normalize_text`; a CJK character is a word
    of its own (:mod:`synthgen.cjk`)."""
    return _PUNCT.sub(" ", space_cjk(normalized)).split()


def key_of_normalized(normalized: str) -> int:
    """64-bit exact key: ``blake2b(normalized, digest_size=8)`` read little-endian."""
    return int.from_bytes(hashlib.blake2b(normalized.encode("utf-8"), digest_size=8).digest(), "little")


def exact_key(text: str) -> int:
    """The exact-duplicate key of a raw text: equal iff the normalized texts are equal (up to 2^-64)."""
    return key_of_normalized(normalize_text(text))


def exact_keys(normalized: list[str]) -> np.ndarray:
    """``key_of_normalized`` of every normalized text, as a uint64 array."""
    return np.fromiter(map(key_of_normalized, normalized), dtype=np.uint64, count=len(normalized))
