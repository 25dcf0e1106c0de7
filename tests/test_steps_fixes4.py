"""Steps recipes: self-consistency votes per parent record, evolve's noise floor at the measured size, and
every replay backend's file checked when the plan is built."""

from __future__ import annotations

import json
import textwrap

import pytest

from synthgen.api import run_recipe
from synthgen.errors import RecipeError
from synthgen.plan import build_run_plan
from synthgen.recipe.load import load_recipe, recipe_from_dict
from synthgen.tabular import read_rows

# --- self_consistency on a step after a fan-out ------------------------------------------------------

# The answers each parent record (a question, by its record index at the solution step) gets; the two
# questions of a request (records 0 and 3, then 6 and 9) have different majorities, or one has none.
ANSWERS = {0: [1, 1, 2], 3: [2, 3, 4], 6: [3, 3, 1], 9: [5, 6, 7]}


def scripted_rows(answers: dict[int, list[int]], n: int) -> list[str]:
    """Outputs of a scripted backend that answers record ``i``'s sample ``j`` with ``answers[i][j]`` (it
    replies to request index ``i`` with row ``i·n + j``)."""
    rows = ["no answer"] * (n * (max(answers) + 1))
    for index, values in answers.items():
        for j, value in enumerate(values):
            rows[index * n + j] = f"#### {value}"
    return rows


def consistency_recipe(tmp_path, steps: list[dict], **verify) -> dict:
    return {"recipe": {"name": "sc", "seed": 2},
            "seeds": {"type": "inline", "records": [{"topic": "sums"}, {"topic": "products"}]},
            "steps": steps,
            "verify": [{"type": "self_consistency", "field": "solution", "min_agreement": 0.5, **verify}],
            "generation": {"target": 4, "max_candidates": 4, "batch_size": 1, "backend": {"type": "scripted"}},
            "output": {"format": "raw", "dir": str(tmp_path / "run")}}


def question_and_solution(answers: dict[int, list[int]]) -> list[dict]:
    return [{"type": "generate", "name": "question", "template": "A question about {topic}:", "sampling": {"n": 2}},
            {"type": "generate", "name": "solution", "template": "Q: {question}\nSolve, end with #### answer:",
             "sampling": {"n": 3}, "backend": {"type": "scripted", "outputs": scripted_rows(answers, 3)}}]


def rejected_indexes(run_dir) -> dict[str, list[int]]:
    rejected: dict[str, list[int]] = {}
    for row in read_rows(run_dir / "rejected.parquet"):
        rejected.setdefault(row["reason"], []).append(int(row["candidate_index"]))
    return {reason: sorted(indexes) for reason, indexes in rejected.items()}


@pytest.mark.parametrize("sequential", [False, True])
def test_self_consistency_votes_the_samples_of_each_parent_record_separately(tmp_path, sequential):
    """Question 0's solutions 1, 1, 2 keep its two 1s: pooled with question 3's 2, 3, 4 (the same
    request) they tied 1 against 2 and were all dropped; pipelined or not, the same records."""
    loaded = recipe_from_dict(consistency_recipe(tmp_path, question_and_solution(ANSWERS)), "sc.toml", tmp_path)
    result = run_recipe(loaded, progress=False, sequential=sequential)
    rows = read_rows(result.run_dir / "data.parquet")
    assert [(int(row["candidate_index"]), row["answer"]) for row in rows] == [(0, "1"), (1, "1"), (6, "3"), (7, "3")]
    assert {json.loads(row["scores"])["self_consistency"] for row in rows} == {0.6667}
    assert rejected_indexes(result.run_dir) == {"minority_answer": [2, 8], "low_agreement": [3, 4, 5, 9, 10, 11]}


def test_self_consistency_placed_after_a_later_fan_out_still_votes_per_parent(tmp_path):
    """With ``after`` a later step that fans out (n = 2), each of its positions holds one copy of the
    parent's three solutions: the vote is over those three, not over the request's twelve records."""
    answers = {0: [1, 1, 2], 6: [2, 3, 4]}  # the solution step's stride is 2 (the later step's n)
    steps = [*question_and_solution(answers),
             {"type": "generate", "name": "check", "template": "Check: {solution}", "sampling": {"n": 2}}]
    loaded = recipe_from_dict(consistency_recipe(tmp_path, steps, after="check"), "sc.toml", tmp_path)
    result = run_recipe(loaded, progress=False)
    rows = read_rows(result.run_dir / "data.parquet")
    assert sorted((int(row["candidate_index"]), row["answer"]) for row in rows) == [(0, "1"), (1, "1"), (2, "1"),
                                                                                     (3, "1")]
    assert rejected_indexes(result.run_dir) == {"minority_answer": [4, 5], "low_agreement": list(range(6, 12))}


