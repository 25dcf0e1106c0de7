"""Bug-hunt fixes in [[steps]] recipes: preference pairs whose chosen and rejected are one text, a later
step's few-shot examples in ``parent_ids``, and a run-wide ``[generation.sampling] n`` in a steps recipe."""

from __future__ import annotations

import json
import os
import signal

from click.testing import CliRunner
from helpers_steps import PromptBackend, write_steps_recipe
from test_resume import stable, start_generate, wait_for_checkpoints

from synthgen.api import run_recipe
from synthgen.cli import cli
from synthgen.records import content_hash


def validate_error(path) -> str:
    """The one line `synthgen validate` prints for a refused recipe."""
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


# --- bug 2: a preference pair whose chosen and rejected are the same text ------------------------------

# The response step's scripted replies repeat with period 3 over (record index · 4 + j), and the judge
# scores j = 0 best and j = 2 worst: prompt k pairs reply (k mod 3) with reply (k + 2 mod 3), so
# every third prompt pairs "Same answer." with itself.
SAME_TEXT = """
[recipe]
name = "pref-same"
seed = 5

[seeds]
type = "grid"
[seeds.axes]
topic = ["composting", "time zones", "bread yeast", "tides", "recycling", "sleep"]

[[steps]]
type = "generate"
name = "instruction"
template = "Topic: {topic}\\nQuestion:"

[[steps]]
type = "generate"
name = "response"
template = "Question: {instruction}\\nAnswer:"
[steps.sampling]
n = 4
[steps.backend]
type = "scripted"
outputs = ["Same answer.", "Same answer.", "A different answer."]

[[steps]]
type = "judge"
name = "score"
target = "response"
prompt_field = "instruction"
[steps.backend]
type = "scripted"
outputs = ["9", "5", "1", "5"]

[[steps]]
type = "preference"
prompt = "instruction"
response = "response"
score = "score"
min_margin = 1

[generation]
target = 4
max_candidates = 6
batch_size = 2
[generation.backend]
type = "scripted"

[output]
format = "preference"
"""


def test_a_pair_of_one_text_twice_goes_to_the_rejects_and_the_counts_add_up(tmp_path):
    recipe = tmp_path / "pref.toml"
    recipe.write_text(SAME_TEXT)
    result = run_recipe(recipe, out=tmp_path / "run", progress=False, sequential=True)
    rows = result.dataset.to_list()
    assert rows and all(row["chosen"] != row["rejected"] for row in rows)
    identical = [r for r in result.rejected.to_list() if r["reason"] == "preference_identical"]
    assert len(identical) == 2 * 2 and {r["text"] for r in identical} == {"Same answer."}
    assert {r["stage"] for r in identical} == {"preference"}
    assert json.loads(identical[0]["evidence"]) == {"chosen_score": 9.0, "margin": 8.0, "rejected_score": 1.0}
    report = result.report.to_dict()
    stage = next(s for s in report["stages"] if s["stage"] == "preference")
    assert stage["reasons"]["preference_identical"] == 4
    assert stage["seen"] == stage["kept"] + stage["dropped"] + stage["merged"]
    assert report["candidate_records"] == report["kept"] + report["rejected"] + stage["merged"]


PAIRING_COPIES = """
[[steps]]
type = "generate"
name = "instruction"
template = "Topic: {topic}\\nQuestion:"
[steps.sampling]
n = 2

[[steps]]
type = "generate"
name = "response"
template = "Question: {instruction}\\nAnswer:"
[steps.sampling]
n = 3

[[steps]]
type = "judge"
name = "score"
target = "response"
prompt_field = "instruction"

[[steps]]
type = "preference"
prompt = "topic"
response = "instruction"
score = "score"

[output]
format = "preference"
"""


def test_pairing_a_column_fanned_out_again_before_the_pairing_is_one_line(tmp_path):
    path = write_steps_recipe(tmp_path, PAIRING_COPIES)
    line = validate_error(path)
    assert line.startswith(f"Error: {path}:steps.3.response: 'instruction' is fanned out again by generate step "
                           "'response' (n = 3), so each group holds copies of the same response"), line
    assert "set response = 'response'" in line and "n = 1 in the sampling of 'response'" in line


# --- bug 3: every step's few-shot examples are the record's parent_ids -----------------------------------

EXAMPLES = [f"Real question number {i} about something?" for i in range(8)]


