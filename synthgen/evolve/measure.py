"""Health of one generation against held-out real data: diversity ratios, oriented higher-is-better.

Two choices keep the stop rule from firing on noise. Ratios are capped at 1.0: a generation cannot be
*healthier* than real data, and a ratio above 1 at small n is sampling noise (or noise text, which looks
novel). And each measure gets a noise floor: how far real data itself falls below 1.0 when a real sample of
the same size is measured against the rest of the reference (the worst of a few seeded draws).
"""

from __future__ import annotations

import random
from typing import Any, Sequence

INVERTED = {"compression_ratio", "mean_pairwise_cosine"}  # lower is healthier: the ratio is flipped


def health(texts: Sequence[str], reference: Sequence[str], metrics: Sequence[str], embedder: Any,
           seed: int = 0) -> dict[str, Any]:
    """``{"measures": {metric: capped ratio or None}, "table": [...]}`` for ``texts`` against ``reference``."""
    from ..diversity.results import jsonable

    table = _table(texts, reference, embedder, seed)
    by_name = {row.metric: row for row in table}
    measures = {name: _oriented(by_name.get(name), name) for name in metrics}
    rows = [{"metric": r.metric, "value": r.value, "reference": r.reference, "reason": r.reason} for r in table]
    return {"measures": measures, "table": jsonable(rows)}


def noise_floor(reference: Sequence[str], n: int, metrics: Sequence[str], embedder: Any, seed: int = 0,
                draws: int = 5) -> dict[str, float]:
    """Per measure, the largest shortfall below 1.0 of a real sample of ``n`` texts against the rest."""
    floor = {name: 0.0 for name in metrics}
    if n < 2 or len(reference) < 2 * n:
        return floor
    for draw in range(draws):
        order = list(range(len(reference)))
        random.Random(seed + 1000 + draw).shuffle(order)
        sample, rest = [reference[i] for i in order[:n]], [reference[i] for i in order[n:]]
        by_name = {row.metric: row for row in _table(sample, rest, embedder, seed + draw)}
        for name in metrics:
            value = _oriented(by_name.get(name), name)
            if value is not None:
                floor[name] = max(floor[name], round(1.0 - value, 6))
    return floor


def _table(texts: Sequence[str], reference: Sequence[str], embedder: Any, seed: int) -> list[Any]:
    from ..diversity.embed import for_comparison
    from ..diversity.metrics import MetricSettings, compute_metrics

    # ~10 texts per cluster on the smaller side, so coverage counts clusters a healthy sample does reach
    settings = MetricSettings(seed=seed, clusters=max(2, min(20, min(len(texts), len(reference)) // 10)))
    return compute_metrics(list(texts), list(reference), for_comparison(embedder, texts, reference), settings)


def _oriented(row: Any, name: str) -> float | None:
    if row is None or row.value is None or row.reference in (None, 0) or row.value == 0:
        return None
    ratio = row.reference / row.value if name in INVERTED else row.value / row.reference
    return round(min(float(ratio), 1.0), 6)
