"""Multi-step records on a deterministic backend: each step type, batching, fan-out, placement, formats."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from helpers_steps import PromptBackend, write_steps_recipe

from synthgen.api import run_recipe
from synthgen.cli import cli

INSTRUCTION = """
[[steps]]
type = "generate"
name = "instruction"
template = "Write a question about {topic} that {persona} would ask.\\nQuestion:"
"""
RESPONSE = """
[[steps]]
type = "generate"
name = "response"
template = "Question: {instruction}\\nAnswer:"
"""


def run(tmp_path, body, backend=None, **kw):
    """Sequential, so the backend's calls are exactly one per step per batch (read-ahead would add one)."""
    return run_recipe(write_steps_recipe(tmp_path, body, **kw), backend=backend or PromptBackend(), progress=False,
                      sequential=True)


def test_two_generate_steps_chain_columns_with_one_call_per_step_per_batch(tmp_path):
    backend = PromptBackend()
    result = run(tmp_path, INSTRUCTION + RESPONSE, backend)
    rows = result.dataset.to_list()
    assert len(rows) == 6
    for row in rows:
        assert row["instruction"] and row["response"] and row["instruction"] != row["response"]
    prompts = backend.prompts()
    batches = result.report.to_dict()["throughput"]["batches"]
    assert len(prompts) == 2 * batches  # one call per step per batch, never one per record
    assert all(p.startswith("Write a question") for p in prompts[0])
    assert all(p.startswith("Question: ") for p in prompts[1])
    assert prompts[1][0] == f"Question: {rows[0]['instruction']}\nAnswer:"
    assert [s["stage"] for s in result.report.to_dict()["stages"]][:2] == ["instruction", "response"]


def test_a_verifier_on_the_instruction_runs_before_the_response_is_paid_for(tmp_path):
    verify = """
    [[verify]]
    type = "regex"
    field = "instruction"
    must_match = ["amber|brook"]
    """
    backend = PromptBackend()
    result = run(tmp_path, INSTRUCTION + RESPONSE + verify, backend, target=3)
    stages = [s["stage"] for s in result.report.to_dict()["stages"]]
    assert stages.index("regex") == stages.index("instruction") + 1 < stages.index("response")
    dropped = result.report.to_dict()["stages"][stages.index("regex")]["dropped"]
    asked = sum(len(p) for p in backend.prompts() if p and p[0].startswith("Question:"))
    generated = sum(len(p) for p in backend.prompts() if p and p[0].startswith("Write"))
    assert dropped > 0 and asked == generated - dropped
    rejected = result.rejected.to_list()
    assert {r["reason"] for r in rejected if r["stage"] == "regex"} == {"regex_not_matched"}


def test_fan_out_gives_children_parent_ids_and_unique_indices(tmp_path):
    body = INSTRUCTION + RESPONSE + "[steps.sampling]\nn = 3\n"
    result = run(tmp_path, body, target=9, budget=40)
    rows = result.dataset.to_list()
    assert len({r["candidate_index"] for r in rows}) == len(rows) == 9
    by_parent = {}
    for row in rows:
        by_parent.setdefault(row["parent_id"], []).append(row)
    assert all(len({r["instruction"] for r in group}) == 1 for group in by_parent.values())
    assert len(by_parent) == 3 and all(len(group) == 3 for group in by_parent.values())
    assert result.report.to_dict()["stages"][1]["created"] == 2 * result.report.to_dict()["stages"][1]["seen"]


def test_sample_and_template_steps_need_no_model(tmp_path):
    body = """
    [[steps]]
    type = "sample"
    name = "difficulty"
    values = ["easy", "hard"]
    weights = [0, 1]

    [[steps]]
    type = "template"
    name = "brief"
    template = "A {difficulty} question about {topic}"
    """ + INSTRUCTION.replace("Write a question", "{brief}. Write it")
    backend = PromptBackend()
    result = run(tmp_path, body, backend)
    rows = result.dataset.to_list()
    assert {r["difficulty"] for r in rows} == {"hard"}
    assert all(r["brief"] == f"A hard question about {r['seed_topic']}" for r in rows)
    assert backend.prompts()[0][0].startswith("A hard question about")


