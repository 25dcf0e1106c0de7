"""Writing a mix to disk: ``<dir>/`` is a saved ``datasets.Dataset`` and also holds ``data.parquet`` (the
same rows), ``dropped.parquet`` (synthetic rows left out, with ``reason``) and ``summary.json``.

The folder is built beside its destination and renamed into place, so a crash leaves the old mix or the
new one, never half of one; a folder that is not a synthgen mix is never overwritten.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from ..atomic import write_json_atomic
from .base import MixError, is_non_text, real_text, written_text
from .mixer import MixResult
from ..atomic import replace_folder

SUMMARY = "summary.json"
KIND = "synthgen-mix"


def write_mix(result: MixResult, out_dir: str | Path) -> Path:
    """Write ``result`` into ``out_dir`` (e.g. ``runs/<name>/mix``), replacing an earlier mix there."""
    import datasets

    from ..rundir import _quiet_datasets

    out = Path(out_dir)
    _check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    field = result.settings.get("text_field", "text")
    records = to_table(text_as_compared(result.records, field), ("text", "source"), result.warnings)
    try:
        with _quiet_datasets():
            datasets.Dataset(records).save_to_disk(str(tmp))
        _write_parquet(records, tmp / "data.parquet")
        dropped = to_table(text_as_compared(result.dropped, field), ("text", "source", "reason"), result.warnings)
        _write_parquet(dropped, tmp / "dropped.parquet")  # an invalid_text row's 7 as '7': its reason says why
        write_json_atomic(tmp / SUMMARY, {"kind": KIND, **result.summary()})
        replace_folder(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def text_as_compared(rows: list[dict[str, Any]], field: str) -> list[dict[str, Any]]:
    """``rows`` with a text value that is neither a string nor a conversation (a real row's 5, or NaN) as
    the mixer read it (:func:`.base.real_text`: its JSON text, or None), so the mix's text column holds what
    the mixer counted, whatever the column's other values are; other rows as they are."""
    return [{**row, field: real_text(row[field])} if is_non_text(row.get(field)) else row for row in rows]


def _check_replaceable(out: Path) -> None:
    from ..outpaths import check_parent

    check_parent(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and read_summary(out) is None)):
        raise MixError(f"{out} exists and is not a synthgen mix folder", hint="choose a new or empty folder for --out")


def read_summary(mix_dir: str | Path) -> dict[str, Any] | None:
    """The mix's summary.json, or None when the folder is not a synthgen mix."""
    path = Path(mix_dir) / SUMMARY
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) and summary.get("kind") == KIND else None


def _write_parquet(table: Any, path: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table, path)


def to_table(rows: list[dict[str, Any]], empty_columns: tuple[str, ...], warnings: list[str] | None = None):
    """A pyarrow table of ``rows`` over the union of their columns (missing values null). A column whose
    values mix types (say int ids beside string ids, or a synthetic score 0.5 beside real scores "high"),
    or that Parquet cannot store (all ``{}``: :func:`~synthgen.tabular.parquet_safe`), is written as text
    rather than failing the write; both are noted in ``warnings``."""
    import pyarrow as pa

    from ..tabular import parquet_safe

    if not rows:
        return pa.table({name: pa.array([], pa.string()) for name in empty_columns})
    names = list(dict.fromkeys(key for row in rows for key in row))
    columns = {name: [row.get(name) for row in rows] for name in names}
    arrays = {name: _array(values) for name, values in columns.items()}
    table, texts = parquet_safe(pa.table(arrays))
    notes = [_mixed_note(name, columns[name]) for name, array in arrays.items()
             if pa.types.is_string(array.type) and not _all_text(columns[name])]
    if texts:
        notes.append(f"column(s) {', '.join(texts)} hold only empty objects ({{}}), which Parquet cannot store: "
                     "written as JSON text")
    for note in notes if warnings is not None else ():
        if note not in warnings:
            warnings.append(note)
    return table


def _mixed_note(name: str, values: list[Any]) -> str:
    """The warning for a column written as text because Arrow cannot store its values as one type."""
    kinds = list(dict.fromkeys(type(v).__name__ for v in values if v is not None))
    example = next(v for v in values if v is not None and not isinstance(v, str))
    mixed = f"mixes value types ({', '.join(kinds)})" if len(kinds) > 1 else f"holds {kinds[0]}s of different shapes"
    return (f"column {name!r} {mixed} across rows: written as text, so {example!r} became "
            f"{written_text(example)!r}; give the column one type in both tables")


def _all_text(values: list[Any]) -> bool:
    return all(v is None or isinstance(v, str) for v in values)


def _array(values: list[Any]):
    import pyarrow as pa

    kinds = {type(v) for v in values if v is not None}
    if len(kinds) > 1 and not kinds <= {int, float}:
        return pa.array(_as_text(values), pa.string())
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # e.g. lists of mixed items, structs of clashing types
        return pa.array(_as_text(values), pa.string())


def _as_text(values: list[Any]) -> list[Any]:
    if _all_text(values):
        return values
    return [v if v is None or isinstance(v, str) else written_text(v) for v in values]
