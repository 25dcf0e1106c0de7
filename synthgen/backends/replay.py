"""Replay saved completions, so a generation can be re-gated without a model.

Completion ``k`` of the run is row ``k`` of the file; the backend's ``capacity`` tells the runner when
the file is exhausted. Every LLM step reads the same file: a request for record index ``i`` with ``n``
samples reads rows ``i·n .. i·n + n - 1``, so a later step that fans out reads rows past the first step's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import SynthgenError
from ..records import Completion, GenerationRequest, content_hash
from ..recipe.schema import SamplingConfig
from ..tabular import a_value, decode_binary, read_rows
from .base import DEFAULT_KEY


REPLAY_HINT = ("add rows to the file, or lower generation.target (a later step that samples n > 1 reads "
               "rows record index × n + j of the same file)")


class ReplayExhausted(SynthgenError):
    """The replay file has no row for a completion asked for (the caller may name its own remedy)."""


class ReplayFileError(SynthgenError):
    """A row of the replay file holds no text in the field: ``key`` is the backend setting to fix, ``field``
    (the column is missing) or ``path`` (a value is not text)."""

    def __init__(self, message: str, hint: str | None = None, key: str = "path"):  # unpickled from the message
        super().__init__(message, hint)
        self.key = key


class ReplayBackend:
    name = "replay"

    def __init__(self, path: Path, field: str = "text", key: str = DEFAULT_KEY):
        self.path = Path(path)
        self.field = field
        self.key = key  # the backend table's recipe key, named in hints (``steps.2.backend``)
        self.rows: list[str] | None = None

    @property
    def capacity(self) -> int | None:
        return None if self.rows is None else len(self.rows)

    def load(self) -> None:
        if self.rows is not None:
            return
        self.rows = replay_texts(read_rows(self.path), self.path, self.field, self.key)

    def generate(self, requests: list[GenerationRequest], sampling: SamplingConfig) -> list[list[Completion]]:
        self.load()
        assert self.rows is not None
        results = []
        for request in requests:
            texts = [self._row(request.index * sampling.n + j) for j in range(sampling.n)]
            results.append([Completion(t, len(t.split()), "replay") for t in texts])
        return results

    def _row(self, position: int) -> str:
        assert self.rows is not None
        if position >= len(self.rows):
            raise ReplayExhausted(f"{self.path}: replay asked for row {position + 1} of {len(self.rows)}",
                                  hint=REPLAY_HINT)
        return self.rows[position]

    def enforces(self, kind: str) -> bool:
        """Decoding constraints (``json``, ``choice``, ``regex``) are not enforced: the saved completions are replayed."""
        return False

    def describe(self) -> dict[str, Any]:
        digest = content_hash("\n".join(self.rows or []))
        return {"backend": self.name, "model": f"replay:{self.path.name}", "path": str(self.path), "rows_hash": digest}

    def close(self) -> None:
        pass


def replay_texts(rows: list[dict[str, Any]], path: Path, field: str, key: str = DEFAULT_KEY) -> list[str]:
    """The ``field`` value of every row, each a string (binary decoded as UTF-8). A missing field, or a
    null, number or list there, is an error naming the row: replayed as text ('None', '42'), it would pass
    the verifiers as a completion. ``key``: the backend table's recipe key, named in the hint."""
    decode_binary(rows, path, [field])
    for number, row in enumerate(rows, 1):
        if field not in row:
            raise ReplayFileError(f"{path}: row {number} has no {field!r} field",
                                  f"set {key}.field to the column holding the text", "field")
        if not isinstance(row[field], str):
            kind = "null" if row[field] is None else a_value(row[field])
            raise ReplayFileError(f"{path}: row {number}: {field!r} is {kind}, not text",
                                  'give every row a string completion ("" for an empty one)', "path")
        _check_unicode(row[field], path, number, field)
    return [row[field] for row in rows]


def _check_unicode(text: str, path: Path, number: int, field: str) -> None:
    """A lone surrogate (JSON's ``"\\ud83d"``, half of a cut emoji) is not Unicode text: no model's output
    holds one, and the run could neither hash nor write it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ReplayFileError(f"{path}: row {number}: {field!r} holds a lone surrogate {text[exc.start]!r} at "
                              f"character {exc.start + 1}, not valid Unicode text",
                              "save the completions as valid UTF-8: drop or repair the cut character",
                              "path") from None
