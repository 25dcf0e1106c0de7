"""Read a table in chunks of rows, and write the kept / rejected rows as parquet parts merged at the end.

The driver reads cheap payloads (raw jsonl lines, parquet record batches) and workers decode them, so
JSON parsing runs on every core. jsonl and parquet stream; csv streams row by row in the driver; a json
list and a saved ``datasets`` folder are read whole (their formats do not stream) and then chunked.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path
from typing import Any, Iterator

from ..errors import SynthgenError
from ..tabular import csv_rows, detect_format, not_utf8, open_text, read_rows


@dataclass(frozen=True)
class Chunk:
    """Rows ``start … start + size − 1`` of the input, as the format's payload (decoded by :func:`decode`)."""

    index: int
    start: int
    fmt: str
    payload: Any  # jsonl: a LineRange


def iter_chunks(path: Path, size: int) -> Iterator[Chunk]:
    """Consecutive chunks of ``size`` rows (the last may be shorter); a clear error for unreadable input."""
    path = Path(path)
    if not path.exists():
        raise SynthgenError(f"{path}: file not found", hint="check the path")
    fmt = detect_format(path)
    readers = {"jsonl": _jsonl_payloads, "parquet": _parquet_payloads, "csv": _csv_payloads}
    payloads = readers.get(fmt, _whole_payloads)(path, size)
    start = 0
    for index, (payload, count) in enumerate(payloads):
        yield Chunk(index, start, fmt, payload)
        start += count


_BLOCK_BYTES = 1 << 22
_WHITESPACE = b" \t\n\r\x0b\x0c"  # what ``bytes.strip`` removes


@dataclass(frozen=True)
class LineRange:
    """A jsonl chunk: ``length`` bytes at ``offset`` of the file, whose first line is number ``first_line``.

    Local workers read the bytes themselves (``os.pread``), so the driver neither copies nor sends them;
    ``data`` holds them when the chunk must travel to another machine (:meth:`with_data`)."""

    offset: int
    length: int
    first_line: int
    data: bytes | None = None

    def read(self, path: str | Path) -> bytes:
        if self.data is not None:
            return self.data
        with open(path, "rb") as handle:
            return os.pread(handle.fileno(), self.length, self.offset)


def with_data(chunk: Chunk, path: str | Path) -> Chunk:
    """``chunk`` carrying its own bytes (for workers that cannot read ``path``)."""
    if not isinstance(chunk.payload, LineRange):
        return chunk
    return replace(chunk, payload=replace(chunk.payload, data=chunk.payload.read(path)))


def _jsonl_payloads(path: Path, size: int):
    """Chunks of ``size`` non-blank lines as :class:`LineRange` payloads: the driver only finds line ends
    (numpy, in 4 MiB blocks); workers read, split and parse (:func:`decode`)."""
    with path.open("rb") as handle:
        rows, offset, line, first_line, tail = 0, 0, 1, 1, b""  # the current chunk: rows, start, first line
        position = 0  # file offset of ``data``
        while True:
            block = handle.read(_BLOCK_BYTES)
            data, tail = _complete_lines(tail + block, at_end=not block)
            ends, nonblank = _line_ends(data)
            while rows + len(nonblank) >= size:
                last = int(nonblank[size - rows - 1])
                end = position + int(ends[last])
                yield LineRange(offset, end - offset, first_line), size
                offset, line, first_line = end, line + last + 1, line + last + 1
                ends, nonblank = ends[last + 1:], nonblank[size - rows:] - (last + 1)
                rows = 0
            rows += len(nonblank)
            line += len(ends)
            position += len(data)
            if not block:
                break
        if rows:
            yield LineRange(offset, position - offset, first_line), rows


def _complete_lines(data: bytes, at_end: bool) -> tuple[bytes, bytes]:
    """``data`` cut after its last newline: (whole lines, the rest); at the end of the file, all of it."""
    if at_end:
        return data, b""
    cut = data.rfind(b"\n") + 1
    return data[:cut], data[cut:]


def _line_ends(data: bytes):
    """The end offset of every line of ``data`` (after its newline) and the numbers of the lines that are
    not blank (a line is blank when ``bytes.strip`` empties it, as the row reader treats it)."""
    import numpy as np

    if not data:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    view = np.frombuffer(data, np.uint8)
    ends = np.flatnonzero(view == 10) + 1
    if not len(ends) or ends[-1] != len(data):
        ends = np.append(ends, len(data))
    starts = np.concatenate(([0], ends[:-1]))
    first_bytes = view[np.minimum(starts, len(data) - 1)]
    maybe_blank = np.flatnonzero(np.isin(first_bytes, np.frombuffer(_WHITESPACE, np.uint8)))
    blank = [n for n in maybe_blank.tolist() if not data[starts[n]:ends[n]].strip()]
    keep = np.ones(len(ends), bool)
    keep[blank] = False
    return ends, np.flatnonzero(keep)


def _parquet_payloads(path: Path, size: int):
    import pyarrow.parquet as pq

    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=size)
        for batch in batches:
            yield batch, batch.num_rows
    except (OSError, ValueError) as exc:  # pyarrow.ArrowInvalid is a ValueError: not parquet, 0 bytes
        raise SynthgenError(f"{path}: cannot read as parquet: {exc}", hint="check the file's format") from None


def _csv_payloads(path: Path, size: int):
    with open_text(path) as handle:
        reader = csv_rows(handle, path)
        try:
            while rows := list(islice(reader, size)):
                yield rows, len(rows)
        except UnicodeDecodeError as exc:
            raise not_utf8(path, exc) from None


