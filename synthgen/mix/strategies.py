"""How the mixer chooses which synthetic rows fill the capped share.

Each strategy is ``select(rows, k, mixer, texts) -> indices``: at most ``k`` distinct positions in ``rows``
(``texts``: the :class:`.base.MixTexts` of those rows and of the real rows).
The mixer checks the answer (distinct, in range, no more than k) so a strategy, or a plugged-in
ordering, can never make it duplicate or invent a record.

* ``random`` — a seeded uniform sample; the unbiased baseline.
* ``stratified`` — equal shares per value of ``stratify_by`` (e.g. ``seed_topic``), small strata keep all
  their rows (water-filling), random inside a stratum: rare seeds are not crowded out by common ones,
  which protects the tails that collapse cuts first.
* ``best_score`` — highest ``score_field`` first (a column, or a key of the JSON ``scores`` column a run
  writes); rows without a score come last. Biasing towards quality speeds diversity loss (MAD), so pair
  it with the diversity gate.
* ``diversity_first`` — the mixer's ``diversity_order`` callback, else :func:`.novelty.novelty_order`.
* ``importance`` — the rows the real data makes more likely than the synthetic data does, drawn within
  the real rows' length strata (:mod:`.importance`, DSIR-style): counters the generator's drift from the
  real data, which a random share passes on to the next model.
"""

from __future__ import annotations

import json
import math
import random
from typing import TYPE_CHECKING, Any, Callable

from ..records import canonical_json
from .base import MixError, MixTexts
from .novelty import novelty_order
from ..atomic import equal_shares

if TYPE_CHECKING:
    from .mixer import Mixer


def select_random(rows: list[dict[str, Any]], k: int, mixer: "Mixer", texts: MixTexts) -> list[int]:
    return random.Random(mixer.seed).sample(range(len(rows)), min(k, len(rows)))


def select_stratified(rows: list[dict[str, Any]], k: int, mixer: "Mixer", texts: MixTexts) -> list[int]:
    strata: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        strata.setdefault(_stratum(row.get(mixer.stratify_by)), []).append(i)
    rng = random.Random(mixer.seed)
    members = [rng.sample(group, len(group)) for group in strata.values()]
    quotas = equal_shares([len(group) for group in members], k)
    taken = [group[:quota] for group, quota in zip(members, quotas)]
    # the strata in turn, so every prefix (a measured share below the cap keeps one) is stratified too
    return [group[rank] for rank in range(max(quotas, default=0)) for group in taken if rank < len(group)]


def _stratum(value: Any) -> str:
    """A hashable key for any JSON value; a missing value (None) is a stratum of its own."""
    return canonical_json(value)


def select_best_score(rows: list[dict[str, Any]], k: int, mixer: "Mixer", texts: MixTexts) -> list[int]:
    scores = [row_score(row, mixer.score_field) for row in rows]
    order = sorted(range(len(rows)), key=lambda i: (scores[i] is None, -(scores[i] or 0.0), i))
    return order[:k]


def row_score(row: dict[str, Any], field: str) -> float | None:
    """``row[field]``, else ``field`` in the row's ``scores`` (dict or JSON text); None if absent or NaN."""
    value = row.get(field)
    if value is None:
        scores = row.get("scores")
        if isinstance(scores, str):
            try:
                scores = json.loads(scores)
            except ValueError:
                scores = None
        value = scores.get(field) if isinstance(scores, dict) else None
    try:
        score = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(score) else score


def select_diversity_first(rows: list[dict[str, Any]], k: int, mixer: "Mixer", texts: MixTexts) -> list[int]:
    if mixer.diversity_order is not None:
        return [int(i) for i in mixer.diversity_order(texts.offered, k)]
    return novelty_order(texts.offered, k, seed=mixer.seed)


def select_importance(rows: list[dict[str, Any]], k: int, mixer: "Mixer", texts: MixTexts) -> list[int]:
    if not texts.real:
        raise MixError("strategy 'importance' needs real rows with text: it draws synthetic rows toward them",
                       hint=f"check the real data's text field ({mixer.real_text_field!r}), or use strategy 'random'")
    from .importance import importance_order  # numpy and scikit-learn: loaded when the strategy is used

    return importance_order(texts.offered, texts.real, k, seed=mixer.seed)


Strategy = Callable[[list[dict[str, Any]], int, "Mixer", MixTexts], list[int]]

STRATEGIES: dict[str, Strategy] = {
    "random": select_random,
    "stratified": select_stratified,
    "best_score": select_best_score,
    "diversity_first": select_diversity_first,
    "importance": select_importance,
}


def check_selection(picked: list[int], n: int, k: int, strategy: str) -> list[int]:
    """``picked`` checked (at most ``k`` distinct indices into ``n`` rows, else a MixError) and topped
    up in input order when it is short, so the cap's allowance is used whatever the strategy returned."""
    if len(set(picked)) != len(picked) or any(not 0 <= i < n for i in picked) or len(picked) > k:
        raise MixError(f"strategy {strategy!r} returned an invalid selection (duplicates, out-of-range "
                       f"indices or more than {k} rows)",
                       hint="a diversity_order callback must return distinct indices into the texts it is given")
    short = min(k, n) - len(picked)
    if short > 0:
        taken = set(picked)
        picked = picked + [i for i in range(n) if i not in taken][:short]
    return picked