def test_self_consistency_on_a_step_of_one_sample_names_that_steps_n(tmp_path):
    """A steps recipe's step samples its own n (default 1): generation.sampling.n does not set it."""
    steps = question_and_solution(ANSWERS)
    del steps[1]["sampling"]
    loaded = recipe_from_dict(consistency_recipe(tmp_path, steps), "sc.toml", tmp_path)
    with pytest.raises(RecipeError) as error:
        build_run_plan(loaded)
    assert error.value.message == ("sc.toml:verify.0: self_consistency compares several samples per prompt, but "
                                   "steps.1.sampling.n (step 'solution') is 1")
    assert error.value.hint == "set steps.1.sampling.n to 5 or more"


# --- a replay backend of a step or a judge: its file checked when the plan is built ------------------


def replay_recipe(tmp_path, **tables: str) -> object:
    recipe = tmp_path / "pref.toml"
    recipe.write_text(textwrap.dedent(f"""
        [recipe]
        name = "pref"
        [seeds]
        type = "inline"
        records = [{{topic = "tides"}}]
        [[steps]]
        type = "generate"
        name = "response"
        template = "About {{topic}}:"
        [[steps]]
        type = "judge"
        name = "score"
        target = "response"
        {tables.get("step", "")}
        {tables.get("verify", "")}
        [generation]
        target = 2
        [generation.backend]
        type = "scripted"
        [output]
        format = "raw"
        dir = "{tmp_path / 'run'}"
    """))
    return recipe


def test_a_steps_replay_backend_with_a_missing_file_fails_at_plan_build_naming_its_key(tmp_path):
    recipe = replay_recipe(tmp_path, step='[steps.backend]\ntype = "replay"\npath = "nojudge.jsonl"')
    with pytest.raises(RecipeError) as error:
        build_run_plan(load_recipe(recipe))
    assert error.value.message == f"{recipe}:steps.1.backend.path: {tmp_path / 'nojudge.jsonl'}: file not found"
    assert error.value.hint.startswith("point it at the jsonl of saved completions")
    with pytest.raises(RecipeError):
        run_recipe(recipe, progress=False)
    assert not (tmp_path / "run").exists(), "nothing written"


def test_a_steps_replay_file_without_its_field_names_that_backends_field_key(tmp_path):
    (tmp_path / "saved.jsonl").write_text('{"completion": "7"}\n')
    recipe = replay_recipe(tmp_path, step='[steps.backend]\ntype = "replay"\npath = "saved.jsonl"')
    with pytest.raises(RecipeError) as error:
        build_run_plan(load_recipe(recipe))
    assert error.value.message.startswith(f"{recipe}:steps.1.backend.field: ")
    assert error.value.hint == "set steps.1.backend.field to the column holding the text"


def test_a_judge_verifiers_replay_backend_with_a_missing_file_fails_at_plan_build(tmp_path):
    judge = ('[[verify]]\ntype = "judge"\nfield = "response"\ntemplate = "Rate {text}. Score:"\n'
             '[verify.backend]\ntype = "replay"\npath = "judge.jsonl"')
    recipe = replay_recipe(tmp_path, verify=judge)
    with pytest.raises(RecipeError) as error:
        build_run_plan(load_recipe(recipe))
    assert error.value.message == f"{recipe}:verify.0.backend.path: {tmp_path / 'judge.jsonl'}: file not found"


# --- evolve: the noise floor at the number of texts a generation is measured on ----------------------


def test_evolve_measures_the_noise_floor_on_as_many_texts_as_a_generation_is_measured_on(tmp_path):
    """A later step with n = 3 gives each fed record three dataset rows: a generation of 60 records is
    measured on 20 texts, and so is real data's noise floor (it was measured on samples of 60)."""
    from test_evolve import RECIPE, TARGET, as_steps, healthy, pool

    from synthgen.evolve import evolve

    sentences = pool()
    (tmp_path / "real.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in sentences[:50]))
    (tmp_path / "heldout.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in sentences[50:350]))
    recipe = tmp_path / "loop.toml"
    recipe.write_text(textwrap.dedent(RECIPE.format(target=TARGET, budget=TARGET)))
    as_steps(recipe)
    recipe.write_text(recipe.read_text().replace('template = "Q: {question}\\nA:"\n',
                                                 'template = "Q: {question}\\nA:"\n[steps.sampling]\nn = 3\n'))
    result = evolve(recipe, generations=1, backend_factory=healthy(sentences[350:]), progress=False)
    assert set(result.noise_notes.values()) == {f"real samples of {TARGET // 3} texts"}
    assert f"real samples of {TARGET // 3} texts" in (result.project / "report.md").read_text()
