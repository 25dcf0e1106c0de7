"""What the mixer's modules share: its error type and the reasons a synthetic row is left out of a mix.

Drop reasons are snake_case constants owned by the mixer (DESIGN.md §9); every row that does not make it
into the mix is returned with one of them, never silently lost.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from ..errors import SynthgenError
from ..records import as_text, conversation_has_text, is_conversation

OVER_MIX_CAP = "over_mix_cap"
"""The synthetic-share cap was full: the real data cannot carry this row."""

OVER_MEASURED_SHARE = "over_measured_share"
"""Within the cap, but past the share the real data was measured to carry (``mix.measure_share``)."""

DUPLICATE_IN_MIX = "duplicate_in_mix"
"""Its text is already in the mix (a real row, or an earlier synthetic row): adding it would duplicate."""

MISSING_TEXT = "missing_text"
"""It has no text: absent, null, NaN, blank, or a conversation without text."""

INVALID_TEXT = "invalid_text"
"""Its text is neither a string nor a conversation (7, ``["a", "b"]``): what ``synthgen dedup`` calls the same
row (synthgen.dedup.stage.INVALID_TEXT; not imported, as that would load the dedup package and numpy with
this light one; tests pin the two equal)."""

DROP_REASONS = (OVER_MIX_CAP, OVER_MEASURED_SHARE, DUPLICATE_IN_MIX, MISSING_TEXT, INVALID_TEXT)

SOURCE_REAL = "real"
SOURCE_SYNTHETIC = "synthetic"


class MixError(SynthgenError):
    """A mix that cannot be built as asked: a bad cap, a missing field, real data too small to carry any."""


@dataclass(frozen=True)
class MixTexts:
    """The texts the mixer compares (:func:`mix_text`), computed once for the strategies: ``offered``, one
    per eligible synthetic row (same order); ``real``, those of the real rows that have text."""

    offered: list[str]
    real: list[str]


def mix_text(value: Any) -> str | None:
    """A text column's value as the text the mixer compares and weighs: a non-blank string, or a
    conversation (the ``messages`` format) as its ``role: content`` lines; None when there is no text."""
    if isinstance(value, str):
        return value if value.strip() else None
    if conversation_has_text(value):
        return as_text(value)
    return None


def real_text(value: Any) -> str | None:
    """A real row's text as the mixer compares it and the mix writes it. Real rows are kept as given, so a
    value that is neither a string nor a conversation (5, ``["a", "b"]``) is text in the mix: its JSON text
    (:func:`written_text`), which is also what the mix's text column holds. None when there is no text
    (absent, null, NaN, blank, a conversation without text): such rows are kept with no text."""
    if not is_non_text(value):
        return mix_text(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return written_text(value)


def real_texts_of(rows: list[dict[str, Any]], field: str) -> list[str]:
    """The :func:`real_text` of each row's ``field``, rows without text left out."""
    return [t for t in (real_text(row.get(field)) for row in rows) if t is not None]


def is_non_text(value: Any) -> bool:
    """A text value that is neither null, a string nor a conversation (5, NaN, ``["a", "b"]``): the mix
    holds it as :func:`real_text` (its JSON text, or None for NaN)."""
    return not (value is None or isinstance(value, str) or is_conversation(value))


def written_text(value: Any) -> str:
    """A non-string value as the mix writes it in a text column: its JSON text (5 → ``5``)."""
    return json.dumps(value, ensure_ascii=False, default=str)
