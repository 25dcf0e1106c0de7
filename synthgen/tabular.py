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
RECIPE_FOLDER = "the recipe's folder"
CURRENT_FOLDER = "the current folder"
"""Where relative paths start, for the hint of a missing file: a recipe's paths resolve against its folder,
a command line's (and a Python caller's) against the current one. The caller of :func:`read_rows` says which."""


def detect_format(path: Path, format_option: str | None = None) -> str:
    """The format of ``path`` from its extension; ``format_option`` names the caller's setting that chooses
    one instead (``seeds.format``), when it has one."""
    if path.is_dir():
        return "dataset"
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("jsonl", "ndjson"):
        return "jsonl"
    if suffix in ("json", "csv", "parquet"):
        return suffix
    hint = "use .jsonl, .csv, .parquet or a folder written by Dataset.save_to_disk"
    raise SynthgenError(f"{path}: cannot tell the format from the extension {path.suffix!r}",
                        hint=f"{hint}, or set {format_option}" if format_option else hint)


def read_rows(path: Path, fmt: str = "auto", split: str | None = None, limit: int | None = None, *,
              relative_to: str = RECIPE_FOLDER, format_option: str | None = None) -> list[dict[str, Any]]:
    """All rows of ``path`` as dicts; a clear SynthgenError for a missing or unreadable file. The hints
    speak the caller's language: ``relative_to`` says where its relative paths start (RECIPE_FOLDER or
    CURRENT_FOLDER; a recipe's hints may name its keys, a command's may not), ``format_option`` names its
    setting that picks a format (None when it has none)."""
    path = Path(path)
    if not path.exists():
        raise SynthgenError(f"{path}: file not found", hint=f"check the path; relative paths start at {relative_to}")
    fmt = detect_format(path, format_option) if fmt == "auto" else fmt
    reader = {"jsonl": _read_jsonl, "json": _read_json, "csv": _read_csv, "parquet": _read_parquet}.get(fmt)
    try:
        rows = _read_dataset(path, split, relative_to) if fmt == "dataset" else reader(path)
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
    with open_text(path) as handle:
        return [json_line_row(line, path, lineno) for lineno, line in enumerate(handle, 1) if line.strip()]


def json_line_row(line: str, source: Any, lineno: int) -> dict[str, Any]:
    """One JSON Lines row (a JSON object), or one line naming the file, the line and the fix."""
    try:
        row = json.loads(line.rstrip("\r\n"))  # without its line break, an error's column is on this line
    except json.JSONDecodeError as exc:
        raise SynthgenError(f"{source}:{lineno}: invalid JSON: {json_error_reason(exc)}",
                            hint="one JSON object per line") from None
    except RecursionError:
        raise SynthgenError(f"{source}:{lineno}: JSON nested too deeply to read",
                            hint="flatten the row, or store its deepest values as JSON text") from None
    if not isinstance(row, dict):
        raise SynthgenError(f"{source}:{lineno}: expected a JSON object, got {type(row).__name__}")
    return row


def json_error_reason(exc: json.JSONDecodeError) -> str:
    """The JSON error with where it is on the line: ``Unterminated string starting at column 12``
    (``exc.msg`` alone ends in a dangling "starting at"; ``str(exc)`` adds "line 1", which a JSON Lines
    error already names as the file's line)."""
    where = f"column {exc.colno}" if exc.lineno == 1 else f"line {exc.lineno} column {exc.colno}"
    return f"{exc.msg} {where}" if exc.msg.endswith(" at") else f"{exc.msg} at {where}"


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


CSV_FIELD_LIMIT = 2**31 - 1
"""The longest CSV field read (the csv module's default, 131072 characters, refuses long documents)."""


class FormatMismatch(SynthgenError):
    """The file's content is in another format than the one it is read as (JSON Lines read as CSV)."""


class SplitError(SynthgenError):
    """A saved dataset's splits do not fit the split asked for (or none was asked for among several)."""


def csv_rows(handle: Any, path: Path) -> Iterator[dict[str, Any]]:
    """The rows of a CSV file; a row with more fields than the header is an error naming its line (the csv
    module would keep the extra fields under a column named None), and so is a header that repeats a column
    (the csv module would keep only the last one's values) or that is a JSON object (a jsonl file).

    Quotes are read strictly (``strict=True``): a quoted field the file never closes, or text after a
    closing quote, is an error naming the line (the lenient reader would keep ``"b`` at the end of a file
    as the value ``b`` and a line break, and would swallow every later line into an unclosed field). Valid CSV (quoted
    commas and newlines, doubled quotes, CRLF, a byte-order mark) reads as before."""
    if csv.field_size_limit() < CSV_FIELD_LIMIT:
        csv.field_size_limit(CSV_FIELD_LIMIT)
    reader = csv.DictReader(handle, strict=True)
    names = _strictly(lambda: reader.fieldnames, reader, path) or []
    _check_header(names, path)
    while (row := _strictly(lambda: next(reader, None), reader, path)) is not None:
        if None in row:
            raise SynthgenError(f"{path}:{reader.line_num}: {len(names) + len(row[None])} fields "
                                f"for {len(names)} header columns",
                                hint="quote fields that contain commas, or fix the row")
        yield row


