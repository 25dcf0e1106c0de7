"""LLM judge on the scripted backend: score parsing, thresholds, pairwise consistency, judge-eval."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from synthgen.backends.testing import ScriptedBackend
from synthgen.errors import RecipeError, SynthgenError
from synthgen.recipe.load import recipe_from_dict
from synthgen.recipe.schema import ScriptedBackendConfig
from synthgen.records import Candidate, GenerationRequest, Seed
from synthgen.verify import VerifyContext, build_verify_stages
from synthgen.verify.cli import judge_eval
from synthgen.verify.judge import SCORE_PATTERN, JudgeVerifier, parse_score, parse_winner, WINNER_PATTERN
from synthgen.verify.judge_eval import evaluate_judge, parse_label

MINIMAL = {"recipe": {"name": "r"}, "seeds": {"type": "inline", "records": [{"topic": "a"}]},
           "prompt": {"template": "About {topic}"}, "generation": {"target": 1, "backend": {"type": "scripted"}}}


def scripted(*outputs: str) -> ScriptedBackend:
    return ScriptedBackend(ScriptedBackendConfig(type="scripted", outputs=list(outputs)))


def cand(text: str, index: int = 0, **seed) -> Candidate:
    return Candidate(GenerationRequest(index, f"Explain {seed.get('topic', 'rivers')}.", Seed(index, seed), 0),
                     0, text, len(text.split()))


@pytest.mark.parametrize("reply, score", [
    ("Score: 8", 8.0), ("score=3.5 because", 3.5), ("**Rating:** 7/10", 7.0), ("9", 9.0), (" 6. Good.", 6.0),
    ("On a scale of 1 to 10 it is fine", None), ("Score: 42", None), ("", None), ("Score: -2", None),
])
def test_parse_score(reply, score):
    assert parse_score(reply, re.compile(SCORE_PATTERN), 1, 10) == score


@pytest.mark.parametrize("reply, winner", [
    ("Winner: A", "A"), ("B", "B"), ("winner - b.", "B"), ("Response A is better", "A"), ("Tie", "tie"),
    ("Both are fine", None), ("", None),
])
def test_parse_winner(reply, winner):
    assert parse_winner(reply, re.compile(WINNER_PATTERN)) == winner


def test_score_mode_threshold_and_unparseable_reply():
    backend = scripted("Score: 8", "Score: 3", "I refuse to grade this.", "Score: 42")
    verdicts = JudgeVerifier(backend, threshold=7).check_batch([cand(f"text {i}", i) for i in range(4)])
    assert [(v.keep, v.reason) for v in verdicts] == [
        (True, None), (False, "judge_below_threshold"), (False, "judge_unparseable"), (False, "judge_unparseable")]
    assert verdicts[0].score == 8.0 and verdicts[2].evidence["reply"] == "I refuse to grade this."
    assert len(backend.calls) == 1 and len(backend.calls[0]) == 4, "one backend call per batch"


def test_rubric_is_rendered_per_candidate():
    backend = scripted("Score: 9")
    template = "Topic {topic}. Rate 1-{max_score}: {text}\nScore:"
    JudgeVerifier(backend, template=template).check(cand("Rivers flow downhill.", topic="rivers"))
    assert backend.calls[0][0].prompt == "Topic rivers. Rate 1-10: Rivers flow downhill.\nScore:"


def test_pairwise_keeps_only_consistent_wins():
    replies = ["Winner: A", "Winner: B",    # wins as A and as B → keep
               "A", "A",                    # position bias → inconsistent
               "B", "A",                    # reference wins both times
               "tie", "tie",                # consistent tie
               "Winner: A", "no idea"]      # unparseable
    backend = scripted(*replies)
    verifier = JudgeVerifier(backend, mode="pairwise", reference="reference")
    batch = [cand(f"candidate {i}", i, reference=f"reference {i}") for i in range(5)]
    verdicts = verifier.check_batch(batch)
    assert [v.reason for v in verdicts] == [None, "judge_inconsistent", "judge_prefers_reference", "judge_tie",
                                            "judge_unparseable"]
    first, second = backend.calls[0][0].prompt, backend.calls[0][1].prompt
    assert first.index("candidate 0") < first.index("reference 0")
    assert second.index("reference 0") < second.index("candidate 0")


def test_pairwise_ties_can_be_kept_and_missing_reference_is_a_rejection():
    verifier = JudgeVerifier(scripted("tie"), mode="pairwise", reference="reference", allow_ties=True)
    assert verifier.check(cand("x", reference="y")).score == 0.5
    missing = verifier.check(cand("x"))
    assert (missing.reason, missing.evidence["field"]) == ("missing_field", "reference")


def test_judge_reuses_the_generator_backend_or_its_own():
    raw = {**MINIMAL, "verify": [{"type": "judge", "threshold": 5},
                                 {"type": "judge", "threshold": 5,
                                  "backend": {"type": "scripted", "outputs": ["Score: 2"]}}]}
    loaded = recipe_from_dict(raw)
    generator = scripted("Score: 9")
    shared, own = build_verify_stages(loaded.recipe.verify, VerifyContext.of(loaded, generator))
    assert (shared.name, own.name) == ("judge", "judge_2")
    assert shared.verifier.backend is generator and own.verifier.backend is not generator
    assert shared.verifier.check(cand("x")).keep and not own.verifier.check(cand("x")).keep


def test_judge_without_any_backend_fails_clearly_on_use():
    loaded = recipe_from_dict({**MINIMAL, "verify": [{"type": "judge"}]})
    [stage] = build_verify_stages(loaded.recipe.verify, VerifyContext.of(loaded, None))
    with pytest.raises(SynthgenError, match="no model"):
        stage.verifier.check(cand("x"))


def test_run_with_a_judge_records_scores_and_rejections(tmp_path):
    from synthgen.api import run_recipe

    raw = {**MINIMAL, "generation": {"target": 2, "max_candidates": 4, "batch_size": 4,
                                     "backend": {"type": "scripted", "outputs": ["An answer about rivers."]}},
           "verify": [{"type": "judge", "threshold": 6,
                       "backend": {"type": "scripted", "outputs": ["Score: 8", "Score: 2", "garbled", "Score: 7"]}}]}
    result = run_recipe(recipe_from_dict(raw, base_dir=tmp_path), out=tmp_path / "run", progress=False)
    assert result.report.to_dict()["kept"] == 2
    assert result.report.to_dict()["stages"][0]["reasons"] == {"judge_below_threshold": 1, "judge_unparseable": 1}
    assert [json.loads(r["scores"])["judge"] for r in result.dataset.to_list()] == [8.0, 7.0]


@pytest.mark.parametrize("table, expected", [
    ({"type": "judge", "threshold": 11}, "r.toml:verify.0.threshold: threshold lies outside"),
    ({"type": "judge", "mode": "pairwise"}, "r.toml:verify.0: pairwise mode needs reference"),
    ({"type": "judge", "template": "Rate this"}, "r.toml:verify.0: the score template must contain {text}"),
    ({"type": "judge", "mode": "pairwise", "reference": "r", "template": "{a}"}, "r.toml:verify.0: the pairwise"),
    ({"type": "judge", "score_pattern": "(["}, "r.toml:verify.0.score_pattern: invalid regular expression"),
    ({"type": "judge", "min_score": 5, "max_score": 1, "threshold": 3}, "r.toml:verify.0"),
    ({"type": "judge", "backend": {"type": "vllm", "modle": "x"}}, "r.toml:verify.0.backend: invalid backend table"),
    ({"type": "judge", "backend": {"type": "gpt"}}, "r.toml:verify.0.backend: invalid backend table"),
    ({"type": "judge", "treshold": 5}, "r.toml:verify.0.treshold: unknown key; did you mean 'threshold'?"),
])
def test_misconfigured_judge_names_the_key(table, expected):
    with pytest.raises(RecipeError) as info:
        recipe_from_dict({**MINIMAL, "verify": [table]}, source="r.toml")
    assert info.value.problems[0].startswith(expected), info.value.problems


def test_judge_config_round_trips_through_the_recipe_hash():
    raw = {**MINIMAL, "verify": [{"type": "judge", "backend": {"type": "scripted", "outputs": ["9"]}}]}
    loaded = recipe_from_dict(raw)
    dumped = loaded.recipe.model_dump(mode="json")["verify"][0]["backend"]
    assert dumped == {"type": "scripted", "outputs": ["9"], "delay_s": 0.0, "latency_per_prompt_s": None}
    assert recipe_from_dict(raw).hash == loaded.hash


def test_evaluate_judge_counts_agreement_precision_recall():
    rows = [{"text": "good 1", "label": 1}, {"text": "good 2", "label": "good"}, {"text": "good 3", "label": True},
            {"text": "bad 1", "label": 0}, {"text": "bad 2", "label": "reject"}]
    judge = JudgeVerifier(scripted("Score: 9", "Score: 8", "Score: 2", "Score: 9", "nonsense"), threshold=7)
    result = evaluate_judge(judge, rows, batch_size=2).to_dict()
    assert (result["tp"], result["fn"], result["fp"], result["tn"]) == (2, 1, 1, 1)
    assert result["agreement"] == 0.6 and result["precision"] == pytest.approx(2 / 3, abs=1e-4)
    assert result["recall"] == pytest.approx(2 / 3, abs=1e-4) and result["unparseable"] == 1


def test_labels_must_be_recognisable():
    assert parse_label("Accept", "x") is True and parse_label(0, "x") is False
    with pytest.raises(SynthgenError, match="row 2: label 'maybe'"):
        evaluate_judge(JudgeVerifier(scripted("9")), [{"text": "a", "label": 1}, {"text": "b", "label": "maybe"}],
                       source="labels.jsonl")


JUDGE_RECIPE = """
[recipe]
name = "judged"
[seeds]
type = "inline"
records = [{topic = "rivers"}]
[prompt]
template = "Write about {topic}."
[generation]
target = 1
[generation.backend]
type = "scripted"
[[verify]]
type = "non_empty"
[[verify]]
type = "judge"
threshold = 6
[verify.backend]
type = "scripted"
outputs = ["Score: 9", "Score: 2", "Score: 8", "Score: 1"]
"""


def judge_eval_files(tmp_path, recipe_text: str, labels: list[int]):
    """A recipe file and a labels file of texts a, b, c, … with these labels."""
    recipe, path = tmp_path / "recipe.toml", tmp_path / "labels.jsonl"
    recipe.write_text(recipe_text)
    path.write_text("".join(json.dumps({"text": chr(97 + i), "label": label}) + "\n" for i, label in enumerate(labels)))
    return recipe, path


def test_judge_eval_command(tmp_path):
    recipe, labels = judge_eval_files(tmp_path, JUDGE_RECIPE, [1, 0, 0, 1])
    runner = CliRunner()
    shown = runner.invoke(judge_eval, [str(recipe), str(labels)])
    assert shown.exit_code == 0, shown.output
    assert "agreement  50.0%" in shown.output and "verify.1" in shown.output
    as_json = runner.invoke(judge_eval, [str(recipe), str(labels), "--json", "--limit", "2"])
    assert json.loads(as_json.output)["agreement"] == 1.0
    wrong = runner.invoke(judge_eval, [str(recipe), str(labels), "--verifier", "0"])
    assert wrong.exit_code == 1 and "verify.0: not a judge table" in wrong.output
    assert runner.invoke(judge_eval, ["--help"]).exit_code == 0


def test_judge_eval_reports_a_bad_labels_file(tmp_path):
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(JUDGE_RECIPE)
    labels = tmp_path / "labels.jsonl"
    labels.write_text(json.dumps({"body": "a", "label": 1}) + "\n")
    result = CliRunner().invoke(judge_eval, [str(recipe), str(labels)])
    assert result.exit_code == 1 and "row 1 has no 'text' column" in result.output


def test_close_releases_only_the_judges_own_backend():
    raw = {**MINIMAL, "verify": [{"type": "judge"}, {"type": "judge", "backend": {"type": "scripted"}}]}
    loaded = recipe_from_dict(raw)
    generator = scripted("9")
    generator.load()
    shared, own = build_verify_stages(loaded.recipe.verify, VerifyContext.of(loaded, generator))
    own.verifier.check(cand("x"))
    shared.verifier.close()
    own.verifier.close()
    assert generator.loaded and not own.verifier.backend.loaded


STEP_RECIPE = """
[recipe]
name = "scored"
[seeds]
type = "inline"
records = [{topic = "rivers"}]
[[steps]]
type = "generate"
name = "response"
template = "Write about {topic}."
[[steps]]
type = "judge"
name = "quality"
target = "response"
[steps.backend]
type = "scripted"
outputs = ["Score: 9", "Score: 2", "Score: 8", "nonsense"]
[generation]
target = 1
[generation.backend]
type = "scripted"
"""


def test_rank_auc_and_best_threshold_by_hand():
    from synthgen.verify.score_eval import best_threshold, rank_auc

    assert rank_auc([9, 8], [2]) == 1.0 and rank_auc([2], [9, 8]) == 0.0
    assert rank_auc([5, 7], [5, 1]) == pytest.approx((0.5 + 1 + 1 + 1) / 4)  # one tie counts half
    assert rank_auc([5], []) is None
    labelled = [(True, 9.0), (True, 6.0), (False, 7.0), (False, 2.0)]
    assert best_threshold(labelled) == 6.0  # keeps 9, 6, 7: 3 of 4 agree (as does 9, the higher one)


def test_a_judge_step_is_evaluated_by_how_it_ranks_labelled_texts(tmp_path):
    """The judge step as the run builds it (here on the prompt-aware test backend) scores each labelled
    text; good texts should rank above bad ones."""
    from helpers_steps import PromptBackend

    from synthgen.plan import build_run_plan
    from synthgen.verify.score_eval import evaluate_scores

    raw = {**MINIMAL, "prompt": None, "steps": [{"type": "generate", "name": "response", "template": "About {topic}"},
                                                {"type": "judge", "name": "quality", "target": "response"}]}
    del raw["prompt"]
    backend = PromptBackend(scores={"clear answer": " 8", "vague": " 3", "rambling": " 5", "garbled": " none"})
    plan = build_run_plan(recipe_from_dict(raw), backend=backend)
    stage = next(s for s in plan.pipeline if s.name == "quality")
    rows = [{"text": "a clear answer", "label": 1}, {"text": "a vague reply", "label": 0},
            {"text": "rambling but right", "label": 1}, {"text": "garbled", "label": 0}]
    result = evaluate_scores(stage, rows, batch_size=3).to_dict()
    assert (result["scored"], result["unparseable"]) == (3, 1)
    assert result["auc"] == 1.0 and result["mean_score_good"] == 6.5 and result["mean_score_bad"] == 3.0
    assert result["threshold"] == 5.0 and result["threshold_chosen"] == "best" and result["agreement"] == 1.0
    prompts = [p for call in backend.prompts() for p in call]
    assert len(prompts) == 4 and "a clear answer" in prompts[0] and prompts[0].rstrip().endswith("Score:")
    at_8 = evaluate_scores(stage, rows).to_dict(threshold=8)
    assert (at_8["tp"], at_8["fn"], at_8["tn"], at_8["fp"]) == (1, 1, 1, 0) and at_8["threshold_chosen"] == "given"


def test_judge_eval_step_command(tmp_path):
    recipe, labels = judge_eval_files(tmp_path, STEP_RECIPE, [1, 0, 1, 0])
    runner = CliRunner()
    shown = runner.invoke(judge_eval, [str(recipe), str(labels), "--step", "quality"])
    assert shown.exit_code == 0, shown.output
    assert "step 'quality' on 4 labelled texts (3 scored)" in shown.output and "AUC        1.000" in shown.output
    assert "at score >= 8 (best): agreement 100.0%" in shown.output and "unparseable replies: 1" in shown.output
    given = json.loads(runner.invoke(judge_eval, [str(recipe), str(labels), "--step", "quality", "--threshold", "9",
                                                  "--json"]).output)
    assert given["agreement"] == pytest.approx(2 / 3, abs=1e-4) and given["threshold"] == 9
    missing = runner.invoke(judge_eval, [str(recipe), str(labels), "--step", "nope"])
    assert missing.exit_code == 1 and "steps: no judge step named 'nope' (judge steps: quality)" in missing.output
    both = runner.invoke(judge_eval, [str(recipe), str(labels), "--step", "quality", "--verifier", "0"])
    assert both.exit_code == 2 and "not both" in both.output
    alone = runner.invoke(judge_eval, [str(recipe), str(labels), "--threshold", "5"])
    assert alone.exit_code == 2 and "--threshold goes with --step" in alone.output
