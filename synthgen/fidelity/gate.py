"""The fidelity gate: a batch against the real data under a frozen reference model, two-sided.

``fit(reference)`` splits the real texts (seeded) into a half the n-gram model is fitted on and a held-out
half it scores; the rule compares a batch's per-record perplexities with the held-out half's, so both sides
are out of sample. Rare types are defined on one half of the reference and recalled against the other at
an equal word budget. Decisions use the diversity gate's schema plus ``gate = "fidelity"`` and ``side``
(``too_typical`` / ``too_far``), which remediation reads.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..diversity.gate import GateResult
from ..diversity.metrics import MetricSettings, rare_type_row
from ..diversity.sampling import split_halves, take
from ..diversity.results import jsonable
from ..errors import SynthgenError
from .rules import Calibration, calibrate, not_computed, perplexity_decision, rare_decision

MIN_HELD_OUT = 20


class FidelityGate:
    """Params-only; ``fit`` once per run on the real texts, then ``evaluate`` each batch."""

    def __init__(self, scorer: Any, perplexity_tolerance: float | None = 1.25, false_alarm_rate: float = 0.05,
                 calibration_draws: int = 200, rare_type_recall_ratio_min: float | None = 0.8,
                 rare_max_count: int = 2, min_records: int = 20, rare_min_words: int = 2000,
                 on_not_computed: str = "warn", seed: int = 0):
        self.scorer, self.tolerance, self.alpha = scorer, perplexity_tolerance, false_alarm_rate
        self.draws, self.rare_ratio_min, self.min_records, self.seed = calibration_draws, rare_type_recall_ratio_min, \
            min_records, seed
        self.settings = MetricSettings(seed=seed, rare_max_count=rare_max_count, min_tokens=rare_min_words)
        self.blocking = {"fail"} if on_not_computed == "warn" else {"fail", "not_computed"}
        self.reference_: list[str] = []
        self.real_scores_: np.ndarray | None = None
        self.calibration_: Calibration | None = None

    @classmethod
    def from_config(cls, config: Any, seed: int = 0, scorer: Any = None) -> "FidelityGate":
        """From a ``FidelityConfig`` ([diversity.fidelity] in synthgen.recipe.diversity_schema)."""
        from .scorers import build_scorer

        scorer = scorer or build_scorer(config.scorer, config.order, config.model)
        return cls(scorer, config.perplexity_tolerance, config.false_alarm_rate, config.calibration_draws,
                   config.rare_type_recall_ratio_min, config.rare_max_count, config.min_records,
                   config.rare_min_words, config.on_not_computed, seed=seed)

    def fit(self, reference_texts: Sequence[str]) -> "FidelityGate":
        """Fit the reference model on one half of the real texts (when it needs fitting), score the other
        half and calibrate the perplexity rule on real-vs-real splits of those scores."""
        real = list(dict.fromkeys(t for t in reference_texts if t and t.strip()))
        if len(real) < 4 and self.tolerance is not None and not getattr(self.scorer, "fitted", False):
            raise SynthgenError(f"the fidelity reference has {len(real)} distinct non-blank text(s): its model is "
                                "fitted on one half and judged on the other, which needs at least 4",
                                hint="give more (distinct) reference texts")
        self.reference_ = real
        held = real
        if self.tolerance is not None:
            if not getattr(self.scorer, "fitted", False):
                fit_idx, held_idx = split_halves(len(real), self.seed)
                self.scorer.fit(take(real, fit_idx))
                held = take(real, held_idx)
            if len(held) >= MIN_HELD_OUT:
                self.real_scores_ = self.scorer.score(held)
                self.calibration_ = calibrate(self.real_scores_, self.alpha, self.draws, self.seed)
        return self

    def evaluate(self, texts: Sequence[str]) -> GateResult:
        decisions: list[dict[str, Any]] = []
        if self.tolerance is not None:
            decisions.append(self._perplexity(texts))
        if self.rare_ratio_min is not None:
            decisions.append(rare_decision(rare_type_row(list(texts), self.reference_, self.settings),
                                           self.rare_ratio_min))
        passed = not any(d["status"] in self.blocking for d in decisions)
        return GateResult(passed, jsonable(decisions), [], label="fidelity gate")

    def _perplexity(self, texts: Sequence[str]) -> dict[str, Any]:
        if self.calibration_ is None:
            return not_computed(self.tolerance, f"the reference has fewer than {2 * MIN_HELD_OUT} texts: the "
                                                "perplexity rule cannot be calibrated")
        kept = [t for t in texts if t and t.strip()]
        return perplexity_decision(self.scorer.score(kept), self.real_scores_, self.calibration_, self.tolerance,
                                   self.min_records)

    def describe(self) -> dict[str, Any]:
        out = {"scorer": getattr(self.scorer, "describe", lambda: {"scorer": self.scorer.name})()}
        if self.calibration_ is not None:
            out["calibration"] = self.calibration_.to_dict()
            out["false_alarm_rate"] = self.calibration_.false_alarm_rate(self.tolerance or 1.0)
        return out