def few_shot_steps(first_few_shot: bool) -> str:
    few_shot = '[steps.few_shot]\npath = "real.jsonl"\nk = 2\n'
    return f"""
[[steps]]
type = "generate"
name = "instruction"
template = "{'{examples}' if first_few_shot else ''}Ask about {{topic}}:"
{few_shot if first_few_shot else ''}
[[steps]]
type = "generate"
name = "response"
template = "Examples:\\n{{examples}}\\nQ: {{instruction}}\\nA:"
{few_shot}
[steps.sampling]
n = 2
"""


def write_examples(folder) -> None:
    (folder / "real.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in EXAMPLES))


def shown_ids(backend: PromptBackend, marker: str) -> dict[str, tuple[str, ...]]:
    """Each prompt starting with ``marker`` → the few-shot ids its request carried."""
    return {r.prompt: r.parent_ids for requests, _ in backend.calls for r in requests if r.prompt.startswith(marker)}


def test_a_later_steps_few_shot_examples_are_the_records_parent_ids(tmp_path):
    write_examples(tmp_path)
    backend = PromptBackend()
    result = run_recipe(write_steps_recipe(tmp_path, few_shot_steps(first_few_shot=False)), backend=backend,
                        progress=False, sequential=True)
    responses = shown_ids(backend, "Examples:")
    rows = result.dataset.to_list()
    assert len(rows) == 6
    for row in rows:
        (ids,) = [ids for prompt, ids in responses.items() if f"Q: {row['instruction']}\n" in prompt]
        assert row["parent_ids"] == list(ids) and len(ids) == 2
        assert set(ids) <= {content_hash(t) for t in EXAMPLES}


def test_parent_ids_list_every_steps_examples_in_step_order_once(tmp_path):
    write_examples(tmp_path)
    backend = PromptBackend()
    result = run_recipe(write_steps_recipe(tmp_path, few_shot_steps(first_few_shot=True), target=12), backend=backend,
                        progress=False, sequential=True)
    firsts = shown_ids(backend, "Real question")
    responses = shown_ids(backend, "Examples:")
    for row in result.dataset.to_list():
        (first,) = [ids for prompt, ids in firsts.items() if prompt.endswith(f"Ask about {row['seed_topic']}:")
                    and row["prompt_hash"] == content_hash(prompt)]
        (second,) = [ids for prompt, ids in responses.items() if f"Q: {row['instruction']}\n" in prompt]
        assert row["parent_ids"] == list(dict.fromkeys(first + second))
    assert any(len(row["parent_ids"]) > 2 for row in result.dataset.to_list())


RESUME_BODY = """
[[steps]]
type = "generate"
name = "instruction"
template = "Ask about {topic}:"

[[steps]]
type = "generate"
name = "response"
template = "Examples:\\n{examples}\\nQ: {instruction}\\nA:"
[steps.few_shot]
path = "real.jsonl"
k = 2
[steps.sampling]
n = 2
"""


def test_a_killed_run_resumes_to_the_same_parent_ids(tmp_path):
    write_examples(tmp_path)
    recipe = write_steps_recipe(tmp_path, RESUME_BODY, target=24, budget=40)
    recipe.write_text(recipe.read_text().replace("batch_size = 4", "batch_size = 2")
                      .replace('type = "scripted"', 'type = "scripted"\ndelay_s = 0.15'))
    reference = run_recipe(recipe, out=tmp_path / "reference", progress=False)
    assert all(len(row["parent_ids"]) == 2 for row in reference.dataset.to_list())
    out = tmp_path / "killed"
    proc = start_generate(recipe, out)
    wait_for_checkpoints(out, 2, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "report.json").exists()
    result = run_recipe(recipe, out=out, progress=False)
    assert result.report.to_dict()["resumed_batches"] >= 2
    assert stable(result.dataset.to_list()) == stable(reference.dataset.to_list())


# --- bug 6: [generation.sampling] n in a steps recipe -------------------------------------------------


def test_a_run_wide_n_in_a_steps_recipe_is_refused_naming_the_step_key(tmp_path):
    write_examples(tmp_path)
    path = write_steps_recipe(tmp_path, few_shot_steps(first_few_shot=False))
    path.write_text(path.read_text().replace("max_tokens = 32", "max_tokens = 32\nn = 4"))
    line = validate_error(path)
    assert line == (f"Error: {path}:generation.sampling.n: a [[steps]] recipe fans out per step, so n = 4 here "
                    "would be ignored (remove it and set steps.<i>.sampling.n on the step that should fan out, "
                    "e.g. steps.1.sampling.n = 4)"), line

