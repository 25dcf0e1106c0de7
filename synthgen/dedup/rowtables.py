"""Arrow tables of a chunk's kept and rejected rows, in the input's own column types where it has them.

A parquet chunk is an Arrow record batch: its kept and rejected rows are taken from it as they are, so
every type (``timestamp[ns]``, ``int8``, ``float32``, dictionaries, decimals, ``uint64``) and value reaches
``kept.parquet`` unchanged. Rows of the other formats (jsonl, json, csv, a saved dataset) are Python
dicts: their columns are inferred as before, a column mixing value types becomes JSON text, and integers
beyond int64 become ``uint64`` (all ≥ 0) or JSON text instead of failing the write. Rejected rows get the
evidence columns (``dedup_reason`` … ``dedup_evidence``) appended, or in place of an input column of the
same name. The parts of one output file are merged under one schema (:func:`unified_schema`, :func:`conform`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .scopes import Match


def _evidence_fields() -> list[Any]:
    import pyarrow as pa

    return [pa.field("dedup_reason", pa.string()), pa.field("dedup_scope", pa.string()),
            pa.field("dedup_matched_id", pa.string()), pa.field("dedup_score", pa.float64()),
            pa.field("dedup_evidence", pa.string())]


def split_rows(payload: Any, rows: list[dict[str, Any]] | None, verdicts: dict[int, Match]) -> tuple[Any, Any]:
    """``(kept, rejected)`` tables of a chunk: ``payload`` is its Arrow record batch (parquet) or None, then
    ``rows`` are its decoded rows; ``verdicts``: row in the chunk → why it was dropped."""
    dropped = sorted(verdicts)
    matches = [verdicts[i] for i in dropped]
    if payload is not None:
        import pyarrow as pa

        table = pa.Table.from_batches([payload])
        kept = [i for i in range(table.num_rows) if i not in verdicts]
        return table.take(pa.array(kept, pa.int64())), with_evidence(table.take(pa.array(dropped, pa.int64())), matches)
    kept_rows = [row for i, row in enumerate(rows) if i not in verdicts]
    return rows_table(kept_rows), with_evidence(rows_table([rows[i] for i in dropped]), matches)


def with_evidence(table: Any, matches: list[Match]) -> Any:
    """``table`` (one row per match) with the evidence columns of ``matches``; None for no rows."""
    import pyarrow as pa

    if table is None or not matches:
        return None
    values = {"dedup_reason": [m.reason for m in matches], "dedup_scope": [m.scope for m in matches],
              "dedup_matched_id": [m.matched_id for m in matches], "dedup_score": [m.score for m in matches],
              "dedup_evidence": [json.dumps(m.evidence(), sort_keys=True) for m in matches]}
    for field in _evidence_fields():
        table = _put(table, field, pa.array(values[field.name], field.type))
    return table


def _put(table: Any, field: Any, column: Any) -> Any:
    index = table.schema.get_field_index(field.name)
    return table.set_column(index, field, column) if index >= 0 else table.append_column(field, column)


def evidence_schema(schema: Any) -> Any:
    """``schema`` with the evidence columns (rejected.parquet's schema for rows of ``schema``)."""
    for field in _evidence_fields():
        index = schema.get_field_index(field.name)
        schema = schema.set(index, field) if index >= 0 else schema.append(field)
    return schema


def without_evidence(schema: Any) -> Any:
    """``schema`` less the evidence columns (kept.parquet's schema, read off rejected.parquet's)."""
    import pyarrow as pa

    names = {field.name for field in _evidence_fields()}
    return pa.schema([field for field in schema if field.name not in names], metadata=schema.metadata)


TEXT_COLUMNS_KEY = b"synthgen.dedup.text_columns"
"""Schema metadata of a part (never of an output file): the columns :func:`rows_table` wrote as JSON text
because their values mix types, with the kinds of value each held (JSON), so the driver that merges the
parts can warn about them (:class:`.chunks.PartsWriter`)."""


def rows_table(rows: list[dict[str, Any]]) -> Any:
    """Dict rows as an Arrow table (None for no rows): one inferred type per column, a column mixing value
    types as JSON text (:func:`.table.arrow_safe`, noted under :data:`TEXT_COLUMNS_KEY`), integers beyond
    int64 as uint64 or JSON text, columns Parquet cannot store (all ``{}``) as JSON text
    (:func:`~synthgen.tabular.parquet_safe`)."""
    import pyarrow as pa

    from ..tabular import parquet_safe
    from .table import arrow_safe, mixed_columns

    if not rows:
        return None
    mixed = mixed_columns(rows)
    rows = arrow_safe(rows, mixed)
    names = list(rows[0])
    table = pa.Table.from_arrays([_column([row[name] for row in rows]) for name in names], names=names)
    if mixed:
        table = table.replace_schema_metadata({TEXT_COLUMNS_KEY: json.dumps(mixed).encode()})
    return parquet_safe(table)[0]


def value_kinds(table: Any) -> dict[str, list[str]]:
    """Column → the kinds of value it holds (``str``, ``number``, ``list``, ``dict``, ``bool``, or the
    Arrow type), as :func:`.table.mixed_columns` names them: read off a part's types, and for a column
    written as text because it mixed types, off its :data:`TEXT_COLUMNS_KEY` note. An all-null column
    holds none."""
    noted = json.loads((table.schema.metadata or {}).get(TEXT_COLUMNS_KEY, b"{}"))
    return {field.name: noted.get(field.name) or _arrow_kind(field.type) for field in table.schema
            if field.name in noted or _arrow_kind(field.type)}


def _arrow_kind(arrow_type: Any) -> list[str]:
    """The kind of Python value an Arrow column of ``arrow_type`` holds, as a one-item list ([] for null)."""
    import pyarrow as pa

    if pa.types.is_null(arrow_type):
        return []
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return ["str"]
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or pa.types.is_fixed_size_list(arrow_type):
        return ["list"]
    if pa.types.is_struct(arrow_type) or pa.types.is_map(arrow_type):
        return ["dict"]
    if pa.types.is_boolean(arrow_type):
        return ["bool"]
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return ["number"]
    return [str(arrow_type)]


def without_note(table: Any) -> Any:
    """``table`` (an Arrow table or schema) less the :data:`TEXT_COLUMNS_KEY` note; any other schema
    metadata, such as a parquet input's, stays."""
    import pyarrow as pa

    metadata = table.metadata if isinstance(table, pa.Schema) else table.schema.metadata
    if not metadata or TEXT_COLUMNS_KEY not in metadata:
        return table
    rest = {key: value for key, value in metadata.items() if key != TEXT_COLUMNS_KEY} or None
    return table.with_metadata(rest) if isinstance(table, pa.Schema) else table.replace_schema_metadata(rest)


def _column(values: list[Any]) -> Any:
    """``pa.array(values)``; integers beyond int64: uint64 when all are in 0 … 2^64 − 1, else JSON text."""
    import pyarrow as pa

    try:
        return pa.array(values)
    except OverflowError:
        if all(v is None or (type(v) is int and 0 <= v < 2**64) for v in values):
            return pa.array(values, pa.uint64())
        return pa.array([None if v is None else json.dumps(v, default=str) for v in values], pa.string())


def input_schema(path: Path, fmt: str) -> Any:
    """The columns an input declares before any row: a parquet file's schema, a CSV header (text columns);
    None for other formats (their columns come from their rows)."""
    import pyarrow as pa

    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.read_schema(path)
    if fmt == "csv":
        import csv

        from ..tabular import open_text

        with open_text(path) as handle:
            header = next(csv.reader(handle), [])
        return pa.schema([pa.field(name, pa.string()) for name in dict.fromkeys(header)])
    return None


def unified_schema(schemas: list) -> Any:
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


def casts(column: Any, arrow_type: Any) -> bool:
    """Whether :func:`conform` can write ``column`` as ``arrow_type`` (text takes any value, as JSON)."""
    import pyarrow as pa

    if column.type == arrow_type or pa.types.is_string(arrow_type):
        return True
    try:
        column.cast(arrow_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return False
    return True


def conform(table: Any, schema: Any, strict: bool = False) -> Any:
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
