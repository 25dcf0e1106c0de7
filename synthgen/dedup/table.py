"""Deduplicate any table of rows (the library behind ``synthgen dedup``).

Rows keep every column. A row whose text field is missing, not a string, or blank is rejected with a
reason (``missing_text``, ``invalid_text``, ``empty_text``), never dropped silently and never a crash.
Rejected rows carry ``dedup_reason``, ``dedup_scope``, ``dedup_matched_id``, ``dedup_score`` and the
full ``dedup_evidence`` (JSON), so a threshold can be re-tuned from the file without recomputing.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .decontam import Decontaminator
from .deduplicator import Deduplicator
from .index import HistoryWriter
from .scopes import EMPTY_TEXT, Match
from .stage import INVALID_TEXT

MISSING_TEXT = "missing_text"
EVIDENCE_COLUMNS = ("dedup_reason", "dedup_scope", "dedup_matched_id", "dedup_score", "dedup_evidence")
BATCH = 8192


@dataclass
class DedupResult:
    """Kept rows and rejected rows (with evidence columns), both in input order, and the counts."""

    kept: list[dict[str, Any]]
    rejected: list[dict[str, Any]]
    settings: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def counts(self) -> Counter:
        return Counter(row["dedup_reason"] for row in self.rejected)

    def summary(self) -> dict[str, Any]:
        return {"rows": len(self.kept) + len(self.rejected), "kept": len(self.kept), "dropped": len(self.rejected),
                "reasons": dict(self.counts.most_common()), "settings": self.settings,
                "warnings": list(self.warnings)}


def repeated_ids_warning(ids: list[str], rows_in_evidence: bool = False) -> str | None:
    """The warning for ids that name more than one row (None when every id is unique): a rejected row's
    ``dedup_matched_id`` is then ambiguous. ``rows_in_evidence``: the evidence of a match within the input
    also gives the matched row's number (``matched_row``, from 0), as ``synthgen dedup`` writes it
    (:func:`.resolve.rule_verdicts`); the in-memory engine here knows only ids."""
    counts = Counter(ids)
    if len(counts) == len(ids):
        return None
    shared = sum(n for n in counts.values() if n > 1)
    example, times = counts.most_common(1)[0]
    fix = ("rejected rows' dedup_evidence also gives matched_row, the matched row's number (from 0) in the input"
           if rows_in_evidence else "give every row its own id")
    return (f"ids are not unique: {shared} of {len(ids)} rows share their id with another row (id {example!r} "
            f"names {times} rows), so dedup_matched_id can name several rows; {fix}")


def text_column_warnings(columns: dict[str, list[str]], file: str = "kept.parquet") -> list[str]:
    """One warning per column of ``file`` written as JSON text because its values do not share one type
    (``columns``: name → the kinds of value it holds, :func:`mixed_columns`)."""
    notes = []
    for name, kinds in columns.items():
        mixed = f"mixes value types ({', '.join(kinds)})" if len(kinds) > 1 else f"holds {kinds[0]}s of clashing shapes"
        notes.append(f"column {name!r} {mixed} across the kept rows: {file} stores it as JSON text for every row "
                     "(a Parquet column holds one type); give all its values one type to keep the column's type")
    return notes


def row_ids(rows: list[dict[str, Any]], id_field: str = "id") -> list[str]:
    """The ``id`` column when a row has one, else the row number."""
    return [str(row[id_field]) if row.get(id_field) is not None else str(n) for n, row in enumerate(rows)]


def text_value(value: Any) -> Any:
    """What dedup compares of a row's text column: a conversation (a list of ``{role, content}``, as
    synthgen's ``messages`` format writes) as its ``role: content`` lines, or None when no turn has text,
    ``[]`` included (``missing_text``, as ``synthgen mix`` reads it); any other value as it is (a
    non-string is then ``invalid_text``)."""
    from ..records import as_text, conversation_has_text, is_conversation

    if isinstance(value, list) and is_conversation(value):
        return as_text(value) if conversation_has_text(value) else None
    return value


def row_texts(rows: list[dict[str, Any]], field: str) -> list[Any]:
    return [text_value(row.get(field)) for row in rows]


def _precheck(value: Any) -> Match | None:
    if value is None:
        return Match(MISSING_TEXT, "input")
    if not isinstance(value, str):
        return Match(INVALID_TEXT, "input", extra={"type": type(value).__name__})
    return None if value.strip() else Match(EMPTY_TEXT, "input")


def dedup_rows(rows: list[dict[str, Any]], engine: Deduplicator, *, text_field: str = "text",
               decontaminator: Decontaminator | None = None, history: HistoryWriter | None = None) -> DedupResult:
    """Run decontamination (when given) then dedup over ``rows`` in order; first seen wins."""
    ids, texts = row_ids(rows), row_texts(rows, text_field)
    verdicts: list[Match | None] = [_precheck(text) for text in texts]
    for lo in range(0, len(rows), BATCH):
        todo = [i for i in range(lo, min(lo + BATCH, len(rows))) if verdicts[i] is None]
        if decontaminator is not None:
            for i, match in zip(todo, decontaminator.check([texts[i] for i in todo])):
                verdicts[i] = match
            todo = [i for i in todo if verdicts[i] is None]
        start = len(engine.run_)
        for i, match in zip(todo, engine.check([ids[i] for i in todo], [texts[i] for i in todo])):
            verdicts[i] = match
        if history is not None and engine.ngram_ is not None:
            history.write(engine.run_, start, engine.ngram_)
    kept = [row for row, match in zip(rows, verdicts) if match is None]
    rejected = [_rejected_row(row, match) for row, match in zip(rows, verdicts) if match is not None]
    settings = {"dedup": engine.describe()}
    if decontaminator is not None:
        settings["decontam"] = decontaminator.describe()
    warnings = [note for note in [repeated_ids_warning(ids)] if note] + text_column_warnings(mixed_columns(kept))
    return DedupResult(kept, rejected, settings, warnings)


def _rejected_row(row: dict[str, Any], match: Match) -> dict[str, Any]:
    return {**row, "dedup_reason": match.reason, "dedup_scope": match.scope, "dedup_matched_id": match.matched_id,
            "dedup_score": match.score, "dedup_evidence": json.dumps(match.evidence(), sort_keys=True)}


def arrow_safe(rows: list[dict[str, Any]], mixed: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
    """Same keys on every row; a column mixing value types stores its non-string values as JSON text.
    ``mixed``: those columns (:func:`mixed_columns`), when the caller has them already."""
    keys = list(dict.fromkeys(key for row in rows for key in row))
    mixed = mixed_columns(rows) if mixed is None else mixed
    return [{key: _as_text(row.get(key)) if key in mixed else row.get(key) for key in keys} for row in rows]


def mixed_columns(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Column → the kinds of value it holds (sorted: ``["list", "str"]``), for each column whose values
    Arrow cannot store as one type: several kinds (a conversation beside a plain string), or lists or
    objects of clashing shapes (``[1, 2]`` beside a conversation)."""
    keys = list(dict.fromkeys(key for row in rows for key in row))
    mixed = {}
    for key in keys:
        families = {_family(row.get(key)) for row in rows} - {None}
        if len(families) > 1 or (families & {"list", "dict"} and not _one_arrow_type([row.get(key) for row in rows])):
            mixed[key] = sorted(families)
    return mixed


def _one_arrow_type(values: list[Any]) -> bool:
    """Whether nested values share one Arrow type (``[1, 2]`` beside a conversation do not)."""
    import pyarrow as pa

    try:
        pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return False
    return True


def _family(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, (int, float)) else type(value).__name__


def _as_text(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else json.dumps(value, default=str)


def write_result(result: DedupResult, out: Path) -> dict[str, Path]:
    """``kept.parquet``, ``rejected.parquet`` and ``summary.json`` in ``out`` (each written atomically), the
    tables built as ``synthgen dedup`` builds them (``rows_table``: integers past 64 bits kept too)."""
    import pyarrow as pa

    from ..atomic import write_json_atomic
    from ..tabular import write_parquet_table
    from .rowtables import rows_table

    out.mkdir(parents=True, exist_ok=True)
    paths = {"kept": out / "kept.parquet", "rejected": out / "rejected.parquet", "summary": out / "summary.json"}
    for name, rows in (("kept", result.kept), ("rejected", result.rejected)):
        table = rows_table(rows)
        write_parquet_table(pa.table({}) if table is None else table, paths[name])
    write_json_atomic(paths["summary"], result.summary())
    return paths
