"""A generate or rewrite step whose completion is empty drops the record (``empty_output``): the next step
answered an empty question and the record was kept."""

from __future__ import annotations

from helpers_steps import PromptBackend
from test_steps import INSTRUCTION, RESPONSE, run


def test_an_empty_step_output_is_a_reject_and_the_next_step_never_sees_it(tmp_path):
    backend = PromptBackend(empty_when="chess")
    result = run(tmp_path, INSTRUCTION + RESPONSE, backend, target=3)
    rows = result.dataset.to_list()
    assert len(rows) == 3 and all(r["instruction"] and r["response"] for r in rows)
    assert all(r["seed_topic"] != "chess" for r in rows)
    empty = [r for r in result.rejected.to_list() if r["reason"] == "empty_output"]
    assert empty and {r["stage"] for r in empty} == {"instruction"}
    assert all(r["text"] == "" and '"step": "instruction"' in r["evidence"] for r in empty)
    answered = [request.prompt for requests, _ in backend.calls for request in requests]
    assert not any(prompt.startswith("Question: \nAnswer:") for prompt in answered)


def test_the_funnel_still_adds_up(tmp_path):
    result = run(tmp_path, INSTRUCTION + RESPONSE, PromptBackend(empty_when="chess"), target=3)
    report = result.report
    assert report.candidate_records == len(result.dataset) + len(result.rejected) == report.kept + report.rejected


def test_the_last_step_s_text_is_left_to_the_recipe_s_verifiers(tmp_path):
    """One step (or the last): its empty output reaches the verifiers, where ``non_empty`` names it."""
    body = INSTRUCTION + """
    [[verify]]
    type = "non_empty"
    """
    result = run(tmp_path, body, PromptBackend(empty_when="chess"), target=3)
    empty = [r for r in result.rejected.to_list() if r["reason"] == "empty_output"]
    assert empty and {r["stage"] for r in empty} == {"non_empty"}
