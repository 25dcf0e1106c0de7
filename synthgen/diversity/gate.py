"""The diversity batch gate: measured diversity against the real reference (and the previous generation).

Defaults are DESIGN.md §7: distinct-2 ≥ 0.85× real; gzip compression ratio ≤ 1.10× real (equal word
budgets); mean pairwise cosine ≤ min(real + 0.05, 0.8); Vendi ≥ 0.8× real (same n, same embedder);
real-cluster coverage ≥ 0.9× real's own at equal n. Against the previous generation a metric may lose at
most ``previous_tolerance`` (a project starting value, not from the literature). Every decision keeps its
value, threshold and reference; a metric that cannot be computed is a ``not_computed`` decision, which
fails the gate unless ``on_not_computed = "warn"``. Each decision says whether it is ``blocking``: a
non-blocking one that did not pass is a *warning* (shown as such, never a failure, never steering remediation).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from .embed import comparison_embedder
from .metrics import Comparison, MetricSettings, compute_metrics
from .remediate import Remediation, RemediationBounds, remediation_step
from .results import jsonable

__all__ = ["DiversityGate", "GateResult", "Remediation", "RemediationBounds", "Rule", "remediation_step"]

PASS, FAIL, NOT_COMPUTED = "pass", "fail", "not_computed"


@dataclass(frozen=True)
class Rule:
    metric: str
    op: str            # ">=" or "<="
    factor: float      # threshold = factor × reference (or reference + margin for "margin" rules)
    margin: bool = False
    cap: float | None = None

    def threshold(self, reference: float | None) -> float | None:
        if reference is None:
            return self.cap if self.margin else None
        bound = reference + self.factor if self.margin else self.factor * reference
        return min(bound, self.cap) if self.cap is not None else bound

    def describe(self, against: str) -> str:
        rhs = f"{against} + {self.factor:g}" if self.margin else f"{self.factor:g}× {against}"
        return f"{self.op} min({rhs}, {self.cap:g})" if self.cap is not None else f"{self.op} {rhs}"


@dataclass
class GateResult:
    """``passed`` and one decision per gated metric; ``metrics`` holds the full table for the report."""

    passed: bool
    decisions: list[dict[str, Any]]
    metrics: list[dict[str, Any]] = field(default_factory=list)
    label: str = "diversity gate"

    @property
    def failures(self) -> list[dict[str, Any]]:
        """Blocking decisions that did not pass (a decision without ``blocking`` counts as blocking)."""
        return [d for d in self.decisions if d["status"] != PASS and is_blocking(d)]

    @property
    def warnings(self) -> list[dict[str, Any]]:
        """Decisions that did not pass but only warn (``on_not_computed = "warn"``)."""
        return [d for d in self.decisions if d["status"] != PASS and not is_blocking(d)]

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"passed": self.passed, "decisions": self.decisions, "metrics": self.metrics,
                         "failed": [f"{d['metric']} vs {d['against']}" for d in self.failures],
                         "warnings": [f"{d['metric']} vs {d['against']}" for d in self.warnings]})

    def summary(self) -> str:
        warned = "; ".join(describe_decision(d) for d in self.warnings)
        note = f" (warning: {warned})" if warned else ""
        if self.passed:
            return f"{self.label} passed ({len(self.decisions)} decisions){note}"
        return f"{self.label} failed: " + "; ".join(describe_decision(d) for d in self.failures) + note

    def merged(self, other: "GateResult") -> "GateResult":
        """Both results' decisions in one (the run's gate: diversity, then fidelity)."""
        label = self.label if not other.decisions else f"{self.label} + {other.label}"
        return GateResult(self.passed and other.passed, self.decisions + other.decisions,
                          self.metrics + other.metrics, label)


class DiversityGate:
    """Params-only; ``evaluate`` measures a batch and decides."""

    def __init__(self, distinct_2_ratio_min: float | None = 0.85, compression_ratio_max: float | None = 1.10,
                 mean_cosine_margin: float | None = 0.05, mean_cosine_cap: float = 0.8,
                 vendi_ratio_min: float | None = 0.8, coverage_ratio_min: float | None = 0.9,
                 rare_type_recall_ratio_min: float | None = None, previous_tolerance: float | None = 0.05,
                 on_not_computed: str = "fail", settings: MetricSettings | None = None):
        self.rules = _real_rules(distinct_2_ratio_min, compression_ratio_max, mean_cosine_margin, mean_cosine_cap,
                                 vendi_ratio_min, coverage_ratio_min, rare_type_recall_ratio_min)
        self.previous_rules = _previous_rules(previous_tolerance, mean_cosine_margin)
        if on_not_computed not in ("fail", "warn"):
            raise ValueError(f"on_not_computed must be 'fail' or 'warn', got {on_not_computed!r}")
        self.on_not_computed, self.settings = on_not_computed, settings or MetricSettings()

    @classmethod
    def from_config(cls, config: Any, seed: int = 0) -> "DiversityGate":
        """From a ``DiversityGateConfig`` (synthgen.recipe.diversity_schema)."""
        fields = config.model_dump(exclude={"enabled"})
        names = set(MetricSettings.__dataclass_fields__)
        settings = MetricSettings(seed=seed, **{k: fields.pop(k) for k in list(fields) if k in names})
        return cls(**fields, settings=settings)

    def evaluate(self, texts: Sequence[str], reference_texts: Sequence[str] | None,
                 previous_texts: Sequence[str] | None = None, *, embedder: Any = None) -> GateResult:
        """Only the metrics the rules name are computed (``compute_metrics`` gives the whole table)."""
        embed_reference = reference_texts
        if embedder is not None:
            embedder, embed_reference = comparison_embedder(embedder, reference_texts, texts, previous_texts,
                                                            min_samples=self.settings.min_samples)
        table = compute_metrics(texts, reference_texts, embedder, self.settings, only=_names(self.rules),
                                embed_reference=embed_reference)
        decisions = [decide(rule, _row(table, rule.metric), "real") for rule in self.rules]
        metrics = [dict(row.to_dict(), against="real") for row in table]
        if previous_texts and self.previous_rules:
            prev = compute_metrics(texts, previous_texts, embedder, replace(self.settings, tail=False),
                                   only=_names(self.previous_rules))
            decisions += [decide(rule, _row(prev, rule.metric), "previous") for rule in self.previous_rules]
            metrics += [dict(row.to_dict(), against="previous") for row in prev]
        decisions = mark_blocking(decisions, self.blocking)
        return GateResult(not any(d["blocking"] for d in decisions), jsonable(decisions), jsonable(metrics))

    @property
    def blocking(self) -> set[str]:
        """The decision statuses that fail the gate."""
        return {FAIL} if self.on_not_computed == "warn" else {FAIL, NOT_COMPUTED}


def mark_blocking(decisions: list[dict[str, Any]], blocking: set[str]) -> list[dict[str, Any]]:
    """Each decision with ``blocking``: True when its status fails the gate (``blocking`` holds those statuses)."""
    return [{**d, "blocking": d["status"] in blocking} for d in decisions]


def is_blocking(decision: dict[str, Any]) -> bool:
    """A decision that did not pass fails the gate unless it says ``blocking: False`` (a warning)."""
    return decision.get("blocking", True) is not False


def _real_rules(distinct2, compression, margin, cap, vendi, coverage, rare) -> list[Rule]:
    rules = [("distinct_2", ">=", distinct2), ("compression_ratio", "<=", compression), ("vendi", ">=", vendi),
             ("cluster_coverage", ">=", coverage), ("rare_type_recall", ">=", rare)]
    out = [Rule(m, op, f) for m, op, f in rules if f is not None]
    if margin is not None:
        out.insert(2, Rule("mean_pairwise_cosine", "<=", margin, margin=True, cap=cap))
    return out


def _previous_rules(tolerance: float | None, margin: float | None) -> list[Rule]:
    if tolerance is None:
        return []
    rules = [Rule("distinct_2", ">=", 1 - tolerance), Rule("compression_ratio", "<=", 1 + tolerance),
             Rule("vendi", ">=", 1 - tolerance)]
    return rules + ([Rule("mean_pairwise_cosine", "<=", margin, margin=True)] if margin is not None else [])


def _names(rules: list[Rule]) -> set[str]:
    return {rule.metric for rule in rules}


def _row(table: list[Comparison], metric: str) -> Comparison:
    return next(row for row in table if row.metric == metric)


def decide(rule: Rule, row: Comparison, against: str) -> dict[str, Any]:
    """One decision: value vs threshold (derived from the reference), with the reason when not computed."""
    threshold = rule.threshold(row.reference)
    base = {"metric": rule.metric, "against": against, "value": row.value, "threshold": threshold,
            "reference": row.reference, "ratio": row.ratio, "rule": rule.describe(against),
            "factor": rule.factor, "details": row.details}
    if row.value is None or threshold is None:
        reason = row.reason or f"{against} {rule.metric} not computed"
        return {**base, "passed": None, "status": NOT_COMPUTED, "reason": reason}
    ok = row.value >= threshold if rule.op == ">=" else row.value <= threshold
    return {**base, "passed": ok, "status": PASS if ok else FAIL, "reason": None if ok else _shortfall(base)}


def _shortfall(d: dict[str, Any]) -> str:
    worse = "<" if d["rule"].startswith(">=") else ">"
    ratio = f", {d['ratio']:.2f}× {d['against']}" if d["ratio"] is not None else ""
    return f"{d['metric']} {d['value']:.4g} {worse} threshold {d['threshold']:.4g} ({d['rule']}{ratio})"


def describe_decision(d: dict[str, Any]) -> str:
    if d["status"] == NOT_COMPUTED:
        return f"{d['metric']} vs {d['against']} not computed: {d['reason']}"
    return d["reason"] or f"{d['metric']} ok"