def _strictly(read: Any, reader: csv.DictReader, path: Path) -> Any:
    """``read()`` (the header, or the next row of ``reader``), its quoting errors as one line naming the
    line: the row's first line for a quote never closed, the line with the stray text otherwise."""
    first_line = reader.reader.line_num + 1
    try:
        return read()
    except csv.Error as exc:
        reason = str(exc)
        if reason == "unexpected end of data":
            unclosed = "a quoted field that starts on this line is never closed (the file ends inside the quotes)"
            hint = "add the closing quote; inside a quoted field, write each quote twice: \"\""
            raise SynthgenError(f"{path}:{first_line}: {unclosed}", hint=hint) from None
        if "expected after" in reason:
            raise SynthgenError(f"{path}:{reader.reader.line_num}: text after a field's closing quote ({reason})",
                                hint="quote the whole field, and write each quote inside it twice: \"\"") from None
        raise SynthgenError(f"{path}:{reader.reader.line_num}: invalid CSV: {reason}",
                            hint="check the file's quoting") from None


def _check_header(names: list[str], path: Path) -> None:
    if names and names[0].lstrip().startswith(("{", "[")):
        raise FormatMismatch(f"{path}: the CSV header looks like JSON ({','.join(names)[:40]}...): the file is not CSV",
                             hint="read it as jsonl (one JSON object per line)")
    repeated = next((name for i, name in enumerate(names) if name in names[:i]), None)
    if repeated is not None:
        raise SynthgenError(f"{path}: the CSV header repeats the column {repeated!r}, so only one of them "
                            "could be read", hint="give every column its own name")


def decode_binary(rows: list[dict[str, Any]], path: Path, columns: Any = None) -> list[dict[str, Any]]:
    """``rows`` with each bytes value (in ``columns``, default all) decoded as UTF-8 text, in place: Spark
    and Hive write strings as unannotated binary. A value that is not UTF-8 is an error naming the column."""
    for index, row in enumerate(rows):
        for name in row if columns is None else [c for c in columns if c in row]:
            if isinstance(row[name], bytes | bytearray):
                row[name] = _utf8(bytes(row[name]), f"{path}: row {index + 1}: column {name!r}")
    return rows


def _utf8(value: bytes, where: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SynthgenError(f"{where} holds binary data that is not UTF-8 text (byte {exc.start}: {exc.reason})",
                            hint="store the column as text (UTF-8 strings), or leave it out") from None


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def _read_dataset(path: Path, split: str | None, relative_to: str = RECIPE_FOLDER) -> list[dict[str, Any]]:
    import datasets

    if not (path / "dataset_dict.json").exists() and (path / "data.parquet").is_file():
        raise SynthgenError(f"{path}: a folder with data.parquet but not a saved dataset (a synthgen run folder?)",
                            hint=f"use {path / 'data.parquet'}, which holds the run's records")
    loaded = datasets.load_from_disk(str(path))
    if isinstance(loaded, datasets.DatasetDict):
        return loaded[_split_of(loaded, path, split, relative_to)].to_list()
    if split is not None:
        raise SplitError(f"{path}: holds one dataset without splits, so split {split!r} cannot be read",
                         hint="remove the split, or point the path at a DatasetDict folder that has that split")
    return loaded.to_list()


def _split_of(loaded: Any, path: Path, split: str | None, relative_to: str = RECIPE_FOLDER) -> str:
    """The split of the DatasetDict ``loaded`` to read: ``split``, or its only one. With several and none
    chosen, the hint points at a split's folder; a recipe's (``relative_to`` RECIPE_FOLDER) also names
    its source's ``split`` key, which a command's options do not have."""
    if split is None:
        if len(loaded) != 1:
            hint = f"read one split's folder, e.g. {path / sorted(loaded)[0]}"
            raise SplitError(f"{path}: holds splits {sorted(loaded)}",
                             hint=f"{hint} (or set a recipe source's split to one of them)"
                                  if relative_to == RECIPE_FOLDER else hint)
        return next(iter(loaded))
    if split not in loaded:
        raise SplitError(f"{path}: no split {split!r}", hint=f"use one of {sorted(loaded)}")
    return split


def write_parquet(rows: list[dict[str, Any]], path: Path, schema: Any = None) -> None:
    """Write rows atomically (temp file + rename), so a crash never leaves a half file."""
    import pyarrow as pa

    write_parquet_table(pa.Table.from_pylist(rows, schema=schema) if rows or schema is None else schema.empty_table(),
                        path)


def write_parquet_table(table: Any, path: Path) -> None:
    """Write an Arrow table atomically, its columns Parquet cannot store as JSON text (``parquet_safe``)."""
    import pyarrow.parquet as pq

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


def a_value(value: Any) -> str:
    """``value`` named with its type for an error: "an int (42)", "a list (['a'])"."""
    kind = type(value).__name__
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} ({str(value)[:40]})"


TOO_BIG = "an integer outside the 64-bit range a dataset column stores"


def column_type_problem(values: list[Any]) -> str | None:
    """Why Arrow cannot store ``values`` as one column (``None`` when it can): the dataset and parquet files
    need one type per column. Nulls are fine, and so is what Arrow widens itself (int with float)."""
    import pyarrow as pa

    try:
        pa.array(values)
    except OverflowError:
        big = next((v for v in values if isinstance(v, int) and not -2**63 <= v < 2**63), None)
        return f"{TOO_BIG} ({big})" if big is not None else TOO_BIG
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        kinds = list(dict.fromkeys(type(value).__name__ for value in values if value is not None))
        if len(kinds) > 1:
            return f"mixed value types ({', '.join(kinds)})"
        return f"values of one type ({kinds[0]}) but different shapes ({str(exc).splitlines()[0]})"
    return None
