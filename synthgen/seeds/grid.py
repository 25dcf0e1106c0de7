"""Combinatorial seeding: the product of named axes (topic × persona × style × …), whole or sampled."""

from __future__ import annotations

import math
import random
from typing import Any


def grid_size(axes: dict[str, list[Any]]) -> int:
    return math.prod(len(values) for values in axes.values())


def grid_row(axes: dict[str, list[Any]], flat_index: int) -> dict[str, Any]:
    """The combination at ``flat_index`` in row-major order, without building the product."""
    row: dict[str, Any] = {}
    for name, values in reversed(list(axes.items())):
        flat_index, position = divmod(flat_index, len(values))
        row[name] = values[position]
    return {name: row[name] for name in axes}


def grid_rows(axes: dict[str, list[Any]], sample: int | None, seed: int) -> list[dict[str, Any]]:
    """All combinations, or ``sample`` distinct ones drawn with ``seed`` (in a stable, seeded order)."""
    size = grid_size(axes)
    if sample is None or sample >= size:
        indices = range(size)
    else:
        indices = random.Random(seed).sample(range(size), sample)
    return [grid_row(axes, i) for i in indices]
