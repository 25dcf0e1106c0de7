"""One ledger entry: a generation (or the real data it descends from), with where it came from.

``depth`` counts generations from human data: the real data is depth 0, a generation written by a model
trained on human data is depth 1, one whose generator was trained on depth-1 synthetic data is depth 2.
The mixer's default synthetic-share cap tightens with it (synthgen.mix.caps).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from ..errors import SynthgenError


class LineageError(SynthgenError):
    """A ledger that cannot be read or changed as asked: newer format, corrupt, unknown or missing ids."""


@dataclass(frozen=True)
class LineageEntry:
    """``depth`` None is derived when added: 1 + the deepest parent's depth, or 0 (real data) without parents.
    ``counts`` are row counts (kept, rejected, candidates, mix rows…); ``metrics`` are held-out measures
    and diversity ratios (None where not computed); ``extra`` is any other JSON (stop reason, mix summary)."""

    id: str
    parents: tuple[str, ...] = ()
    depth: int | None = None
    model: str | None = None
    recipe_hash: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float | None] = field(default_factory=dict)
    run_dir: str | None = None
    created_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_real(self) -> bool:
        return self.depth == 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["parents"] = list(self.parents)
        return data

    @classmethod
    def from_dict(cls, data: Any, where: str | None = None) -> "LineageEntry":
        """The entry a ledger file records as ``data``; ``where`` (e.g. ``lineage.json: entries[1]``) starts
        every error, which then names that file's entry and key. A file always records ``depth`` (``add``
        derives it), so one without is damaged, not an entry to derive."""
        if not isinstance(data, dict):
            raise LineageError(f"{where or 'a ledger entry'} is {_json_kind(data)}, not an object",
                               hint=DAMAGED_HINT)
        label = _label(where, data.get("id"))
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown or "id" not in data:
            raise LineageError(f"{label} has unknown or missing keys: {', '.join(unknown) or 'id'}", hint=DAMAGED_HINT)
        if data.get("depth") is None:
            raise LineageError(f"{label}: depth is missing", hint="record it: 0 for real data, else 1 + its deepest "
                                                                 "parent's depth; or restore the file")
        if not isinstance(data.get("parents", []), list):
            raise LineageError(f"{label}: parents must be a list of ids, got {data['parents']!r}",
                               hint="e.g. \"parents\": [\"real\"]; an entry of real data has []")
        try:
            return cls(**{**data, "parents": tuple(data.get("parents") or ())}).checked(label if where else None)
        except LineageError as exc:
            raise LineageError(exc.message, hint=exc.hint or DAMAGED_HINT) from None

    def checked(self, where: str | None = None) -> "LineageEntry":
        """This entry with types checked and metrics cleaned (NaN and inf become None: JSON has neither).
        Errors start with ``where`` (default: the id)."""
        if not isinstance(self.id, str) or not self.id.strip() or "\n" in self.id:
            raise LineageError(f"{where + ': ' if where else ''}a lineage id must be a non-empty one-line string, "
                               f"got {self.id!r}", hint="e.g. 'real' or 'gen-3'")
        where = where or self.id
        if isinstance(self.parents, str) or not isinstance(self.parents, (tuple, list)):
            raise LineageError(f"{where}: parents must be a list of ids, got {self.parents!r}",
                               hint="e.g. parents=('real',)")
        if any(not isinstance(p, str) for p in self.parents) or len(set(self.parents)) != len(self.parents):
            raise LineageError(f"{where}: parents must be distinct ids, got {list(self.parents)}")
        if self.id in self.parents:
            raise LineageError(f"{where}: a generation cannot be its own parent")
        if self.depth is not None and (isinstance(self.depth, bool) or not isinstance(self.depth, int) or self.depth < 0):
            raise LineageError(f"{where}: depth must be a whole number ≥ 0 (0 = real data), got {self.depth!r}")
        for name in ("model", "recipe_hash", "created_at"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise LineageError(f"{where}: {name} must be a string or null, got {getattr(self, name)!r}")
        for name in ("counts", "metrics", "extra"):
            if not isinstance(getattr(self, name), dict):
                raise LineageError(f"{where}: {name} must be an object (name: value), got {getattr(self, name)!r}")
        return replace(self, parents=tuple(self.parents),
                       counts={str(k): _clean_count(where, k, v) for k, v in self.counts.items()},
                       metrics={str(k): _clean_metric(where, k, v) for k, v in self.metrics.items()},
                       run_dir=None if self.run_dir is None else str(self.run_dir))


DAMAGED_HINT = "the ledger file was edited by hand or is damaged; fix that entry or restore the file"


def _label(where: str | None, entry_id: Any) -> str:
    """How an error names an entry: ``lineage.json: entries[1] ('gen-1')``, or the id alone."""
    if where is None:
        return repr(entry_id) if entry_id is not None else "ledger entry '?'"
    return f"{where} ({entry_id!r})" if isinstance(entry_id, str) else where


def _json_kind(value: Any) -> str:
    """``null``, ``a string``, ``a list``…: a JSON value's kind as an error names it."""
    if value is None:
        return "null"
    kinds = {bool: "a boolean", str: "a string", list: "a list", int: "a number", float: "a number"}
    return kinds.get(type(value), type(value).__name__)


def _clean_count(where: str, name: str, value: Any) -> int:
    """A plain int (numpy integers included), or a LineageError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise LineageError(f"{where}: count {name!r} must be a whole number ≥ 0, got {value!r}")
    return int(value)


def _clean_metric(where: str, name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise LineageError(f"{where}: metric {name!r} must be a number or null, got {value!r}")
    return float(value) if math.isfinite(value) else None