def test_rewrite_records_the_operator_and_is_deterministic(tmp_path):
    body = INSTRUCTION + """
    [[steps]]
    type = "rewrite"
    name = "evolved"
    source = "instruction"
    operators = ["deepen", "concretize"]
    """
    first = run(tmp_path, body).dataset.to_list()
    again = run_recipe(write_steps_recipe(tmp_path, body, name="again.toml"), backend=PromptBackend(),
                       out=tmp_path / "again", progress=False).dataset.to_list()
    assert {r["evolved_operator"] for r in first} <= {"deepen", "concretize"}
    assert len({r["evolved_operator"] for r in first}) == 2
    assert [(r["evolved"], r["evolved_operator"]) for r in first] == [(r["evolved"], r["evolved_operator"]) for r in again]


def test_chat_step_stores_alternating_messages(tmp_path):
    body = INSTRUCTION + """
    [[steps]]
    type = "chat"
    name = "messages"
    turns = 3
    first_user = "instruction"
    user_template = "You are {persona}. Continue the chat.\\n{history}\\nUser:"

    [output]
    format = "messages"
    """
    backend = PromptBackend()
    result = run(tmp_path, body, backend, target=4)
    rows = result.dataset.to_list()
    assert set(result.dataset.column_names) >= {"messages", "id", "seed_topic"}
    assert "instruction" not in result.dataset.column_names
    for row in rows:
        roles = [m["role"] for m in row["messages"]]
        assert roles == ["user", "assistant"] * 3
    batches = result.report.to_dict()["throughput"]["batches"]
    assert len(backend.calls) == batches * (1 + 5)  # instruction + 5 turns (the first user turn is a column)
    assert all("\nUser:" in sampling.stop for _, sampling in backend.calls[1:])


def test_an_empty_chat_turn_is_a_reject_with_its_reason(tmp_path):
    body = """
    [[steps]]
    type = "chat"
    turns = 2
    user_template = "You are {persona} asking about {topic}.\\n{history}\\nUser:"
    """
    result = run(tmp_path, body, PromptBackend(empty_when="chess"), target=3)
    rejected = [r for r in result.rejected.to_list() if r["stage"] == "messages"]
    assert rejected and {r["reason"] for r in rejected} == {"empty_turn"}
    assert all("chess" not in r["seed_topic"] for r in result.dataset.to_list())


def test_judge_step_writes_a_score_and_drops_unparseable_replies(tmp_path):
    body = INSTRUCTION + RESPONSE + """
    [[steps]]
    type = "judge"
    name = "score"
    target = "response"
    prompt_field = "instruction"
    """
    backend = PromptBackend(scores={"amber": "no idea"})
    result = run(tmp_path, body, backend)
    rows = result.dataset.to_list()
    assert rows and all(1 <= r["score"] <= 10 for r in rows)
    assert all("amber" not in r["response"] + r["instruction"] for r in rows)
    reasons = {r["reason"] for r in result.rejected.to_list() if r["stage"] == "score"}
    assert reasons == {"judge_unparseable"}


PREFERENCE = INSTRUCTION + RESPONSE + """
[steps.sampling]
n = 4
temperature = 1.0

[[steps]]
type = "judge"
name = "score"
target = "response"
prompt_field = "instruction"

[[steps]]
type = "preference"
prompt = "instruction"
response = "response"
score = "score"
min_margin = 2

[output]
format = "preference"
"""


def test_preference_pairs_best_and_worst_with_a_margin(tmp_path):
    result = run(tmp_path, PREFERENCE, target=4, budget=40)
    rows = result.dataset.to_list()
    assert len(rows) == 4
    for row in rows:
        assert row["chosen"] != row["rejected"] and row["chosen_score"] - row["rejected_score"] >= 2
        assert row["margin"] == row["chosen_score"] - row["rejected_score"]
    assert {"prompt", "chosen", "rejected"} <= set(result.dataset.column_names)
    assert "response" not in result.dataset.column_names
    stage = next(s for s in result.report.to_dict()["stages"] if s["stage"] == "preference")
    assert stage["seen"] + stage.get("created", 0) == stage["kept"] + stage["dropped"] + stage["merged"]
    reasons = {r["reason"] for r in result.rejected.to_list() if r["stage"] == "preference"}
    assert reasons <= {"preference_unused", "preference_tie", "single_survivor"} and "preference_unused" in reasons


def test_ties_and_lone_survivors_are_rejects(tmp_path):
    tie = PREFERENCE.replace("min_margin = 2", "min_margin = 10")
    result = run(tmp_path, tie, target=2, budget=8)
    assert len(result.dataset) == 0
    reasons = {r["reason"] for r in result.rejected.to_list() if r["stage"] == "preference"}
    assert reasons == {"preference_tie"}


