"""Judge and structured-output fixes: a judge whose server is down or fails stops the run (nothing is
rejected for it, a resume continues); a replay-backed judge resumes exactly; the report says whether the
backend enforced the JSON constraint; a JSON key named like a provenance column is renamed, not dropped."""

from __future__ import annotations

import json
import socket
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from synthgen.api import run_recipe
from synthgen.backends.testing import ScriptedBackend
from synthgen.errors import BackendError, SynthgenError
from synthgen.pipeline import VERIFIER_ERROR, VerifierStage
from synthgen.recipe.schema import RESERVED_COLUMNS, ScriptedBackendConfig
from synthgen.records import Candidate, GenerationRequest, Seed
from synthgen.verify.judge import JudgeVerifier
from synthgen.verify.structured import JsonSchemaVerifier
from tests.test_openai_backend import FakeServer, Reply, served

VOLATILE = {"created_at"}


class JudgeServer(FakeServer):
    """test_openai_backend's fake server as a judge: ``/v1/models`` lists ``judge``; every POST answers
    ``reply`` (the completion text), or HTTP 500 while ``failing`` or after ``fail_after`` posts.
    ``owned_by="vllm"`` makes it a vLLM server."""

    def __init__(self):
        super().__init__(models=("judge",))
        self.version = "0.11.0"
        self.reply, self.failing, self.fail_after = "Score: 8", False, None
        self.reply_for = self.judge_reply

    def judge_reply(self, body: dict) -> Reply:
        if self.failing or (self.fail_after is not None and len(self.posts) > self.fail_after):
            return Reply(500, {"error": {"message": "judge exploded"}})
        choice = {"index": 0, "text": self.reply, "finish_reason": "stop"}
        return Reply(body={"choices": [choice], "usage": {"prompt_tokens": 1, "completion_tokens": 1}})

    @property
    def bodies(self) -> list[dict]:
        return [body for _, _, body in self.posts]


@pytest.fixture
def judge_server():
    yield from served(JudgeServer())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


JUDGED_RECIPE = """
[recipe]
name = "judged"
seed = 3

[seeds]
type = "grid"
axes = {{ topic = ["a", "b", "c", "d", "e", "f", "g", "h", "i"] }}

[prompt]
template = "Write about {{topic}}."

[generation]
target = 6
max_candidates = 12
batch_size = 3
pipelined = false
[generation.backend]
type = "scripted"

[[verify]]
type = "judge"
threshold = 7
[verify.backend]
{judge_backend}
"""


