"""The fidelity rows of ``synthgen metrics INPUT --reference REAL``: per-record perplexity quantiles under the
reference model (fitted on half of REAL, compared with the other half), the two-sided perplexity decision,
rare-type recall (equal word budget) and rare-type support (equal record count), each next to real's."""

from __future__ import annotations

from typing import Any, Sequence

from ..diversity.results import jsonable, ratio
from ..errors import SynthgenError
from ..diversity.sampling import equal_size, split_halves, take

QUANTILE_ROWS = ("p10", "p50", "p90")
FIDELITY_METRICS = ("perplexity_shift", "rare_type_recall", "rare_type_support")


def fidelity_rows(texts: Sequence[str], reference: Sequence[str], scorer: str = "ngram", seed: int = 0,
                  order: int = 3, tolerance: float = 1.25, rare_max_count: int = 2) -> list[dict[str, Any]]:
    """Every fidelity metric of ``texts`` with its reference value (see the module docstring)."""
    from .gate import FidelityGate
    from .scorers import build_scorer

    gate = FidelityGate(build_scorer(scorer, order), perplexity_tolerance=tolerance, rare_max_count=rare_max_count,
                        rare_min_words=200, seed=seed)
    try:
        gate.fit(reference)
    except SynthgenError as exc:  # e.g. too few distinct reference texts: the other metrics still stand
        return [_row(metric, None, None, f"{exc.message} ({exc.hint})" if exc.hint else exc.message)
                for metric in FIDELITY_METRICS]
    decisions = gate.evaluate(texts).decisions
    rows = [_row(d["metric"], d["value"], d["reference"], d.get("reason"), d) for d in decisions]
    shift = decisions[0]
    quantiles = (shift.get("details") or {}).get("quantiles") or {}
    rows[1:1] = [_row(f"perplexity_{q}", quantiles[q]["value"], quantiles[q]["reference"]) for q in QUANTILE_ROWS
                 if q in quantiles]
    return rows + [support_row(texts, gate.reference_, rare_max_count, seed)]


def support_row(texts: Sequence[str], reference: Sequence[str], max_count: int, seed: int) -> dict[str, Any]:
    """Share of one reference half's rare types present in ``texts`` and in the other half, equal counts."""
    from .rare import rare_type_support, rare_types

    tail_idx, base_idx = split_halves(len(reference), seed)
    rare = rare_types(take(list(reference), tail_idx), max_count)
    mine, real = equal_size([t for t in texts if t.strip()], take(list(reference), base_idx), seed)
    if not mine:
        return _row("rare_type_support", None, None, "no text to measure")
    value, ref = rare_type_support(mine, rare), rare_type_support(real, rare)
    return _row("rare_type_support", value, ref, None if rare else "the reference has no rare type",
                {"records": len(mine), "rare_types": len(rare)})


def _row(metric: str, value: Any, reference: Any, reason: str | None = None, decision: dict | None = None
         ) -> dict[str, Any]:
    out = {"metric": metric, "value": value, "reference": reference, "ratio": ratio(value, reference),
           "reason": reason}
    if decision is not None:
        out.update(threshold=decision.get("threshold"), status=decision.get("status"), side=decision.get("side"),
                   rule=decision.get("rule"), details=decision.get("details"))
    return jsonable(out)