def _whole_payloads(path: Path, size: int):
    rows = read_rows(path)
    for lo in range(0, len(rows), size):
        yield rows[lo:lo + size], len(rows[lo:lo + size])


def decode(chunk: Chunk, source: str) -> list[dict[str, Any]]:
    """The chunk's rows as dicts (raises a SynthgenError naming ``source`` and the line for bad JSON)."""
    if chunk.fmt == "parquet":
        return chunk.payload.to_pylist()
    if chunk.fmt != "jsonl":
        return chunk.payload
    lines: LineRange = chunk.payload
    rows = []
    for lineno, line in enumerate(lines.read(source).split(b"\n"), lines.first_line):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SynthgenError(f"{source}:{lineno}: invalid JSON: {exc.msg}", hint="one JSON object per line") from None
        except UnicodeDecodeError:
            raise SynthgenError(f"{source}:{lineno}: not UTF-8 text", hint="save the file as UTF-8") from None
        if not isinstance(row, dict):
            raise SynthgenError(f"{source}:{lineno}: expected a JSON object, got {type(row).__name__}")
        rows.append(row)
    return rows


def write_part(rows: list[dict[str, Any]], path: Path) -> Path | None:
    """One Arrow IPC part (cheap to write and read back; None when there are no rows); mixed-type
    columns, and columns Parquet cannot store (all ``{}``: :func:`~synthgen.tabular.parquet_safe`), are
    stored as JSON text."""
    import pyarrow as pa

    from ..tabular import parquet_safe
    from .table import arrow_safe

    if not rows:
        return None
    table, _ = parquet_safe(pa.Table.from_pylist(arrow_safe(rows)))
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return path


def read_part(path: Path) -> Any:
    import pyarrow as pa

    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_file(source).read_all()


class PartsWriter:
    """Appends parts to one parquet file as they arrive (so encoding overlaps the workers' work).

    The first part's schema is the file's; a later part is cast to it. When a part cannot be (a column
    that was all null, then typed; an int column that later holds text), the file is rebuilt at the
    end from every part with the unified schema, so no value is lost."""

    def __init__(self, out: Path, empty_columns: tuple[str, ...] = ()):
        self.out, self.tmp = out, out.with_name(out.name + ".tmp")
        self.empty_columns = empty_columns
        self.parts: list[Path] = []
        self.writer, self.schema, self.rebuild = None, None, False

    def add(self, part: Path | None) -> None:
        import pyarrow.parquet as pq

        if part is None:
            return
        self.parts.append(part)
        if self.rebuild:
            return
        table = read_part(part)
        if self.writer is None:
            self.schema = table.schema
            self.writer = pq.ParquetWriter(self.tmp, self.schema)
        try:
            self.writer.write_table(table if table.schema == self.schema else _conform(table, self.schema, strict=True))
        except (ValueError, TypeError, NotImplementedError):
            self.rebuild = True

    def discard(self) -> None:
        """Close and remove the unfinished file (a failed run leaves the old output, never a half one)."""
        try:
            if self.writer is not None:
                self.writer.close()
        except Exception:  # noqa: BLE001 - already failing; the file goes anyway
            pass
        self.tmp.unlink(missing_ok=True)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.rebuild or self.writer is None:
            merge_parts(self.parts, self.out, self.empty_columns)
        else:
            self.tmp.replace(self.out)


def merge_parts(parts: list[Path], out: Path, empty_columns: tuple[str, ...] = ()) -> None:
    """Concatenate parts into one parquet file (atomically), unifying their schemas part by part; with no
    parts, an empty file with ``empty_columns`` (as text columns)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = (_unified_schema([read_part(p).schema for p in parts]) if parts
              else pa.schema([pa.field(name, pa.string()) for name in empty_columns]))
    tmp = out.with_name(out.name + ".tmp")
    try:
        with pq.ParquetWriter(tmp, schema) as writer:
            for part in parts:
                writer.write_table(_conform(read_part(part), schema))
            if not parts:
                writer.write_table(schema.empty_table())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out)


def _unified_schema(schemas: list) -> Any:
    """Permissive union of the parts' schemas; a column whose types cannot be unified becomes text."""
    import pyarrow as pa

    if not schemas:
        return pa.schema([])
    try:
        return pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, NotImplementedError):
        names = list(dict.fromkeys(name for schema in schemas for name in schema.names))
        fields = []
        for name in names:
            types = {schema.field(name).type for schema in schemas if name in schema.names} - {pa.null()}
            fields.append(pa.field(name, types.pop() if len(types) == 1 else pa.string()))
        return pa.schema(fields)


def _conform(table: Any, schema: Any, strict: bool = False) -> Any:
    """``table`` with ``schema``'s columns in order: missing ones null, other types cast or JSON-encoded.

    ``strict``: raise ValueError instead of widening (a column ``schema`` lacks, a value turned to text)."""
    import pyarrow as pa

    if strict and set(table.column_names) - set(schema.names):
        raise ValueError("the part has columns the file lacks")
    columns = []
    for field in schema:
        if field.name not in table.column_names:
            columns.append(pa.nulls(table.num_rows, field.type))
            continue
        column = table.column(field.name)
        if column.type == field.type:
            columns.append(column)
        elif strict and column.type != pa.null():
            raise ValueError(f"column {field.name}: {column.type} is not {field.type}")
        elif field.type == pa.string() and not pa.types.is_string(column.type):
            values = [None if v is None else v if isinstance(v, str) else json.dumps(v, default=str)
                      for v in column.to_pylist()]
            columns.append(pa.array(values, pa.string()))
        else:
            columns.append(column.cast(field.type))
    return pa.Table.from_arrays(columns, schema=schema)
