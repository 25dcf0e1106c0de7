"""Health of one generation against held-out real data: diversity ratios, oriented higher-is-better.

Two choices keep the stop rule from firing on noise. Ratios are capped at 1.0: a generation cannot be
*healthier* than real data, and a ratio above 1 at small n is sampling noise (or noise text, which looks
novel). And each measure gets a noise floor: how far real data itself falls below 1.0 when a real sample of
the same size is measured against the rest of the reference (the worst of a few seeded draws).

A floor that cannot be measured is ``None`` ("not measured"), never 0. The lexical measures compare equal
word budgets, so where a real sample of ``n`` texts has too few words, their floor is measured again at the
word budget of each generation (:func:`word_budget_floor`); a floor still not measured is left out of the
stop rule (:func:`~synthgen.evolve.stoprule.should_stop`), with the reason in :attr:`NoiseFloor.notes`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Sequence

INVERTED = {"compression_ratio", "mean_pairwise_cosine"}  # lower is healthier: the ratio is flipped
DRAWS = 5


@dataclass
class NoiseFloor:
    """Per measure, how far real data strays below 1.0 (``None``: not measured) and how it was measured
    or why it could not be (``notes``). ``by_words``: the lexical measures whose floor is measured at the
    generations' word budgets."""

    values: dict[str, float | None]
    notes: dict[str, str] = field(default_factory=dict)
    by_words: frozenset[str] = frozenset()  # measured at the generations' word budgets

    def unmeasured(self) -> list[str]:
        return [name for name, value in self.values.items() if value is None]


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
                draws: int = DRAWS) -> NoiseFloor:
    """Per measure, the largest shortfall below 1.0 of a real sample of ``n`` texts against the rest;
    ``None`` where no draw could measure it (too few texts or words: the note says which)."""
    if n < 2 or len(reference) < 2 * n:
        why = f"not measured: real samples of {n} texts need {max(2, n) * 2} reference texts, not {len(reference)}"
        return NoiseFloor({name: None for name in metrics}, {name: why for name in metrics})
    splits = [_split_texts(reference, n, seed + 1000 + draw) for draw in range(draws)]
    return _floor(splits, metrics, embedder, seed, f"real samples of {n} texts")


def word_budget_floor(floor: NoiseFloor, texts: Sequence[str], reference: Sequence[str], seed: int = 0,
                      draws: int = DRAWS) -> NoiseFloor:
    """``floor`` with the lexical measures that real samples of ``n`` texts could not measure measured at
    the word budget of ``texts`` (a real sample of as many words, against the rest; the largest floor over
    the generations so far is kept): lexical measures compare equal word budgets, so the budget, not the
    number of texts, sets their noise."""
    from ..diversity.sampling import word_count

    lexical = _word_budget_metrics()
    names = [n for n, v in floor.values.items() if n in floor.by_words or (v is None and n in lexical)]
    words = word_count(texts)
    splits = [_split_words(reference, words, seed + 2000 + d) for d in range(draws)] if names else []
    splits = [split for split in splits if split is not None]
    if not splits:
        return floor
    how = f"real samples at a generation's word budget (the largest floor so far; latest {words} words)"
    return merge_floors(floor, _floor(splits, names, None, seed, how))  # lexical only: no embedder needed


def merge_floors(floor: NoiseFloor, measured: NoiseFloor) -> NoiseFloor:
    """``floor`` with ``measured``'s word-budget values: the larger of each and an earlier one."""
    values, notes, by_words = dict(floor.values), dict(floor.notes), set(floor.by_words)
    for name, value in measured.values.items():
        if value is None:
            continue
        earlier = floor.values.get(name) if name in by_words else None
        values[name] = value if earlier is None else max(earlier, value)
        notes[name] = measured.notes[name]
        by_words.add(name)
    return NoiseFloor(values, notes, frozenset(by_words))


def _floor(splits: list[tuple[list[str], list[str]]], metrics: Sequence[str], embedder: Any, seed: int,
           how: str) -> NoiseFloor:
    values: dict[str, float | None] = {name: None for name in metrics}
    reasons: dict[str, str] = {}
    for draw, (sample, rest) in enumerate(splits):
        by_name = {row.metric: row for row in _table(sample, rest, embedder, seed + draw, only=metrics)}
        for name in metrics:
            value = _oriented(by_name.get(name), name)
            if value is None:
                reasons[name] = _reason(by_name.get(name))
            else:
                values[name] = max(values[name] or 0.0, round(1.0 - value, 6))
    notes = {name: how if values[name] is not None else f"not measured ({how}): {reasons.get(name, 'no draw')}"
             for name in metrics}
    return NoiseFloor(values, notes)


def _split_texts(reference: Sequence[str], n: int, seed: int) -> tuple[list[str], list[str]]:
    order = list(range(len(reference)))
    random.Random(seed).shuffle(order)
    return [reference[i] for i in order[:n]], [reference[i] for i in order[n:]]


def _split_words(reference: Sequence[str], words: int, seed: int) -> tuple[list[str], list[str]] | None:
    """A seeded real sample of at least ``words`` words (the budget unit: a CJK character counts as one) and
    the rest, or None when the rest is smaller."""
    from ..cjk import text_units
    from ..diversity.sampling import word_count

    order = list(range(len(reference)))
    random.Random(seed).shuffle(order)
    count, cut = 0, 0
    while cut < len(order) and count < words:
        count += text_units(reference[order[cut]])
        cut += 1

    sample, rest = [reference[i] for i in order[:cut]], [reference[i] for i in order[cut:]]
    return (sample, rest) if count >= words and word_count(rest) >= words else None


def _word_budget_metrics() -> tuple[str, ...]:
    from ..diversity.metrics import LEXICAL

    return (*LEXICAL, "rare_type_recall")


def _table(texts: Sequence[str], reference: Sequence[str], embedder: Any, seed: int,
           only: Sequence[str] | None = None) -> list[Any]:
    from ..diversity.embed import for_comparison
    from ..diversity.metrics import MetricSettings, compute_metrics

    # ~10 texts per cluster on the smaller side, so coverage counts clusters a healthy sample does reach
    settings = MetricSettings(seed=seed, clusters=max(2, min(20, min(len(texts), len(reference)) // 10)))
    return compute_metrics(list(texts), list(reference), for_comparison(embedder, texts, reference), settings,
                           only=set(only) if only is not None else None)


def _reason(row: Any) -> str:
    if row is None:
        return "not computed"
    return row.reason or "a zero value, no ratio"


def _oriented(row: Any, name: str) -> float | None:
    if row is None or row.value is None or row.reference in (None, 0) or row.value == 0:
        return None
    ratio = row.reference / row.value if name in INVERTED else row.value / row.reference
    return round(min(float(ratio), 1.0), 6)