def test_prompt_completion_and_messages_formats(tmp_path):
    pc = run(tmp_path, INSTRUCTION + RESPONSE + "[output]\nformat = 'prompt_completion'\nprompt = 'instruction'\n")
    row = pc.dataset[0]
    assert set(pc.dataset.column_names) >= {"prompt", "completion", "id", "recipe_hash"}
    assert "instruction" not in pc.dataset.column_names and row["completion"]
    msgs = run_recipe(write_steps_recipe(tmp_path, INSTRUCTION + RESPONSE + "[output]\nformat = 'messages'\n"
                                         "prompt = 'instruction'\n", name="m.toml"),
                      backend=PromptBackend(), out=tmp_path / "m", progress=False)
    message_row = msgs.dataset[0]
    assert [m["role"] for m in message_row["messages"]] == ["user", "assistant"]
    assert message_row["messages"][1]["content"] == pc.dataset[0]["completion"]


def test_rows_in_messages_format_render_through_a_chat_template(tmp_path):
    transformers = pytest.importorskip("transformers")
    from synthgen.models import resolve_model

    try:
        folder = resolve_model("embedded", pull=False)
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"embedded model not pulled: {exc}")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    template = ("{{ bos_token }}{% for m in messages %}<start_of_turn>"
                "{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n{{ m['content'] }}<end_of_turn>\n"
                "{% endfor %}")
    result = run(tmp_path, INSTRUCTION + RESPONSE + "[output]\nformat = 'messages'\nprompt = 'instruction'\n")
    row = result.dataset[0]
    text = tokenizer.apply_chat_template(row["messages"], chat_template=template, tokenize=False)
    assert text.startswith("<bos><start_of_turn>user\n" + row["messages"][0]["content"])
    assert "<start_of_turn>model\n" + row["messages"][1]["content"] in text


@pytest.mark.parametrize("body, key, says", [
    (INSTRUCTION.replace("{topic}", "{response}") + RESPONSE, "steps.0.template", "written by a later step"),
    (INSTRUCTION.replace("{topic}", "{topc}"), "steps.0.template", "did you mean 'topic'"),
    (INSTRUCTION + "[[steps]]\ntype = 'chat'\nturns = 0\nuser_template = 'x'\n", "steps.1.turns", "greater than"),
    (INSTRUCTION + RESPONSE + "[[steps]]\ntype = 'preference'\nprompt = 'instruction'\nresponse = 'response'\n"
     "score = 'response'\n", "steps.2.response", "nothing to pair"),
    (INSTRUCTION + "[[verify]]\ntype = 'non_empty'\nfield = 'respons'\n", "verify.0.field", "not a generated column"),
    (INSTRUCTION + "[output]\nformat = 'preference'\n", "output.format", "needs a preference step"),
])
def test_bad_steps_are_one_line_with_file_key_and_fix(tmp_path, body, key, says):
    path = write_steps_recipe(tmp_path, body)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1, result.output
    first = result.output.strip().splitlines()[0]
    assert f"{path}:{key}" in first and says in first, first


def test_prompt_and_steps_together_are_refused(tmp_path):
    path = write_steps_recipe(tmp_path, INSTRUCTION + "[prompt]\ntemplate = 'x'\n")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1 and "either [prompt]" in result.output


def test_report_and_manifest_name_the_format(tmp_path):
    result = run(tmp_path, INSTRUCTION + RESPONSE + "[output]\nformat = 'prompt_completion'\nprompt = 'instruction'\n")
    assert result.report.to_dict()["output"]["format"] == "prompt_completion"
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["output"] == {"format": "prompt_completion", "main_field": "response"}


def test_a_run_that_keeps_nothing_still_has_its_format_columns(tmp_path):
    body = INSTRUCTION + RESPONSE + "[output]\nformat = 'messages'\nprompt = 'instruction'\n" + \
        "[[verify]]\ntype = 'length'\nfield = 'response'\nmin = 500\n"
    result = run(tmp_path, body, target=2, budget=4)
    assert len(result.dataset) == 0 and result.dataset.column_names == ["id", "messages"]


