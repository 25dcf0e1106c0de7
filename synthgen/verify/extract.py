"""Pull structured parts out of model text: JSON values, fenced code blocks and ``Label: value`` fields."""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_DECODER = json.JSONDecoder()
_CODE_LANGS = {"python": ("python", "py", "python3", "")}


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """``(language, body)`` of each fenced block, in order; an unclosed last fence runs to the end."""
    return [(m.group(1).casefold(), m.group(2)) for m in _FENCE.finditer(text)]


def extract_json(text: str, mode: str = "auto") -> tuple[Any, str] | None:
    """The first JSON object or array in ``text`` and the exact source it was parsed from.

    ``strict``: the whole (stripped) text must be one JSON value. ``auto``: try the stripped text, then
    fenced blocks (``json`` ones first), then the first ``{`` or ``[`` from which a value parses, ignoring
    prose before and after it. Returns None when nothing parses.
    """
    stripped = text.strip()
    whole = _parse_whole(stripped)
    if whole is not None or mode == "strict":
        return whole
    blocks = sorted(fenced_blocks(text), key=lambda block: block[0] != "json")
    for _lang, body in blocks:
        found = _parse_whole(body.strip()) or _scan(body)
        if found is not None:
            return found
    return _scan(text)


def _parse_whole(text: str) -> tuple[Any, str] | None:
    if not text or text[0] not in "{[":
        return None
    try:
        return json.loads(text), text
    except ValueError:
        return None


def _scan(text: str, max_starts: int = 64) -> tuple[Any, str] | None:
    """raw_decode from each ``{``/``[`` in turn: tolerant of leading and trailing prose."""
    starts = 0
    for match in re.finditer(r"[{\[]", text):
        starts += 1
        if starts > max_starts:
            break
        try:
            value, end = _DECODER.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, (dict, list)):
            return value, text[match.start():end]
    return None


def extract_code(text: str, mode: str = "auto", language: str = "python") -> str | None:
    """Program text from a completion. ``raw``: the text as is. ``fenced``: the first fenced block in
    ``language`` (or unlabelled), else the first block, else None. ``auto``: fenced when there is a fence,
    raw otherwise."""
    if mode == "raw":
        return text
    blocks = fenced_blocks(text)
    if not blocks:
        return text if mode == "auto" else None
    wanted = _CODE_LANGS.get(language, (language, ""))
    for lang, body in blocks:
        if lang in wanted:
            return body
    return blocks[0][1]


def labeled_fields(text: str, names: list[str]) -> dict[str, str]:
    """Values of ``Name: value`` labels (case-insensitive, optional ``**bold**``/``#`` decoration).

    A value runs from its label to the next label of ``names`` (so it may span lines); the first
    occurrence of each label wins.
    """
    if not names:
        return {}
    alternation = "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))
    label = re.compile(rf"^[ \t#>*_-]*({alternation})[ \t*_]*[:：][ \t*_]*", re.IGNORECASE | re.MULTILINE)
    hits = list(label.finditer(text))
    canonical = {name.casefold(): name for name in names}
    values: dict[str, str] = {}
    for i, hit in enumerate(hits):
        end = hits[i + 1].start() if i + 1 < len(hits) else len(text)
        values.setdefault(canonical[hit.group(1).casefold()], text[hit.end():end].strip())
    return values
