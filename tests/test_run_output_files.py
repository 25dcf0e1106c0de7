"""What a run writes beside its dataset: report.md shows control characters in sample texts as ``\\xNN``
escapes (a raw NUL made `grep` call the report binary, and an escape sequence would drive the terminal that
prints it); a run that rejected nothing writes rejected.parquet with the columns a run with rejects has (it
had 7 of the 12, so concatenating several runs' rejects failed on it); a reject keeps its steps' columns
(a rejected response kept no trace of the instruction it answered)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq

from synthgen.api import run_recipe

RECIPE = """
[recipe]
name = "outputs"
seed = 1

[seeds]
type = "inline"
records = [{{topic = "tea"}}, {{topic = "maps"}}, {{topic = "rivers"}}]

[prompt]
template = "Say something about {{topic}}."

[generation]
target = 2
max_candidates = 6
batch_size = 3

[generation.backend]
type = "scripted"
outputs = {outputs}

[[verify]]
type = "length"
unit = "words"
min = 3
"""


def run(folder: Path, outputs: str):
    folder.mkdir()
    (folder / "r.toml").write_text(RECIPE.format(outputs=outputs))
    return run_recipe(folder / "r.toml", out=folder / "run", progress=False)


def test_report_md_shows_control_characters_as_escapes(tmp_path: Path) -> None:
    result = run(tmp_path / "c", '["kept text\\u0000with a nul and \\u001b[31mred\\u001b[0m words", "short"]')
    assert any("\x00" in row["text"] for row in result.dataset.to_list())  # the data keeps the model's text
    report = (tmp_path / "c" / "run" / "report.md").read_text()
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", report)
    assert "kept text\\x00with a nul and \\x1b[31mred\\x1b[0m words" in report


def test_no_rejects_and_some_rejects_give_the_same_rejected_columns(tmp_path: Path) -> None:
    run(tmp_path / "some", '["kept text with words", "short"]')
    run(tmp_path / "none", '["kept text with words"]')
    some, none = (pq.read_table(tmp_path / name / "run" / "rejected.parquet") for name in ("some", "none"))
    assert none.num_rows == 0 < some.num_rows
    assert none.schema.equals(some.schema, check_metadata=False)


def test_a_rejected_response_keeps_the_instruction_it_answered(tmp_path: Path) -> None:
    from helpers_steps import PromptBackend
    from test_steps import INSTRUCTION, RESPONSE, run as run_steps

    body = INSTRUCTION + RESPONSE + """
    [[verify]]
    type = "non_empty"
    field = "response"
    """
    result = run_steps(tmp_path, body, PromptBackend(empty_when="Answer:"), target=2, budget=4)
    rejects = result.rejected.to_list()
    assert rejects and all(r["reason"] == "empty_output" and r["text"] == "" for r in rejects)
    columns = [json.loads(r["columns"]) for r in rejects]
    assert all(c["response"] == "" and len(c["instruction"].split()) == 6 for c in columns)


def test_a_kept_record_moved_to_the_rejects_keeps_its_columns_and_not_its_provenance() -> None:
    from synthgen.provenance import RunContext, record_as_reject, record_row, rejection_row
    from synthgen.records import Candidate, GenerationRequest, Rejection, Seed

    request = GenerationRequest(0, "Write about tea.", Seed(0, {"topic": "tea"}), 0)
    candidate = Candidate(request, 0, "an answer", 2, "stop", columns={"instruction": "why tea?", "response": "an answer"})
    ctx = RunContext(0, 0, "hash", "model", "scripted", {"n": 1})
    row = record_row(candidate, ctx, "now", main_field="response", step_columns=("instruction", "response"))
    moved = record_as_reject(row, "target", "over_target")
    rejected = rejection_row(Rejection(candidate, "non_empty", "empty_output"), ctx, "now")
    assert json.loads(moved["columns"]) == json.loads(rejected["columns"]) == candidate.columns
    assert rejection_row(Rejection(Candidate(request, 0, "x", 1), "s", "r"), ctx, "now")["columns"] is None
