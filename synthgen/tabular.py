"""Read rows from the table formats users hand us: jsonl, json, csv, parquet, or a saved ``datasets`` folder.

Shared by seed sources, few-shot pools, replay backends and the standalone commands. Heavy libraries
(pyarrow, datasets) are imported only when the format needs them.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Iterator

from .errors import SynthgenError

FORMATS = ("jsonl", "json", "csv", "parquet", "dataset")


def detect_format(path: Path) -> str:
    if path.is_dir():
        return "dataset"
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("jsonl", "ndjson"):
        return "jsonl"
    if suffix in ("json", "csv", "parquet"):
        return suffix
    raise SynthgenError(
        f"{path}: cannot tell the format from the extension {path.suffix!r}",
        hint="use .jsonl, .csv, .parquet or a folder written by Dataset.save_to_disk, or set format",
    )


def read_rows(path: Path, fmt: str = "auto", split: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """All rows of ``path`` as dicts; a clear SynthgenError for a missing or unreadable file."""
    path = Path(path)
    if not path.exists():
        raise SynthgenError(f"{path}: file not found", hint="check the path (relative paths start at the recipe's folder)")
    fmt = detect_format(path) if fmt == "auto" else fmt
    reader = {"jsonl": _read_jsonl, "json": _read_json, "csv": _read_csv, "parquet": _read_parquet}.get(fmt)
    try:
        rows = _read_dataset(path, split) if fmt == "dataset" else reader(path)
    except SynthgenError:
        raise
    except UnicodeDecodeError as exc:
        raise not_utf8(path, exc) from None
    except Exception as exc:  # noqa: BLE001 - any parser failure becomes one clear line
        raise SynthgenError(f"{path}: cannot read as {fmt}: {exc}", hint="check the file's format") from exc
    return rows[:limit] if limit else rows


def open_text(path: Path):
    """Open a text input (jsonl, json, csv) for reading: UTF-8, a leading byte-order mark dropped (Excel and
    Notepad write one; kept, it would rename the first CSV column to ``\ufefftext`` or break the first JSON
    line). Every reader of text tables opens files through this."""
    return Path(path).open(encoding="utf-8-sig", newline="")


def not_utf8(path: Path, exc: UnicodeDecodeError) -> SynthgenError:
    return SynthgenError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})",
                         hint="save the file as UTF-8, e.g. iconv -f latin1 -t utf-8")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open_text(path) as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SynthgenError(f"{path}:{lineno}: invalid JSON: {exc.msg}", hint="one JSON object per line") from None
            if not isinstance(row, dict):
                raise SynthgenError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            rows.append(row)
    return rows


def _read_json(path: Path) -> list[dict[str, Any]]:
    """A JSON list of objects; JSON Lines under a .json name (what ``datasets``' ``to_json`` writes) too."""
    with open_text(path) as handle:
        try:
            data = json.load(handle)
        except json.JSONDecodeError as exc:
            if exc.msg != "Extra data":
                raise
            return _read_jsonl(path)
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise SynthgenError(f"{path}: expected a JSON list of objects", hint="or use jsonl, one object per line")
    return data


def _read_csv(path: Path) -> list[dict[str, Any]]:
    with open_text(path) as handle:
        return list(csv_rows(handle, path))


def csv_rows(handle: Any, path: Path) -> Iterator[dict[str, Any]]:
    """The rows of a CSV file; a row with more fields than the header is an error naming its line (the csv
    module would keep the extra fields under a column named None)."""
    reader = csv.DictReader(handle)
    for row in reader:
        if None in row:
            raise SynthgenError(f"{path}:{reader.line_num}: {len(reader.fieldnames or []) + len(row[None])} fields "
                                f"for {len(reader.fieldnames or [])} header columns",
                                hint="quote fields that contain commas, or fix the row")
        yield row


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def _read_dataset(path: Path, split: str | None) -> list[dict[str, Any]]:
    import datasets

    loaded = datasets.load_from_disk(str(path))
    if isinstance(loaded, datasets.DatasetDict):
        if split is None:
            if len(loaded) != 1:
                raise SynthgenError(f"{path}: holds splits {sorted(loaded)}",
                                    hint=f"read one split's folder, e.g. {path / sorted(loaded)[0]} (or set a "
                                         "recipe source's split to one of them)")
            split = next(iter(loaded))
        if split not in loaded:
            raise SynthgenError(f"{path}: no split {split!r}", hint=f"use one of {sorted(loaded)}")
        loaded = loaded[split]
    return loaded.to_list()


def write_parquet(rows: list[dict[str, Any]], path: Path, schema: Any = None) -> None:
    """Write rows atomically (temp file + rename), so a crash never leaves a half file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows, schema=schema) if rows or schema is None else schema.empty_table()
    table, _ = parquet_safe(table)
    tmp = path.with_name(path.name + ".tmp")
    try:
        pq.write_table(table, tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)


def parquet_safe(table: Any) -> tuple[Any, list[str]]:
    """``(table, names)``: ``table`` with every column Parquet cannot store as JSON text, and those columns'
    names. Parquet has no struct without fields, so a column whose values are all ``{}`` (``"metadata":
    {}``), at any depth, is written as the text ``"{}"`` (null stays null) instead of failing the write."""
    import pyarrow as pa

    names = [field.name for field in table.schema if _has_empty_struct(field.type)]
    for name in names:
        values = [None if v is None else json.dumps(v, ensure_ascii=False, default=str)
                  for v in table.column(name).to_pylist()]
        table = table.set_column(table.schema.get_field_index(name), pa.field(name, pa.string()),
                                 pa.array(values, pa.string()))
    return table, names


def _has_empty_struct(arrow_type: Any) -> bool:
    import pyarrow as pa

    if pa.types.is_struct(arrow_type):
        return arrow_type.num_fields == 0 or any(_has_empty_struct(f.type) for f in arrow_type)
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or pa.types.is_fixed_size_list(arrow_type):
        return _has_empty_struct(arrow_type.value_type)
    if pa.types.is_map(arrow_type):
        return _has_empty_struct(arrow_type.key_type) or _has_empty_struct(arrow_type.item_type)
    return False


def column_type_problem(values: list[Any]) -> str | None:
    """Why Arrow cannot store ``values`` as one column (``None`` when it can): the dataset and parquet files
    need one type per column. Nulls are fine, and so is what Arrow widens itself (int with float)."""
    import pyarrow as pa

    try:
        pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        kinds = list(dict.fromkeys(type(value).__name__ for value in values if value is not None))
        if len(kinds) > 1:
            return f"mixed value types ({', '.join(kinds)})"
        return f"values of one type ({kinds[0]}) but different shapes ({str(exc).splitlines()[0]})"
    return None
