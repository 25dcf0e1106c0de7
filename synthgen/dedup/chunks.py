"""Read a table in chunks of rows, and write the kept / rejected rows as parquet parts merged at the end.

The driver reads cheap payloads (raw jsonl lines, parquet record batches) and workers decode them, so
JSON parsing runs on every core. jsonl and parquet stream; csv streams row by row in the driver; a json
list and a saved ``datasets`` folder are read whole (their formats do not stream) and then chunked.
jsonl lines end as the row reader (:func:`synthgen.tabular.read_rows`) ends them: at ``\n``, ``\r\n`` or
a lone ``\r``; a line is blank when ``str.strip`` empties it; a byte-order mark starts no row.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path
from typing import Any, Iterator

from ..errors import SynthgenError
from ..tabular import CURRENT_FOLDER, csv_rows, detect_format, json_line_row, not_utf8, open_text, read_rows
from .rowtables import casts, conform, unified_schema, value_kinds, without_note


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
    fmt = table_format(path)
    readers = {"jsonl": _jsonl_payloads, "parquet": _parquet_payloads, "csv": _csv_payloads}
    payloads = readers.get(fmt, _whole_payloads)(path, size)
    start = 0
    for index, (payload, count) in enumerate(payloads):
        yield Chunk(index, start, fmt, payload)
        start += count


_COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4", ".7z")
_READS = "dedup reads .jsonl, .json, .csv, .parquet or a folder written by Dataset.save_to_disk"


def table_format(path: Path) -> str:
    """The format of a table dedup reads, by its extension; an error with dedup's own hint (it has no format
    option to set) and one for a compressed file."""
    try:
        return detect_format(path)
    except SynthgenError as exc:
        if path.suffix.lower() in _COMPRESSED:
            raise SynthgenError(f"{path}: a compressed file ({path.suffix}) cannot be read",
                                hint=f"decompress it first (e.g. gunzip -k {path.name}); {_READS}") from None
        raise SynthgenError(exc.message, hint=f"rename it if it is one of these: {_READS}") from None


_BLOCK_BYTES = 1 << 22
_BOM = b"\xef\xbb\xbf"
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
# a line can be blank only if its first byte is whitespace for ``str.strip`` (ASCII, or a UTF-8 lead byte)
_MAYBE_BLANK = bytes([9, 10, 11, 12, 13, 28, 29, 30, 31, 32, *range(0x80, 0x100)])


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
    (numpy, in 4 MiB blocks); workers read, split and parse (:func:`decode`). A leading byte-order mark
    is left out of the first chunk."""
    with path.open("rb") as handle:
        position = len(_BOM) if handle.read(len(_BOM)) == _BOM else 0  # file offset of ``data``
        handle.seek(position)
        rows, offset, line, first_line, tail = 0, position, 1, 1, b""  # the current chunk: rows, start, first line
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
    """``data`` cut after its last line break: (whole lines, the rest); at the end of the file, all of it.
    A ``\r`` at the very end stays in the rest (a ``\n`` may follow it in the next block)."""
    if at_end:
        return data, b""
    cut = max(data.rfind(b"\n"), data.rfind(b"\r", 0, len(data) - 1)) + 1
    return data[:cut], data[cut:]


def _line_ends(data: bytes):
    """The end offset of every line of ``data`` (after its ``\n``, ``\r\n`` or lone ``\r``) and the numbers
    of the lines that are not blank (:func:`_blank`, as the row reader treats them)."""
    import numpy as np

    if not data:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    view = np.frombuffer(data, np.uint8)
    lf, cr = view == 10, view == 13
    cr[:-1] &= ~lf[1:]  # the \r of \r\n ends no line: its \n does
    ends = np.flatnonzero(lf | cr) + 1
    if not len(ends) or ends[-1] != len(data):
        ends = np.append(ends, len(data))
    starts = np.concatenate(([0], ends[:-1]))
    first_bytes = view[np.minimum(starts, len(data) - 1)]
    maybe_blank = np.flatnonzero(np.isin(first_bytes, np.frombuffer(_MAYBE_BLANK, np.uint8)))
    blank = [n for n in maybe_blank.tolist() if _blank(data[starts[n]:ends[n]])]
    keep = np.ones(len(ends), bool)
    keep[blank] = False
    return ends, np.flatnonzero(keep)


def _blank(line: bytes) -> bool:
    """Whether ``str.strip`` empties the line (spaces, a non-breaking space, …), as the row reader tests."""
    if line and line[0] not in _MAYBE_BLANK:
        return False
    try:
        return not line.decode("utf-8").strip()
    except UnicodeDecodeError:
        return False


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
    rows = read_rows(path, relative_to=CURRENT_FOLDER)  # dedup's input is named on a command line (or in Python)
    for lo in range(0, len(rows), size):
        yield rows[lo:lo + size], len(rows[lo:lo + size])


