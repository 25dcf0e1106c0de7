"""Column checks with errors that guess the mistake, and the ``source`` label every mix row carries."""

from __future__ import annotations

from typing import Any

from ..errors import did_you_mean
from .base import MixError
from .strategies import row_score

ORIGINAL_SOURCE = "original_source"
ORIGINAL_REASON = "original_reason"


def columns(rows: list[dict[str, Any]], limit: int = 1000) -> list[str]:
    """Column names seen in the first ``limit`` rows, in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows[:limit]:
        seen.update(dict.fromkeys(row))
    return list(seen)


CONVERSATION_COLUMN = "messages"


def seed_prefix_hint(field: str, names: Any) -> str | None:
    """The hint for a seed field named without the ``seed_`` prefix a run's data gives it, else None."""
    return f"did you mean 'seed_{field}'? (runs prefix seed fields with seed_)" if f"seed_{field}" in names else None


def _guess(field: str, names: list[str]) -> str:
    """A 'did you mean' hint: the seed_ prefix a run adds to seed fields, a conversation column (datasets in
    the ``messages`` format have no text column), or the closest column."""
    seed_hint = seed_prefix_hint(field, names)
    if seed_hint:
        return seed_hint
    listed = ", ".join(names[:20]) or "none"
    if CONVERSATION_COLUMN in names and field != CONVERSATION_COLUMN:
        return f"did you mean {CONVERSATION_COLUMN!r}? conversations are mixed by their turns; columns are: {listed}"
    return f"{did_you_mean(field, names)}columns are: {listed}"


def check_text_field(rows: list[dict[str, Any]], field: str, side: str) -> None:
    """A MixError when rows exist but none has ``field`` (a wrong --text-field, not a few bad rows)."""
    if rows and not any(field in row for row in rows):
        raise MixError(f"the {side} rows have no {field!r} column", hint=_guess(field, columns(rows)))


def require_field(rows: list[dict[str, Any]], field: str, key: str, scores: bool = False) -> None:
    """A MixError naming ``key`` when no row has ``field`` (with ``scores``: nor a score of that name)."""
    if any(field in row for row in rows):
        return
    if scores and any(row_score(row, field) is not None for row in rows):
        return
    raise MixError(f"{key} = {field!r}: no synthetic row has that field", hint=_guess(field, columns(rows)))


def label_rows(rows: list[dict[str, Any]], source: str) -> list[dict[str, Any]]:
    """Copies of ``rows`` with ``source`` set; a ``source`` the row already had moves to ``original_source``."""
    labelled = []
    for row in rows:
        copy = dict(row)
        if "source" in copy and copy["source"] != source:
            copy[ORIGINAL_SOURCE] = copy.pop("source")
        copy["source"] = source
        labelled.append(copy)
    return labelled


def with_reason(row: dict[str, Any], reason: str) -> dict[str, Any]:
    """A dropped row with the mixer's ``reason``; a ``reason`` the row already had (a verifier's, a judge's)
    moves to ``original_reason``, as ``source`` moves to ``original_source``."""
    copy = dict(row)
    if "reason" in copy:
        copy[ORIGINAL_REASON] = copy.pop("reason")
    copy["reason"] = reason
    return copy
