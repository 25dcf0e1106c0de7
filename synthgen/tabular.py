"""Read rows from the table formats users hand us: jsonl, json, csv, parquet, or a saved ``datasets`` folder.

Shared by seed sources, few-shot pools, replay backends and the standalone commands. Heavy libraries
(pyarrow, datasets) are imported only when the format needs them.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

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
    except Exception as exc:  # noqa: BLE001 - any parser failure becomes one clear line
        raise SynthgenError(f"{path}: cannot read as {fmt}: {exc}", hint="check the file's format") from exc
    return rows[:limit] if limit else rows


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as handle:
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
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise SynthgenError(f"{path}: expected a JSON list of objects", hint="or use jsonl, one object per line")
    return data


def _read_csv(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [dict(row) for row in csv.DictReader(handle)]


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def _read_dataset(path: Path, split: str | None) -> list[dict[str, Any]]:
    import datasets

    loaded = datasets.load_from_disk(str(path))
    if isinstance(loaded, datasets.DatasetDict):
        if split is None:
            if len(loaded) != 1:
                raise SynthgenError(
                    f"{path}: holds splits {sorted(loaded)}", hint="set split to one of them"
                )
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
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)