def test_formatted_rows_keep_scores_and_sampled_values_but_not_step_texts(tmp_path):
    body = "[[steps]]\ntype = 'sample'\nname = 'level'\nvalues = ['a', 'b']\n" + INSTRUCTION + RESPONSE + """
    [[steps]]
    type = "judge"
    name = "score"
    target = "response"

    [output]
    format = "messages"
    prompt = "instruction"
    """
    columns = run(tmp_path, body).dataset.column_names
    assert {"messages", "score", "level"} <= set(columns)
    assert not {"instruction", "response", "text"} & set(columns)


def test_a_steps_recipe_mixes_by_its_text(tmp_path):
    (tmp_path / "real.jsonl").write_text("".join(json.dumps({"text": f"real saying number {i}"}) + "\n" for i in range(6)))
    body = INSTRUCTION + RESPONSE + "[output]\nformat = 'messages'\nprompt = 'instruction'\n" + \
        "[mix]\nreal = 'real.jsonl'\nmax_synthetic_share = 0.5\n"
    result = run(tmp_path, body)
    mix = result.report.mix
    assert mix["n_real"] == 6 and mix["n_synthetic"] == 6 and mix["synthetic_share"] == 0.5


def test_a_raw_steps_recipe_mixes_by_its_main_column(tmp_path):
    """A raw dataset of a [[steps]] recipe has no ``text`` column: its last text step is what is mixed
    (it was mixed as empty text, and every record dropped as ``missing_text``)."""
    (tmp_path / "real.jsonl").write_text("".join(json.dumps({"text": f"real saying number {i}"}) + "\n" for i in range(6)))
    result = run(tmp_path, INSTRUCTION + RESPONSE + "[mix]\nreal = 'real.jsonl'\nmax_synthetic_share = 0.5\n")
    assert result.report.mix["n_synthetic"] == 6 and result.report.mix["dropped"] == {}
    from synthgen.tabular import read_rows

    mixed = {row["text"] for row in read_rows(result.run_dir / "mix" / "data.parquet") if row["source"] == "synthetic"}
    assert mixed <= set(result.dataset["response"]) and len(mixed) == 6


def test_the_report_samples_of_a_raw_steps_dataset_show_its_main_column(tmp_path):
    """The raw dataset has no ``text`` column; report.html (and a rebuilt report.md) showed blank samples."""
    from synthgen.report.html import rebuild_report

    result = run(tmp_path, INSTRUCTION + RESPONSE)
    first = result.dataset["response"][0]
    assert first and first in (result.run_dir / "report.html").read_text()
    rebuild_report(result.run_dir)
    samples = (result.run_dir / "report.md").read_text().split("## Samples kept")[1]
    assert f"- {' '.join(first.split())[:200]}" in samples


EMPTY_PROMPT_HASH = "e3b0c44298fc1c14"


@pytest.mark.parametrize("first", [
    """
    [[steps]]
    type = "chat"
    name = "messages"
    turns = 1
    user_template = "You are {persona}. Ask about {topic}.\\nUser:"
    """,
    """
    [[steps]]
    type = "rewrite"
    name = "evolved"
    source = "topic"
    operators = ["deepen"]
    """])
def test_prompt_hash_is_the_first_prompt_sent_when_the_first_step_is_chat_or_rewrite(tmp_path, first):
    from synthgen.records import content_hash

    backend = PromptBackend()
    rows = run(tmp_path, first, backend, target=2).dataset.to_list()
    sent = {content_hash(request.prompt) for request in backend.calls[0][0]}
    assert rows and all(row["prompt_hash"] in sent for row in rows)
    assert all(not row["prompt_hash"].startswith(EMPTY_PROMPT_HASH) for row in rows)


def test_acceptance_rate_divides_by_every_candidate_record_fan_out_included(tmp_path):
    body = INSTRUCTION + RESPONSE.replace('Answer:"', 'Answer:"\n[steps.sampling]\nn = 3') + """
    [[verify]]
    type = "regex"
    field = "response"
    must_match = ["^(amber|brook|cinder|delta|ember)"]
    """
    result = run(tmp_path, body, target=4)
    report = result.report
    made = report.throughput.candidates + report.stage("response").created
    assert report.candidate_records == made == report.kept + report.rejected and report.rejected > 0
    over = sum(1 for row in result.rejected.to_list() if row["reason"] == "over_target")
    assert report.acceptance_rate == round((report.kept + over) / made, 4) < 1.0
    phrase = f"({report.kept + over} of {made} candidate records passed every stage"
    assert phrase in (result.run_dir / "report.md").read_text()
    assert phrase in (result.run_dir / "report.html").read_text()
