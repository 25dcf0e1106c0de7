"""The diversity gate (decisions, not-computed handling, JSON), remediation, and the [diversity] table."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from helpers_diversity import corpus
from synthgen.diversity.embed import TfidfSvdEmbedder
from synthgen.diversity.gate import DiversityGate, GateResult, RemediationBounds, remediation_step
from synthgen.diversity.metrics import MetricSettings
from synthgen.recipe.diversity_schema import DiversityConfig, DiversityGateConfig, RemediationConfig

REAL = corpus(300, 3000, seed=1)
COLLAPSED = corpus(150, 40, seed=2)
FIELDS = {"metric", "against", "value", "threshold", "reference", "ratio", "passed", "status", "reason", "rule"}


@pytest.fixture(scope="module")
def embedder():
    return TfidfSvdEmbedder(n_components=64)  # the gate refits it on batch + reference


def by_metric(result: GateResult, against: str = "real") -> dict[str, dict]:
    return {d["metric"]: d for d in result.decisions if d["against"] == against}


def test_real_data_passes_against_real_data(embedder):
    result = DiversityGate().evaluate(corpus(200, 3000, seed=3), REAL, embedder=embedder)
    assert result.passed, result.summary()
    assert set(by_metric(result)) == {"distinct_2", "compression_ratio", "mean_pairwise_cosine", "vendi",
                                      "cluster_coverage"}


def test_a_collapsed_batch_fails_naming_every_metric(embedder):
    result = DiversityGate().evaluate(COLLAPSED, REAL, embedder=embedder)
    assert not result.passed
    decisions = by_metric(result)
    for name in ("distinct_2", "compression_ratio", "vendi"):
        assert decisions[name]["status"] == "fail" and name in result.summary()
    d2 = decisions["distinct_2"]
    assert d2["threshold"] == pytest.approx(0.85 * d2["reference"]) and d2["ratio"] < 0.85
    assert "0.85× real" in d2["reason"]


def test_every_decision_has_value_threshold_reference_and_is_json(embedder):
    result = DiversityGate().evaluate(COLLAPSED, REAL, previous_texts=REAL[:200], embedder=embedder)
    for decision in result.decisions:
        assert FIELDS <= set(decision)
    assert {d["against"] for d in result.decisions} == {"real", "previous"}
    restored = json.loads(json.dumps(result.to_dict()))
    assert restored["passed"] is False and restored["failed"]
    gated = {(d["metric"], d["against"]) for d in result.decisions}
    assert {(m["metric"], m["against"]) for m in restored["metrics"]} == gated  # only what it gates on


def test_the_gate_computes_only_the_metrics_it_gates_on(embedder):
    gate = DiversityGate(vendi_ratio_min=None, coverage_ratio_min=None, mean_cosine_margin=None,
                         previous_tolerance=None)
    result = gate.evaluate(corpus(200, 3000, seed=3), REAL, embedder=embedder)
    assert {m["metric"] for m in result.metrics} == {"distinct_2", "compression_ratio"}


def test_a_tfidf_embedder_is_fitted_once_and_compared_on_reference_texts_it_never_saw(monkeypatch):
    from synthgen.diversity.embed import held_out, prepare

    fits = []
    original = TfidfSvdEmbedder.fit
    monkeypatch.setattr(TfidfSvdEmbedder, "fit", lambda self, texts: fits.append(len(texts)) or original(self, texts))
    fitted = prepare(TfidfSvdEmbedder(n_components=32), REAL)
    unseen = held_out(fitted, REAL)
    assert len(fits) == 1 and fits[0] + len(unseen) == len(set(REAL)) and len(unseen) >= len(REAL) // 2 - 1
    gate = DiversityGate()
    for seed in (3, 4, 5):
        assert gate.evaluate(corpus(200, 3000, seed=seed), REAL, corpus(200, 3000, seed=9), embedder=fitted).passed
    assert len(fits) == 1  # three gate calls, no refit
    gate.evaluate(corpus(200, 3000, seed=3), REAL, embedder=TfidfSvdEmbedder(n_components=32))
    assert len(fits) == 2  # an unfitted embedder is fitted for the comparison (on everything)


def test_mean_cosine_threshold_is_real_plus_margin_capped(embedder):
    cosine = by_metric(DiversityGate().evaluate(COLLAPSED, REAL, embedder=embedder))["mean_pairwise_cosine"]
    assert cosine["threshold"] == pytest.approx(min(cosine["reference"] + 0.05, 0.8))


def test_a_tiny_reference_is_not_computed_and_fails_by_default(embedder):
    result = DiversityGate().evaluate(COLLAPSED, REAL[:5], embedder=embedder)
    statuses = {d["metric"]: d["status"] for d in result.decisions}
    assert statuses["vendi"] == "not_computed" and not result.passed
    assert "need at least 20" in by_metric(result)["vendi"]["reason"]


def test_on_not_computed_warn_lets_computed_decisions_decide(embedder):
    gate = DiversityGate(on_not_computed="warn", settings=MetricSettings(min_tokens=10**9))
    result = gate.evaluate(corpus(200, 3000, seed=3), REAL, embedder=embedder)
    assert by_metric(result)["distinct_2"]["status"] == "not_computed" and result.passed


def test_without_an_embedder_semantic_decisions_are_not_computed():
    result = DiversityGate().evaluate(COLLAPSED, REAL)
    assert by_metric(result)["vendi"]["reason"] == "no embedder configured" and not result.passed


def test_a_rule_set_to_none_is_not_gated(embedder):
    result = DiversityGate(vendi_ratio_min=None, previous_tolerance=None).evaluate(
        COLLAPSED, REAL, previous_texts=REAL, embedder=embedder)
    assert "vendi" not in by_metric(result) and not by_metric(result, "previous")


def test_from_config_uses_the_design_defaults():
    gate = DiversityGate.from_config(DiversityGateConfig(), seed=3)
    rules = {r.metric: r for r in gate.rules}
    assert rules["distinct_2"].factor == 0.85 and rules["compression_ratio"].factor == 1.10
    assert rules["vendi"].factor == 0.8 and rules["cluster_coverage"].factor == 0.9
    assert rules["mean_pairwise_cosine"].cap == 0.8 and gate.settings.seed == 3


# --- remediation -------------------------------------------------------------------------------------


def fake_result(*decisions: tuple[str, str]) -> GateResult:
    rows = [{"metric": m, "against": "real", "status": s, "reason": f"{m} {s} detail"} for m, s in decisions]
    return GateResult(all(s == "pass" for _, s in decisions), rows)


def test_lexical_failure_raises_temperature_and_top_p():
    step = remediation_step(fake_result(("distinct_2", "fail")), {"temperature": 0.7, "top_p": 0.9}, 0)
    assert step.retry and step.temperature == pytest.approx(0.8) and step.top_p == pytest.approx(0.95)
    assert step.seed_widening == 1 and not step.rotate_few_shot
    assert "distinct_2 fail detail" in step.message and "attempt 1/3" in step.message


def test_coverage_failure_widens_seeds_and_rotates_examples():
    step = remediation_step(fake_result(("cluster_coverage", "fail")), {"temperature": 0.7, "top_p": 0.9}, 1)
    assert step.retry and step.temperature == 0.7 and step.seed_widening == 2 and step.rotate_few_shot


def test_semantic_failure_does_both_within_bounds():
    bounds = RemediationBounds(max_temperature=0.75, max_top_p=0.92)
    step = remediation_step(fake_result(("vendi", "fail")), {"temperature": 0.7, "top_p": 0.9}, 0, bounds)
    assert (step.temperature, step.top_p, step.seed_widening, step.rotate_few_shot) == (0.75, 0.92, 2, True)


def test_budget_spent_stops_and_names_the_metric():
    step = remediation_step(fake_result(("vendi", "fail")), {"temperature": 1.0, "top_p": 1.0}, 3)
    assert not step.retry and "budget spent" in step.message and "vendi" in step.message


def test_nothing_left_to_adjust_stops():
    step = remediation_step(fake_result(("distinct_2", "fail")), {"temperature": 1.3, "top_p": 1.0}, 0)
    assert not step.retry and "bounds reached" in step.message


def test_not_computed_only_cannot_be_remediated_by_sampling():
    step = remediation_step(fake_result(("vendi", "not_computed")), {"temperature": 0.7, "top_p": 0.9}, 0)
    assert not step.retry and "not computed" in step.message


def test_a_passing_gate_changes_nothing():
    step = remediation_step(fake_result(("vendi", "pass")), {"temperature": 0.7, "top_p": 0.9}, 0)
    assert not step.retry and step.temperature == 0.7 and step.failing == ()


def test_remediation_accepts_the_recipe_models():
    from synthgen.recipe.schema import SamplingConfig

    step = remediation_step(fake_result(("distinct_2", "fail")), SamplingConfig(temperature=0.5), 0,
                            RemediationConfig(temperature_step=0.2))
    assert step.temperature == pytest.approx(0.7) and json.dumps(step.to_dict())


# --- [diversity] table -------------------------------------------------------------------------------


def test_diversity_config_defaults_and_strictness():
    config = DiversityConfig(reference="real.jsonl")
    assert config.near_duplicate_threshold == 0.9 and config.embedder == "minilm"
    assert config.gate.vendi_ratio_min == 0.8 and config.remediation.budget == 3
    with pytest.raises(ValidationError, match="extra"):
        DiversityConfig(reference="real.jsonl", treshold=0.9)
    with pytest.raises(ValidationError):
        DiversityConfig(reference="real.jsonl", near_duplicate_threshold=1.5)


def test_the_gate_needs_a_reference():
    with pytest.raises(ValidationError, match="set reference"):
        DiversityConfig()
    assert DiversityConfig(gate={"enabled": False}).reference is None


def test_empty_texts_are_never_a_silent_pass(embedder):
    result = DiversityGate().evaluate([""] * 50 + ["one real sentence"], REAL, embedder=embedder)
    vendi = by_metric(result)["vendi"]
    assert vendi["status"] == "not_computed" and "1 non-empty texts (50 empty)" in vendi["reason"]
    assert by_metric(result)["distinct_2"]["status"] == "not_computed" and not result.passed