def write_judged(tmp_path: Path, judge_backend: str, name: str = "judged.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(JUDGED_RECIPE.format(judge_backend=judge_backend)))
    return path


def openai_judge(base_url: str) -> str:
    return f'type = "openai"\nbase_url = "{base_url}"\nmodel = "judge"\nmax_retries = 0\ntimeout_s = 10'


def stable(rows):
    return [{k: v for k, v in row.items() if k not in VOLATILE} for row in rows]


def checkpoints(out: Path) -> list[Path]:
    return sorted((out / "checkpoints").glob("batch-*.json"))


# --- #1: a judge's infrastructure failure stops the run ----------------------------------------------


def test_unreachable_judge_server_stops_before_anything_is_generated(tmp_path):
    recipe = write_judged(tmp_path, openai_judge(f"http://127.0.0.1:{free_port()}/v1"))
    generator = ScriptedBackend(ScriptedBackendConfig(type="scripted"))
    with pytest.raises(BackendError) as caught:
        run_recipe(recipe, out=tmp_path / "run", backend=generator, progress=False)
    assert "verify.0.backend: cannot reach" in str(caught.value)
    assert generator.calls == [], "the judge's server is checked before the generator is asked"
    assert checkpoints(tmp_path / "run") == []


def test_unreachable_judge_server_is_one_error_line_and_exit_1(tmp_path):
    from synthgen.cli import cli

    recipe = write_judged(tmp_path, openai_judge(f"http://127.0.0.1:{free_port()}/v1"))
    result = CliRunner().invoke(cli, ["generate", str(recipe), "--out", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "verify.0.backend: cannot reach" in errors[0]


def test_judge_server_failing_mid_run_stops_keeps_accepted_records_and_resume_continues(judge_server, tmp_path):
    recipe = write_judged(tmp_path, openai_judge(judge_server.base_url))
    reference = run_recipe(recipe, out=tmp_path / "reference", progress=False)
    out = tmp_path / "run"
    judge_server.posts.clear()
    judge_server.fail_after = 3  # the first batch (3 candidates) is judged, then the server fails
    with pytest.raises(BackendError, match=r"verify\.0\.backend: .*judge exploded"):
        run_recipe(recipe, out=out, progress=False)
    shards = [json.loads(p.read_text()) for p in checkpoints(out)]
    assert shards and all(row["reason"] != VERIFIER_ERROR for s in shards for row in s["rejected"])
    kept_before = [row for s in shards for row in s["kept"]]
    assert kept_before, "the batches judged before the failure stay checkpointed"

    judge_server.fail_after = None
    resumed = run_recipe(recipe, out=out, progress=False)
    assert stable(resumed.dataset.to_list()) == stable(reference.dataset.to_list())
    assert resumed.report.to_dict()["resumed_batches"] == len(shards)


def test_failing_judge_batch_is_not_retried_one_candidate_at_a_time(judge_server, tmp_path):
    recipe = write_judged(tmp_path, openai_judge(judge_server.base_url))
    judge_server.failing = True
    with pytest.raises(BackendError):
        run_recipe(recipe, out=tmp_path / "run", progress=False)
    assert len(judge_server.posts) <= 3, "one attempt per prompt of the batch (max_retries = 0), no one-by-one rerun"
    assert checkpoints(tmp_path / "run") == []


class _Broken:
    name = "broken"

    def __init__(self, error: Exception):
        self.error, self.checked = error, 0

    def check_batch(self, candidates):
        raise self.error

    def check(self, candidate):
        self.checked += 1
        raise self.error


def _candidates(n: int) -> list[Candidate]:
    return [Candidate(GenerationRequest(i, "p", Seed(i, {}), 0), 0, f"text {i}", 2, index=i) for i in range(n)]


def test_verifier_stage_raises_an_infrastructure_failure_instead_of_rejecting():
    verifier = _Broken(BackendError("server down"))
    stage = VerifierStage(verifier)
    with pytest.raises(BackendError):
        stage.run(_candidates(3))
    assert verifier.checked == 0 and stage.stats.n_dropped == 0


def test_verifier_stage_still_rejects_a_row_its_verifier_crashes_on():
    verifier = _Broken(ValueError("odd text"))
    stage = VerifierStage(verifier)
    assert stage.run(_candidates(2)) == []
    assert stage.stats.dropped == {VERIFIER_ERROR: 2} and verifier.checked == 2


# --- #5: the judge's requests are a pure function of the candidate ----------------------------------


def test_judge_request_index_comes_from_the_candidate_not_a_counter():
    backend = ScriptedBackend(ScriptedBackendConfig(type="scripted", outputs=["Score: 8"]))
    judge = JudgeVerifier(backend)
    batch = _candidates(3)
    judge.check_batch(batch)
    judge.check_batch(batch)
    first, second = ([(r.index, r.sampling_seed) for r in call] for call in backend.calls)
    assert first == second and [index for index, _ in first] == [0, 1, 2]


def test_pairwise_judge_asks_two_indices_per_candidate():
    backend = ScriptedBackend(ScriptedBackendConfig(type="scripted", outputs=["A", "B"]))
    judge = JudgeVerifier(backend, mode="pairwise", reference="ref")
    candidate = Candidate(GenerationRequest(0, "p", Seed(0, {"ref": "r"}), 0), 0, "text", 1, index=5)
    judge.check_batch([candidate])
    assert [r.index for r in backend.calls[0]] == [10, 11]


def test_resume_with_a_replay_judge_equals_an_uninterrupted_run(tmp_path):
    scores = ["Score: 9"] * 3 + ["Score: 2"] * 3
    (tmp_path / "replies.jsonl").write_text("".join(json.dumps({"text": s}) + "\n" for s in scores * 4))
    recipe = write_judged(tmp_path, 'type = "replay"\npath = "replies.jsonl"')
    reference = run_recipe(recipe, out=tmp_path / "reference", progress=False)
    assert reference.report.to_dict()["rejected"] > 0, "the replies reject some candidates"

    out = tmp_path / "run"
    run_recipe(recipe, out=out, progress=False)
    for later in checkpoints(out)[1:]:  # as if interrupted after the first batch
        later.unlink()
    resumed = run_recipe(recipe, out=out, progress=False)
    assert resumed.report.to_dict()["resumed_batches"] == 1
    assert stable(resumed.dataset.to_list()) == stable(reference.dataset.to_list())
    assert stable(resumed.rejected.to_list()) == stable(reference.rejected.to_list())


# --- #7: the report says what the backend enforced --------------------------------------------------

SCHEMA = {"type": "object", "properties": {"topic": {"type": "string"}}, "required": ["topic"]}

STRUCTURED_RECIPE = """
[recipe]
name = "structured"

[seeds]
type = "grid"
axes = {{ topic = ["a", "b"] }}

[prompt]
template = "JSON about {{topic}}:"

[generation]
target = 2
max_candidates = 4
batch_size = 2
[generation.backend]
{backend}

[[verify]]
type = "json"
constrain = true
json_schema = {schema}
"""


def structured_run(tmp_path: Path, backend: str):
    path = tmp_path / "structured.toml"
    path.write_text(textwrap.dedent(STRUCTURED_RECIPE.format(backend=backend, schema=toml_inline(SCHEMA))))
    (row,) = run_recipe(path, out=tmp_path / "run", progress=False).report.to_dict()["structured"]
    return row


def toml_inline(value) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_inline(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_inline(v) for v in value) + "]"
    return json.dumps(value)


def test_scripted_backend_reports_the_json_constraint_as_not_enforced(tmp_path):
    row = structured_run(tmp_path, 'type = "scripted"\noutputs = [\'{"topic": "a"}\']')
    assert row["constrained"] is False
    assert row["constraint"] == "requested, not enforced by scripted"


def test_non_vllm_server_in_completion_mode_reports_not_enforced(judge_server, tmp_path):
    judge_server.reply = '{"topic": "a"}'
    row = structured_run(tmp_path, f'type = "openai"\nbase_url = "{judge_server.base_url}"\nmodel = "judge"')
    assert row["constrained"] is False and row["constraint"] == "requested, not enforced by openai"
    assert not any("structured_outputs" in json.dumps(body) for body in judge_server.bodies)


def test_vllm_server_reports_the_json_constraint_as_enforced(judge_server, tmp_path):
    judge_server.reply, judge_server.owned_by = '{"topic": "a"}', "vllm"
    row = structured_run(tmp_path, f'type = "openai"\nbase_url = "{judge_server.base_url}"\nmodel = "judge"')
    assert row["constrained"] is True and row["constraint"] == "enforced by openai"
    assert all("structured_outputs" in body for body in judge_server.bodies)


def test_a_backend_may_say_what_it_enforces():
    from synthgen.verify.constraint import backend_enforces

    class Says:
        name = "plugin"

        def enforces(self, kind):
            return kind == "json"

    assert backend_enforces(Says(), "json") is True and backend_enforces(Says(), "regex") is False
    assert backend_enforces(ScriptedBackend(ScriptedBackendConfig(type="scripted")), "json") is False
    assert backend_enforces(object(), "json") is False  # a plugin that does not say enforces nothing


def test_each_built_in_backend_says_what_it_enforces(tmp_path):
    from types import SimpleNamespace

    from synthgen.backends.openai_http import OpenAIBackend
    from synthgen.backends.replay import ReplayBackend
    from synthgen.backends.vllm_offline import VllmBackend
    from synthgen.executors.ray_engines import RayEngineBackend
    from synthgen.recipe.schema import OpenAIBackendConfig, VllmBackendConfig

    assert VllmBackend(VllmBackendConfig(type="vllm", model="m")).enforces("regex") is True
    assert ReplayBackend(tmp_path / "r.jsonl").enforces("json") is False
    server = OpenAIBackend(OpenAIBackendConfig(type="openai", base_url="http://127.0.0.1:9/v1", model="m"))
    assert server.enforces("json") is None  # not probed yet: the report says "enforcement unknown"
    for engine, expected in (("vllm", True), ("openai", None), ("replay", False)):
        ray = RayEngineBackend.__new__(RayEngineBackend)
        ray.config = SimpleNamespace(type=engine)
        assert ray.enforces("json") is expected


# --- #12: JSON keys named like provenance columns are renamed -----------------------------------------


@pytest.mark.parametrize("key", sorted(set(RESERVED_COLUMNS) | {"prompt"}))
def test_every_provenance_name_is_renamed_json_prefixed(key):
    candidate = _candidates(1)[0]
    candidate.text = json.dumps({key: "EVIL", "q": 1})
    assert JsonSchemaVerifier().check(candidate).keep
    assert candidate.columns[f"json_{key}"] == "EVIL" and key not in candidate.columns


def test_parent_id_key_survives_a_fan_out_run(tmp_path):
    path = tmp_path / "fan.toml"
    path.write_text(textwrap.dedent("""
        [recipe]
        name = "fan"
        [seeds]
        type = "grid"
        axes = { topic = ["a", "b", "c"] }
        [[steps]]
        type = "generate"
        name = "answer"
        template = "Write about {topic}."
        [steps.sampling]
        n = 2
        temperature = 1.0
        [[verify]]
        type = "json"
        field = "answer"
        [generation]
        target = 6
        batch_size = 3
        [generation.backend]
        type = "scripted"
        outputs = ['{"parent_id": "EVIL", "q": 1}']
    """))
    rows = run_recipe(path, out=tmp_path / "run", progress=False).dataset.to_list()
    assert rows and all(row["json_parent_id"] == "EVIL" and row["parent_id"] != "EVIL" for row in rows)


def test_a_synthgen_error_from_the_judges_backend_names_its_table():
    class Down:
        name = "down"

        def load(self):
            raise SynthgenError("nobody home", hint="start it")

    judge = JudgeVerifier(Down())
    judge.owns_backend, judge.where = True, "r.toml:verify.2"
    with pytest.raises(SynthgenError, match=r"^r\.toml:verify\.2\.backend: nobody home \(start it\)$"):
        judge.start()


STEP_JUDGE_RECIPE = """
[recipe]
name = "step-judged"
[seeds]
type = "inline"
records = [{{topic = "rivers"}}, {{topic = "bread"}}]
[[steps]]
type = "generate"
name = "response"
template = "Write about {{topic}}."
[[steps]]
type = "judge"
name = "quality"
target = "response"
[steps.backend]
{judge_backend}
[generation]
target = 2
pipelined = false
[generation.backend]
type = "scripted"
"""


def test_unreachable_step_server_stops_before_anything_is_generated(tmp_path):
    """A step's own backend is loaded when the run starts (LLMStepStage.start), as a judge verifier's is."""
    recipe = tmp_path / "steps.toml"
    recipe.write_text(textwrap.dedent(STEP_JUDGE_RECIPE.format(
        judge_backend=openai_judge(f"http://127.0.0.1:{free_port()}/v1"))))
    generator = ScriptedBackend(ScriptedBackendConfig(type="scripted"))
    with pytest.raises(BackendError) as caught:
        run_recipe(recipe, out=tmp_path / "run", backend=generator, progress=False)
    assert "steps.1.backend" in str(caught.value) and "cannot reach" in str(caught.value)
    assert generator.calls == [], "the step's server is checked before the generator is asked"
    assert checkpoints(tmp_path / "run") == []
