"""Self-consistency: n samples per request, majority answer kept when agreement is high enough."""

from __future__ import annotations

import re

import pytest

from synthgen.errors import RecipeError
from synthgen.pipeline import VerifierStage
from synthgen.recipe.load import recipe_from_dict
from synthgen.records import Candidate, GenerationRequest, Seed
from synthgen.verify import VerifyContext, build_verify_stages
from synthgen.verify.consistency import ANSWER_PATTERN, SelfConsistencyStage, extract_answer, normalize_answer

MINIMAL = {"recipe": {"name": "r"}, "seeds": {"type": "inline", "records": [{"q": "2+2"}]},
           "prompt": {"template": "Solve {q}"},
           "generation": {"target": 1, "backend": {"type": "scripted"}, "sampling": {"n": 5}}}


def group(index: int, texts: list[str]) -> list[Candidate]:
    request = GenerationRequest(index, f"q{index}", Seed(index, {}), 0)
    return [Candidate(request, j, text, 3) for j, text in enumerate(texts)]


def run_stage(stage: SelfConsistencyStage, candidates: list[Candidate]):
    rejected = []
    stage.bind(rejected.append)
    return stage.run(candidates), rejected


@pytest.mark.parametrize("text, answer", [
    ("Half of 84 is 42.\n#### 42", "42"), (r"So the result is \boxed{7}.", "7"), ("Final answer: 1,000", "1,000"),
    ("The answer is **Paris**.", "Paris"), ("Answer: 3\nWait, the answer: 4", "4"), ("no idea", None),
])
def test_extract_answer_takes_the_last_match(text, answer):
    assert extract_answer(text, re.compile(ANSWER_PATTERN)) == answer


def test_normalize_answer():
    assert normalize_answer(" 1,000.0 ", "number") == normalize_answer("1000", "number") == "1000"
    assert normalize_answer("$3.50", "number") == "3.5"
    assert normalize_answer("Paris.", "text") == normalize_answer("paris", "text") == "paris"
    assert normalize_answer(" Paris. ", "exact") == "Paris."


def test_majority_kept_minority_and_unanswered_dropped():
    stage = SelfConsistencyStage(n=5, min_agreement=0.6)
    batch = group(0, ["#### 4", "#### 4.0", "#### 5", "#### 4", "I am not sure"])
    kept, rejected = run_stage(stage, batch)
    assert [c.sample_index for c in kept] == [0, 1, 3]
    assert all(c.columns["answer"] in ("4", "4.0") and c.scores["self_consistency"] == 0.6 for c in kept)
    assert sorted(r.reason for r in rejected) == ["minority_answer", "no_answer"]
    assert stage.stats.seen == 5 and stage.stats.kept == 3


def test_low_agreement_drops_the_whole_request():
    kept, rejected = run_stage(SelfConsistencyStage(n=5, min_agreement=0.6),
                               group(0, ["#### 1", "#### 1", "#### 2", "#### 3", "#### 4"]))
    assert kept == [] and {r.reason for r in rejected} == {"low_agreement"}
    assert rejected[0].evidence["votes"] == {"1": 2, "2": 1, "3": 1, "4": 1}


def test_a_tie_is_no_majority():
    kept, rejected = run_stage(SelfConsistencyStage(n=4, min_agreement=0.5),
                               group(0, ["#### 1", "#### 1", "#### 2", "#### 2"]))
    assert kept == [] and len(rejected) == 4


def test_samples_dropped_earlier_count_against_agreement():
    """3 of 5 samples survived earlier stages and all agree: agreement is 3/5, not 3/3."""
    survivors = group(0, ["#### 9", "#### 9", "#### 9"])
    assert len(run_stage(SelfConsistencyStage(n=5, min_agreement=0.6), survivors)[0]) == 3
    assert run_stage(SelfConsistencyStage(n=5, min_agreement=0.8), group(0, ["#### 9"] * 3))[0] == []


def test_groups_are_judged_separately_and_keep_first():
    stage = SelfConsistencyStage(n=3, min_agreement=0.6, keep="first", answer_column=None)
    batch = group(0, ["#### 1", "#### 1", "#### 2"]) + group(1, ["#### 7", "#### 7", "#### 7"])
    kept, rejected = run_stage(stage, batch)
    assert [(c.request.index, c.sample_index) for c in kept] == [(0, 0), (1, 0)]
    assert sorted(r.reason for r in rejected) == ["minority_answer", "redundant_sample", "redundant_sample",
                                                   "redundant_sample"]
    assert all("answer" not in c.columns for c in kept)


def test_built_in_order_with_n_from_the_recipe():
    raw = {**MINIMAL, "verify": [{"type": "non_empty"}, {"type": "self_consistency", "min_agreement": 0.8},
                                 {"type": "length", "max": 100}]}
    loaded = recipe_from_dict(raw)
    stages = build_verify_stages(loaded.recipe.verify, VerifyContext.of(loaded))
    assert [s.name for s in stages] == ["non_empty", "self_consistency", "length"]
    assert isinstance(stages[1], SelfConsistencyStage) and stages[1].n == 5 and stages[1].stats.name == "self_consistency"
    assert isinstance(stages[0], VerifierStage)


def test_needs_several_samples():
    raw = {**MINIMAL, "generation": {"target": 1, "backend": {"type": "scripted"}},
           "verify": [{"type": "self_consistency"}]}
    loaded = recipe_from_dict(raw, source="r.toml")
    with pytest.raises(RecipeError, match=r"r.toml:verify.0: .*generation.sampling.n is 1"):
        build_verify_stages(loaded.recipe.verify, VerifyContext.of(loaded))


@pytest.mark.parametrize("table, expected", [
    ({"type": "self_consistency", "answer_pattern": "(#"}, "r.toml:verify.0.answer_pattern: invalid regular"),
    ({"type": "self_consistency", "min_agreement": 0}, "r.toml:verify.0.min_agreement:"),
    ({"type": "self_consistency", "keep": "best"}, "r.toml:verify.0.keep:"),
])
def test_misconfigured_self_consistency_names_the_key(table, expected):
    with pytest.raises(RecipeError) as info:
        recipe_from_dict({**MINIMAL, "verify": [table]}, source="r.toml")
    assert info.value.problems[0].startswith(expected), info.value.problems


def test_run_keeps_majority_answers(tmp_path):
    from synthgen.api import run_recipe

    outputs = ["4 #### 4", "four #### 4", "#### 5", "#### 4", "hmm"]  # request 0: 3/5 agree on 4
    raw = {**MINIMAL, "generation": {"target": 3, "max_candidates": 5, "batch_size": 1,
                                     "backend": {"type": "scripted", "outputs": outputs}, "sampling": {"n": 5}},
           "verify": [{"type": "self_consistency", "min_agreement": 0.6}]}
    result = run_recipe(recipe_from_dict(raw, base_dir=tmp_path), out=tmp_path / "run", progress=False)
    assert sorted(row["answer"] for row in result.dataset.to_list()) == ["4", "4", "4"]
    assert result.report.to_dict()["stages"][0]["reasons"] == {"minority_answer": 1, "no_answer": 1}
