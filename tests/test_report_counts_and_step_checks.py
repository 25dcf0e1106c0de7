"""Bug-hunt fixes: candidate records counted once per record, over-target records as accepted, step columns
that two steps would write, preference-step references, and the tfidf embedder's missing reference."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from helpers_steps import PromptBackend, write_steps_recipe

from synthgen.api import run_recipe
from synthgen.cli import cli
from synthgen.publish import build_hub_folder
from synthgen.report.build import acceptance_line, rejected_phrase, summary_counts

FAN_FIRST = """
[[steps]]
type = "generate"
name = "question"
template = "Write a question about {topic} that {persona} would ask.\\nQuestion:"
[steps.sampling]
n = 2

[[verify]]
type = "regex"
field = "question"
must_match = ["^(amber|brook|cinder|delta|ember|fable|grove)"]
"""
RESPONSE = """
[[steps]]
type = "generate"
name = "response"
template = "Question: {question}\\nAnswer:"
[steps.sampling]
n = 3
"""
PREFERENCE = RESPONSE.replace("n = 3", "n = 4") + """
[[steps]]
type = "judge"
name = "score"
target = "response"
prompt_field = "question"

[[steps]]
type = "preference"
prompt = "question"
response = "response"
score = "score"
min_margin = 2
"""


def run(tmp_path, body, **kw):
    return run_recipe(write_steps_recipe(tmp_path, body, **kw), backend=PromptBackend(), progress=False,
                      sequential=True)


def validate(tmp_path, body) -> tuple[str, str]:
    path = write_steps_recipe(tmp_path, body)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return str(path), lines[0]


def header(run_dir) -> str:
    return (run_dir / "report.md").read_text().split("## Funnel")[0]


# --- #2: a fan-out first step's children are counted once ----------------------------------------


def test_a_fan_out_first_step_counts_each_candidate_record_once(tmp_path):
    result = run(tmp_path, FAN_FIRST, target=6)
    report = result.report
    made = len(result.dataset) + len(result.rejected)
    assert report.stage("question").created > 0 and report.rejected > 0
    assert report.candidate_records == made == report.throughput.candidates
    assert f"rejected: {report.rejected} of {made} candidates\n" in header(result.run_dir)
    assert "fan-out children" not in header(result.run_dir)
    assert f"rejected: {report.rejected} of {made} candidates<" in (result.run_dir / "report.html").read_text()
    card = (build_hub_folder(result.run_dir, tmp_path / "hub", "me/tiny", force=True) / "README.md").read_text()
    assert f"candidates generated: {made} candidates, rejected: {report.rejected}" in card


def test_two_fan_out_steps_count_the_records_that_ended_kept_or_rejected(tmp_path):
    result = run(tmp_path, FAN_FIRST + RESPONSE, target=10)
    report = result.report
    made, first = len(result.dataset) + len(result.rejected), report.throughput.candidates
    assert made == report.candidate_records == first + report.stage("response").created
    over = sum(1 for r in result.rejected.to_list() if r["reason"] == "over_target")
    assert report.acceptance_rate == round((report.kept + over) / made, 4)
    phrase = f"{made} candidate records ({first} first-step candidates + {made - first} fan-out children)"
    assert f"rejected: {report.rejected} of {phrase}" in header(result.run_dir)


def test_the_console_line_and_the_report_count_preference_pairs_alike(tmp_path):
    result = run(tmp_path, FAN_FIRST.replace("n = 2", "n = 1") + PREFERENCE, target=2, budget=12)
    report = result.report
    merged = report.stage("preference").merged
    made = len(result.dataset) + len(result.rejected) + merged
    assert merged > 0 and report.candidate_records == made
    phrase = rejected_phrase(report.to_dict())
    assert f"; {merged} merged into preference pairs)" in phrase and phrase.startswith(f"{report.rejected} of {made} ")
    assert summary_counts(report).endswith(f"{report.rejected} rejected of {phrase.split(' of ', 1)[1]}")
    assert f"rejected: {phrase}" in header(result.run_dir)


# --- #10: records cut over the target passed every stage ----------------------------------------


def test_over_target_records_count_as_accepted_and_are_named(tmp_path):
    result = run(tmp_path, FAN_FIRST.split("[[verify]]")[0], target=3)
    report = result.report
    over = [r for r in result.rejected.to_list() if r["reason"] == "over_target"]
    assert report.kept == 3 and len(over) == 1 and report.rejected == 1
    assert report.acceptance_rate == 1.0
    line = "100.0% (4 of 4 candidate records passed every stage; 1 of them cut over the target)"
    assert f"acceptance rate: {line}" in header(result.run_dir)
    assert f"acceptance rate: {line}" in (result.run_dir / "report.html").read_text()
    assert acceptance_line(report.to_dict()) == line


# --- #5: a step's extra columns may not collide with another step's ------------------------------


def test_a_step_named_like_a_rewrite_operator_column_is_refused(tmp_path):
    body = FAN_FIRST.split("[[verify]]")[0] + """
    [[steps]]
    type = "rewrite"
    name = "evolved"
    source = "question"

    [[steps]]
    type = "generate"
    name = "evolved_operator"
    template = "Answer: {evolved}"
    """
    path, line = validate(tmp_path, body)
    assert line.startswith(f"Error: {path}:steps.2.name: two steps write the column 'evolved_operator': "
                           "step 'evolved' (its rewrite operator column)"), line
    assert "give each step its own name" in line


def test_a_rewrite_whose_operator_column_is_an_earlier_step_is_refused(tmp_path):
    body = FAN_FIRST.split("[[verify]]")[0] + """
    [[steps]]
    type = "template"
    name = "evolved_operator"
    template = "{topic}"

    [[steps]]
    type = "rewrite"
    name = "evolved"
    source = "question"
    """
    path, line = validate(tmp_path, body)
    assert line.startswith(f"Error: {path}:steps.2.name: two steps write the column 'evolved_operator'"), line


def test_a_step_writing_a_preference_pair_column_is_refused_at_the_preference_step(tmp_path):
    template = '[[steps]]\ntype = "template"\nname = "margin"\ntemplate = "about {topic}"\n\n'
    body = FAN_FIRST.split("[[verify]]")[0] + PREFERENCE.replace('[[steps]]\ntype = "preference"',
                                                                 template + '[[steps]]\ntype = "preference"')
    path, line = validate(tmp_path, body)
    assert line.startswith(f"Error: {path}:steps.4: two steps write the column 'margin': step 'margin' and this "
                           "preference step"), line
    assert "rename step 'margin'" in line


def test_a_later_step_named_like_a_pair_column_is_refused(tmp_path):
    body = FAN_FIRST.split("[[verify]]")[0] + PREFERENCE + """
    [[steps]]
    type = "template"
    name = "chosen"
    template = "x"
    """
    path, line = validate(tmp_path, body)
    assert line.startswith(f"Error: {path}:steps.4.name: two steps write the column 'chosen': step 'preference' "
                           "(a preference pair column) and step 'chosen' (its name)"), line


# --- #13 / #14: what a preference step pairs ------------------------------------------------------


def test_a_preference_response_naming_a_seed_field_is_one_line(tmp_path):
    body = FAN_FIRST.split("[[verify]]")[0] + PREFERENCE.replace('response = "response"', 'response = "topic"')
    path, line = validate(tmp_path, body)
    assert line.startswith(f"Error: {path}:steps.3.response: 'topic' is a seed field"), line
    assert "nothing to pair" in line and "generate or rewrite step" in line


def test_pairing_a_template_step_hints_at_a_sampled_step_not_its_sampling(tmp_path):
    body = FAN_FIRST.split("[[verify]]")[0] + PREFERENCE.replace('response = "response"', 'response = "tmpl"') \
        .replace('[[steps]]\ntype = "preference"', '[[steps]]\ntype = "template"\nname = "tmpl"\n'
                 'template = "{response}"\n\n[[steps]]\ntype = "preference"')
    path, line = validate(tmp_path, body)
    assert line.startswith(f"Error: {path}:steps.4.response: 'tmpl' is written by template step 'tmpl'"), line
    assert "sampling has n >= 2" in line and "in step 'tmpl''s sampling" not in line


def test_pairing_a_rewrite_operator_column_is_one_line(tmp_path):
    body = FAN_FIRST.split("[[verify]]")[0] + """
    [[steps]]
    type = "rewrite"
    name = "evolved"
    source = "question"
    [steps.sampling]
    n = 2
    [[steps]]
    type = "judge"
    name = "score"
    target = "evolved"
    [[steps]]
    type = "preference"
    prompt = "question"
    response = "evolved_operator"
    score = "score"
    """
    path, line = validate(tmp_path, body)
    assert line.startswith(f"Error: {path}:steps.3.response: 'evolved_operator' is a column of rewrite step"), line


def test_a_preference_step_on_sampled_responses_still_validates(tmp_path):
    path = write_steps_recipe(tmp_path, FAN_FIRST.split("[[verify]]")[0] + PREFERENCE)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.output


# --- #11: the tfidf embedder's missing reference names the key ------------------------------------


@pytest.mark.parametrize("reference, key", [(None, "diversity.embedder"), ("blank.jsonl", "diversity.reference")])
def test_tfidf_without_reference_texts_names_the_key(tmp_path, reference, key):
    (tmp_path / "blank.jsonl").write_text('{"text": " "}\n')
    table = "\n[diversity]\nembedder = 'tfidf'\nnear_duplicate_threshold = false\n[diversity.gate]\nenabled = false\n"
    if reference:
        table = table.replace("[diversity.gate]", f"reference = '{reference}'\n[diversity.gate]")
    path, line = validate(tmp_path, FAN_FIRST + table)
    assert line.startswith(f"Error: {path}:{key}: the tfidf embedder is fitted on real texts"), line
