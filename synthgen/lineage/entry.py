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
    def from_dict(cls, data: dict[str, Any]) -> "LineageEntry":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown or "id" not in data:
            raise LineageError(f"ledger entry {data.get('id', '?')!r} has unknown or missing keys: "
                               f"{', '.join(unknown) or 'id'}", hint="the ledger file was edited by hand or is damaged")
        return cls(**{**data, "parents": tuple(data.get("parents") or ())}).checked()

    def checked(self) -> "LineageEntry":
        """This entry with types checked and metrics cleaned (NaN and inf become None: JSON has neither)."""
        if not isinstance(self.id, str) or not self.id.strip() or "\n" in self.id:
            raise LineageError(f"a lineage id must be a non-empty one-line string, got {self.id!r}",
                               hint="e.g. 'real' or 'gen-3'")
        if any(not isinstance(p, str) for p in self.parents) or len(set(self.parents)) != len(self.parents):
            raise LineageError(f"{self.id}: parents must be distinct ids, got {list(self.parents)}")
        if self.id in self.parents:
            raise LineageError(f"{self.id}: a generation cannot be its own parent")
        if self.depth is not None and (isinstance(self.depth, bool) or not isinstance(self.depth, int) or self.depth < 0):
            raise LineageError(f"{self.id}: depth must be a whole number ≥ 0 (0 = real data), got {self.depth!r}")
        return replace(self, counts={str(k): _clean_count(self.id, k, v) for k, v in self.counts.items()},
                       metrics={str(k): _clean_metric(self.id, k, v) for k, v in self.metrics.items()},
                       run_dir=None if self.run_dir is None else str(self.run_dir))


def _clean_count(entry_id: str, name: str, value: Any) -> int:
    """A plain int (numpy integers included), or a LineageError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise LineageError(f"{entry_id}: count {name!r} must be a whole number ≥ 0, got {value!r}")
    return int(value)


def _clean_metric(entry_id: str, name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise LineageError(f"{entry_id}: metric {name!r} must be a number or null, got {value!r}")
    return float(value) if math.isfinite(value) else None
