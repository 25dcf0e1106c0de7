"""Turn a recipe's [seeds] table into a list of :class:`Seed` rows."""

from __future__ import annotations

from typing import Any

from ..errors import RecipeError, SynthgenError
from ..provenance import seed_column_value
from ..recipe.schema import RESERVED_COLUMNS, DatasetSeeds, FileSeeds, GridSeeds, InlineSeeds
from ..records import Seed, canonical_json
from ..tabular import TOO_BIG, FormatMismatch, SplitError, column_type_problem, decode_binary, read_rows
from .grid import grid_rows


def load_seeds(config: Any, context: Any) -> list[Seed]:
    """Read every seed row of the [seeds] table; a missing or empty source is a RecipeError naming
    ``seeds.path``. ``context`` resolves paths and names the recipe (a RecipeContext)."""
    if isinstance(config, InlineSeeds):
        rows = list(config.records)
    elif isinstance(config, GridSeeds):
        rows = grid_rows(config.axes, config.sample, context.seed)
    else:
        rows = _read_source(context, config)
    if not rows:
        raise _no_rows(config, context)
    _check_reserved(rows, context)
    _check_column_types(config, rows, context)
    return [Seed(index=i, fields=template_values(row)) for i, row in enumerate(rows)]


def _no_rows(config: Any, context: Any) -> RecipeError:
    if isinstance(config, InlineSeeds | GridSeeds):
        return RecipeError(f"{context.source}:seeds: the seed source has no rows", hint="add seed rows")
    path = context.resolve(config.path)
    header_only = path.suffix.lower() == ".csv" and path.is_file() and path.stat().st_size > 0
    return RecipeError(f"{context.where('seeds.path')}: {path} has no rows",
                       hint="add seed rows under the CSV's header line" if header_only else "add seed rows")


class JsonList(list):
    """A list seed value: a template renders it as JSON text (what its ``seed_<name>`` column holds), not
    as Python's repr; hashed, compared and stored as the list it is."""

    def __str__(self) -> str:
        return canonical_json(self)


class JsonDict(dict):
    """A struct (table) seed value, rendered in templates as JSON text like :class:`JsonList`."""

    def __str__(self) -> str:
        return canonical_json(self)


def template_values(row: dict[str, Any]) -> dict[str, Any]:
    """A seed row's fields, with list and struct values rendering as JSON text in prompts."""
    wrap = {list: JsonList, dict: JsonDict}
    return {name: wrap[type(value)](value) if type(value) in wrap else value for name, value in row.items()}


RESERVED_FIELDS = tuple(column[len("seed_"):] for column in RESERVED_COLUMNS if column.startswith("seed_"))
"""Seed fields whose ``seed_``-prefixed column the run writes itself (provenance, e.g. ``seed_index``): the
seed's value would be silently replaced in the dataset."""


def _check_reserved(rows: list[dict], context: Any) -> None:
    for field in RESERVED_FIELDS:
        column = f"seed_{field}"
        if any(field in row for row in rows):
            raise RecipeError(
                f"{context.source}:seeds: a seed field named {field!r} would be written as the column "
                f"{column!r}, which the run keeps for each seed's position (provenance), so its values would be lost",
                hint=f"rename the field in the seed source (e.g. 'item_{field}') and in the prompts that use it")


def seeds_key(config: Any) -> str:
    """The recipe key that holds the seed rows, for error locations."""
    if isinstance(config, InlineSeeds):
        return "seeds.records"
    return "seeds.axes" if isinstance(config, GridSeeds) else "seeds.path"


def _check_column_types(config: Any, rows: list[dict], context: Any) -> None:
    """Each seed field becomes a dataset column (``seed_<name>``, nested values as JSON text), which Arrow
    writes with one type: refuse here what it would refuse at the end of the run (e.g. "b" and 7)."""
    grid = isinstance(config, GridSeeds)
    names = dict.fromkeys(name for row in rows for name in row)
    columns = config.axes if grid else {name: [row.get(name) for row in rows] for name in names}
    for name, values in columns.items():
        problem = column_type_problem([seed_column_value(value) for value in values])
        if problem is None:
            continue
        where, first = (f"seeds.axes.{name}", "") if grid else (seeds_key(config), f"field {name!r} has ")
        hint = "give every value the same type, e.g. quote the numbers"
        if problem.startswith(TOO_BIG):
            hint = "store the values as text: quote them, or cast the column to string"
        raise RecipeError(f"{context.source}:{where}: {first}{problem}", hint=hint)


def _read_source(context: Any, config: FileSeeds | DatasetSeeds) -> list[dict]:
    """The source's rows, binary (Spark's unannotated string) values decoded as UTF-8 text."""
    path = context.resolve(config.path)
    try:
        if isinstance(config, FileSeeds):
            rows = read_rows(path, config.format, limit=config.limit, format_option="seeds.format")
        else:
            rows = read_rows(path, "dataset", split=config.split, limit=config.limit)
        return decode_binary(rows, path)
    except FormatMismatch as exc:
        if config.format == "auto":
            raise RecipeError(f"{context.where('seeds.path')}: {exc.message}",
                              hint="name the file .jsonl, or set seeds.format = 'jsonl'") from None
        raise RecipeError(f"{context.where('seeds.format')}: {exc.message}",
                          hint="set format = 'jsonl', or 'auto' to follow the extension") from None
    except SynthgenError as exc:
        key = "seeds.split" if isinstance(exc, SplitError) else "seeds.path"
        raise RecipeError(f"{context.where(key)}: {exc.message}", hint=exc.hint) from None


def seed_widener(config: Any, context: Any):
    """For a sampled grid: a function giving ``factor``× as many seeded combinations (capped at the whole
    grid); None for sources that are already used whole."""
    if not isinstance(config, GridSeeds) or config.sample is None:
        return None

    def widen(factor: int) -> list[Seed]:
        rows = grid_rows(config.axes, config.sample * factor, context.seed)
        return [Seed(index=i, fields=template_values(row)) for i, row in enumerate(rows)]

    return widen
