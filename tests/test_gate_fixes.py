"""Gate fixes: a warning is never a failure; a target below the gate's smallest window is gated on a full
window and keeps its target; a spent budget after a failed window ends gate_failed; remediation reports only
changes the run can make."""

from __future__ import annotations

import json

import pytest

from synthgen.api import run_recipe
from synthgen.diversity.gate import GateResult
from synthgen.diversity import remediate
from synthgen.diversity.remediate import remediation_step
from synthgen.recipe import load_recipe

from test_gate_run import GATE, scripted, sentences

SAMPLING = {"temperature": 1.0, "top_p": 0.95}
COVERAGE = {"metric": "cluster_coverage", "against": "real", "status": "fail", "blocking": True,
            "reason": "cluster_coverage 0.875 < threshold 0.9"}
RARE_WARNING = {"metric": "rare_type_recall", "against": "real", "status": "not_computed", "side": None,
                "blocking": False, "reason": "only 906 words"}
NARROW = [f"What is the best way to cook rice number {i % 3}?" for i in range(60)]


@pytest.fixture
def gated(write_recipe, tmp_path):
    (tmp_path / "reference.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in sentences(200, 0)))

    def write(target: int = 30, budget: int = 120, batch_size: int = 30, extra: str = ""):
        return write_recipe(target=target, budget=budget, batch_size=batch_size, extra=GATE + extra)

    return write


# --- #1: a warning (not computed, on_not_computed = "warn") is not a failure -------------------------------


def test_a_warning_does_not_steer_remediation():
    alone = remediation_step(GateResult(False, [COVERAGE]), SAMPLING, 0)
    warned = remediation_step(GateResult(False, [COVERAGE, RARE_WARNING]), SAMPLING, 0)
    assert (warned.temperature, warned.top_p) == (alone.temperature, alone.top_p) == (1.0, 0.95)
    assert warned.failing == ("cluster_coverage",) and "rare_type_recall" not in warned.message
    assert warned.message == alone.message


def test_a_warning_is_listed_as_a_warning_not_a_failure():
    result = GateResult(False, [COVERAGE, RARE_WARNING])
    assert [d["metric"] for d in result.failures] == ["cluster_coverage"]
    assert result.to_dict()["failed"] == ["cluster_coverage vs real"]
    assert result.to_dict()["warnings"] == ["rare_type_recall vs real"]
    failed, warning = result.summary().split("(warning:")
    assert "cluster_coverage" in failed and "rare_type_recall" not in failed and "rare_type_recall" in warning
    assert "warning: rare_type_recall" in GateResult(True, [RARE_WARNING]).summary()


def test_in_a_run_the_fidelity_warning_is_shown_as_a_warning(gated):
    result = run_recipe(gated(), backend=scripted(NARROW), progress=False)
    report = result.report.to_dict()
    first = report["gates"][0]
    rare = next(d for d in first["decisions"] if d["metric"] == "rare_type_recall")
    assert rare["status"] == "not_computed" and rare["blocking"] is False  # the fidelity default: warn
    assert "rare_type_recall" not in first["remediation"]["failing"] and "rare_type_recall" not in first["failed"]
    failed_part = report["gate_failure"].split("(warning:")[0]
    assert "distinct_2" in failed_part and "rare_type_recall" not in failed_part
    markdown = (result.run_dir / "report.md").read_text()
    assert "| not_computed (warning) |" in markdown


def test_the_card_and_html_call_a_warning_a_warning():
    from synthgen.report.facts import decision_verdict, gate_decisions

    report = {"gates": [{"passed": True, "decisions": [dict(RARE_WARNING, passed=None),
                                                        dict(COVERAGE, status="pass", passed=True)]}]}
    verdicts = {d["metric"]: decision_verdict(d) for d in gate_decisions(report)}
    assert verdicts == {"rare_type_recall": "warning: not computed", "cluster_coverage": "pass"}


# --- #3/#4: a target below min_samples ----------------------------------------------------------------------


def test_a_small_target_collects_a_full_gate_window_and_keeps_the_target(gated):
    result = run_recipe(gated(batch_size=8), backend=scripted(sentences(150, 200)), limit=5, progress=False)
    report = result.report.to_dict()
    assert report["status"] == "complete" and report["gates_passed"] is True, report.get("gate_failure")
    assert len(result.dataset) == 5
    start, end = report["gates"][-1]["window"]
    assert start == 0 and end >= 20  # at least min_samples = 20 records were gated (the batch may add some)
    over = [r for r in result.rejected.to_list() if r["reason"] == "over_target"]
    assert len(over) == end - 5


def test_the_plan_collects_the_gate_window_for_a_small_target(gated):
    from synthgen.plan import build_run_plan

    plan = build_run_plan(load_recipe(gated(target=5)))
    try:
        assert plan.target == 5 and plan.limits.target == 20 and plan.gate.window == 20
    finally:
        plan.close()


def test_validate_warns_when_the_budget_cannot_fill_the_first_gate_window(gated):
    from click.testing import CliRunner

    from synthgen.cli import cli

    recipe = gated(target=5, budget=10)
    result = CliRunner().invoke(cli, ["validate", str(recipe)])
    assert result.exit_code == 0 and result.stdout.startswith(f"{recipe}: ok (hash ")
    assert result.stderr == (f"Warning: {recipe}:diversity.gate.min_samples (20) is above generation.max_candidates "
                             "(10): the gate's first window can never fill, so the run cannot pass its first gate "
                             "check; raise generation.max_candidates to at least 20 or lower "
                             "diversity.gate.min_samples.\n")
    for fine in (["--set", "generation.max_candidates=20"], ["--set", "diversity.gate.min_samples=10"],
                 ["--set", "diversity.gate.enabled=false"]):
        result = CliRunner().invoke(cli, ["validate", str(recipe), *fine])
        assert result.exit_code == 0 and result.stderr == "", fine


def test_generate_warns_before_the_run_as_validate_does_and_not_again_once_finished(gated, tmp_path):
    """A user who never ran ``validate`` still sees its warnings, before the generation starts."""
    from click.testing import CliRunner

    from synthgen.cli import cli

    recipe, out = gated(target=5, budget=10), tmp_path / "run"
    first = CliRunner().invoke(cli, ["generate", str(recipe), "--out", str(out), "--quiet"])
    warning = f"Warning: {recipe}:diversity.gate.min_samples (20) is above generation.max_candidates (10)"
    assert first.stderr.startswith(warning), first.output
    assert first.stderr.count(warning) == 1
    again = CliRunner().invoke(cli, ["generate", str(recipe), "--out", str(out), "--quiet"])
    assert warning not in again.stderr
    fine = CliRunner().invoke(cli, ["generate", str(recipe), "--out", str(tmp_path / "fine"), "--quiet",
                                    "--set", "generation.max_candidates=20"])
    assert "Warning: " not in fine.stderr.split("\n")[0]


def test_the_gate_budget_warning_names_the_binding_key_the_default_budget_and_fan_out(gated):
    from synthgen.plan.checks import gate_budget_warning
    from synthgen.plan.model import RecipeContext

    recipe = gated(target=4, budget=16)

    def warning(overrides=(), fan_out=1):
        loaded = load_recipe(recipe, list(overrides))
        return gate_budget_warning(loaded.recipe, RecipeContext.from_loaded(loaded), fan_out)

    assert "diversity.gate.min_samples (20) is above generation.max_candidates (16): " in warning()
    assert warning(fan_out=2) is None  # a later step's n = 2: 16 candidates can make 32 records
    fidelity = warning(["diversity.fidelity.on_not_computed=fail", "diversity.fidelity.min_records=40"], fan_out=2)
    assert ":diversity.fidelity.min_records (40) is above the 32 records generation.max_candidates (16) can make " \
           "(2 per candidate): " in fidelity and fidelity.endswith("at least 20 or lower diversity.fidelity.min_records")
    recipe.write_text(recipe.read_text().replace("max_candidates = 16\n", ""))  # the default: 4 × target
    assert "is above generation.max_candidates (unset: 4 × target = 16): " in warning()


def test_a_failed_window_with_the_budget_spent_ends_gate_failed(gated):
    """Nothing left over to gate: the failure stands (exit 3), as when leftovers are gated and fail."""
    result = run_recipe(gated(budget=30), backend=scripted(NARROW), progress=False)
    report = result.report.to_dict()
    assert report["gates"][-1]["remediation"]["retry"] is True  # a retry was scheduled, never made
    assert report["status"] == "failed_gate" and report["stop_reason"] == "gate_failed"
    assert "candidate budget ran out" in report["gate_failure"] and len(result.dataset) == 0


# --- #5: only changes that happen ------------------------------------------------------------------------------


def test_seeds_that_cannot_widen_are_not_reported_widened():
    step = remediation_step(GateResult(False, [COVERAGE]), SAMPLING, 0, levers=remediate.Levers(widen_seeds=False))
    assert step.retry and step.seed_widening == 1 and "widened" not in step.message
    assert "few-shot examples rotated" in step.message


def test_coverage_without_seed_or_example_levers_raises_the_temperature():
    """Sampling is the only lever left to spread a batch over more real clusters (issue 16: the collapse
    benchmark's generator has no prompts, and its coverage retries were plain resamples)."""
    step = remediation_step(GateResult(False, [COVERAGE]), SAMPLING, 0,
                            levers=remediate.Levers(widen_seeds=False, few_shot=False))
    assert step.retry and step.temperature == pytest.approx(1.1) and step.top_p == pytest.approx(1.0)
    assert step.seed_widening == 1 and not step.rotate_few_shot and "widened" not in step.message


def test_coverage_with_a_lever_keeps_the_temperature():
    step = remediation_step(GateResult(False, [COVERAGE]), SAMPLING, 0, levers=remediate.Levers(widen_seeds=False))
    assert step.retry and step.temperature == 1.0 and step.rotate_few_shot


def test_coverage_too_far_without_levers_cools():
    too_far = {"metric": "perplexity_shift", "against": "real", "status": "fail", "blocking": True,
               "side": "too_far", "reason": "perplexity 2x real's", "ratio": 2.0, "factor": 1.25}
    step = remediation_step(GateResult(False, [COVERAGE, too_far]), SAMPLING, 0,
                            levers=remediate.Levers(widen_seeds=False, few_shot=False))
    assert step.retry and step.temperature < 1.0


def test_no_lever_left_means_no_retry():
    at_bounds = {"temperature": 1.3, "top_p": 1.0}
    step = remediation_step(GateResult(False, [COVERAGE]), at_bounds, 0,
                            levers=remediate.Levers(widen_seeds=False, few_shot=False))
    assert not step.retry and step.seed_widening == 1 and not step.rotate_few_shot
    assert "nothing left to adjust" in step.message and "cannot widen" in step.message


def test_the_plan_knows_which_seed_sources_can_widen(gated):
    from synthgen.plan import build_run_plan

    whole = build_run_plan(load_recipe(gated()))
    sampled_path = gated()
    sampled_path.write_text(sampled_path.read_text().replace('type = "grid"', 'type = "grid"\nsample = 2'))
    sampled = build_run_plan(load_recipe(sampled_path))
    try:
        assert whole.gate.levers() == remediate.Levers(widen_seeds=False, few_shot=True)
        assert sampled.gate.levers() == remediate.Levers(widen_seeds=True, few_shot=True)
        assert not sampled.seeds.requests.can_widen(4, 8)  # 2 × 4 already covers the 6-row grid
    finally:
        whole.close()
        sampled.close()


def test_a_run_never_claims_a_widening_that_did_not_happen(gated):
    result = run_recipe(gated(), backend=scripted(NARROW), progress=False)
    first = result.report.to_dict()["gates"][0]["remediation"]
    assert first["retry"] and first["seed_widening"] == 1 and "widened" not in first["message"]


def test_a_short_window_is_named_instead_of_the_reference():
    short = {"metric": "vendi", "against": "real", "status": "not_computed",
             "reason": "the batch has 11 non-empty texts (0 empty); embedding metrics need at least 20"}
    step = remediation_step(GateResult(False, [short]), SAMPLING, 0)
    assert not step.retry and "generation.target" in step.message and "add real reference" not in step.message