def decode(chunk: Chunk, source: str, fields: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """The chunk's rows as dicts (raises a SynthgenError naming ``source`` and the line for bad JSON);
    ``fields``: the columns needed, when a parquet chunk can leave the others undecoded."""
    if chunk.fmt == "parquet":
        names = chunk.payload.schema.names
        batch = chunk.payload if fields is None else chunk.payload.select(
            [i for i, name in enumerate(names) if name in fields])
        return batch.to_pylist()
    if chunk.fmt != "jsonl":
        return chunk.payload
    lines: LineRange = chunk.payload
    return [_json_row(line, source, lineno)
            for lineno, line in enumerate(_LINE_BREAK.split(lines.read(source)), lines.first_line) if not _blank(line)]


def _json_row(line: bytes, source: str, lineno: int) -> dict[str, Any]:
    """One jsonl row, read as the row reader reads it (UTF-8 text; a byte-order mark only starts the file)."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise SynthgenError(f"{source}:{lineno}: not UTF-8 text", hint="save the file as UTF-8") from None
    return json_line_row(text, source, lineno)


def chunk_columns(chunk: Chunk, rows: list[dict[str, Any]]) -> tuple[str, ...]:
    """The chunk's column names: a parquet batch's schema, else the first row's keys."""
    if chunk.fmt == "parquet":
        return tuple(chunk.payload.schema.names)
    return tuple(rows[0]) if rows else ()


def write_part(table: Any, path: Path) -> Path | None:
    """One Arrow IPC part (cheap to write and read back) of ``table`` (see :mod:`.rowtables`); None when
    there are no rows."""
    import pyarrow as pa

    if table is None or not table.num_rows:
        return None
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return path


def read_part(path: Path) -> Any:
    """A part's table, with its note on the columns written as text (:data:`.rowtables.TEXT_COLUMNS_KEY`),
    which the output files leave out (:func:`.rowtables.without_note`)."""
    import pyarrow as pa

    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_file(source).read_all()


class PartsWriter:
    """Appends parts to one parquet file as they arrive (so encoding overlaps the workers' work).

    The first part's schema is the file's; a later part is cast to it. When a part cannot be (a column
    that was all null, then typed; an int column that later holds text), the file is rebuilt at the
    end from every part with the unified schema, so no value is lost. After :meth:`close`,
    :attr:`text_columns` names the columns the file stores as text although they held other values (a
    part mixed types, or parts of different types were unified as text), for the run's warnings."""

    def __init__(self, out: Path):
        self.out, self.tmp = out, out.with_name(out.name + ".tmp")
        self.parts: list[Path] = []
        self.writer, self.schema, self.rebuild = None, None, False
        self.kinds: dict[str, set[str]] = {}  # column → the kinds of value the parts held
        self.text_columns: dict[str, list[str]] = {}

    def add(self, part: Path | None) -> None:
        import pyarrow.parquet as pq

        if part is None:
            return
        self.parts.append(part)
        table = read_part(part)
        for name, kinds in value_kinds(table).items():
            self.kinds.setdefault(name, set()).update(kinds)
        if self.rebuild:
            return
        table = without_note(table)
        if self.writer is None:
            self.schema = table.schema
            self.writer = pq.ParquetWriter(self.tmp, self.schema)
        try:
            self.writer.write_table(table if table.schema == self.schema else conform(table, self.schema, strict=True))
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

    def close(self, empty_schema: Any = None) -> None:
        """Finish the file; with no parts, an empty one with ``empty_schema``."""
        if self.writer is not None:
            self.writer.close()
        if self.rebuild or self.writer is None:
            schema = merge_parts(self.parts, self.out, empty_schema)
        else:
            schema = self.schema
            self.tmp.replace(self.out)
        self.text_columns = _texted(schema, self.kinds)


def _texted(schema: Any, kinds: dict[str, set[str]]) -> dict[str, list[str]]:
    """The columns ``schema`` stores as text whose values (``kinds``, by column) were not all text."""
    import pyarrow as pa

    return {field.name: sorted(kinds[field.name]) for field in schema
            if pa.types.is_string(field.type) and kinds.get(field.name, set()) - {"str"}}


def merge_parts(parts: list[Path], out: Path, empty_schema: Any = None) -> Any:
    """Concatenate parts into one parquet file (atomically), unifying their schemas part by part; with no
    parts, an empty file with ``empty_schema`` (an Arrow schema; none: no columns). Returns the schema."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if parts:
        schema = without_note(_fitted(parts, unified_schema([read_part(p).schema for p in parts])))
    else:
        schema = empty_schema or pa.schema([])
    tmp = out.with_name(out.name + ".tmp")
    try:
        with pq.ParquetWriter(tmp, schema) as writer:
            for part in parts:
                writer.write_table(conform(read_part(part), schema))
            if not parts:
                writer.write_table(schema.empty_table())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out)
    return schema


def _fitted(parts: list[Path], schema: Any) -> Any:
    """``schema`` with each column that some part cannot be cast to (a uint64 part beside negative int64
    ones: the permissive union is int64) as text, which :func:`.rowtables.conform` writes as JSON."""
    import pyarrow as pa

    for part in parts:
        table = read_part(part)
        for field in [f for f in schema if f.name in table.column_names]:
            if not casts(table.column(field.name), field.type):
                schema = schema.set(schema.get_field_index(field.name), pa.field(field.name, pa.string()))
    return schema
