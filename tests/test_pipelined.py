"""The pipelined runner (read-ahead generation) makes exactly the sequential runner's dataset and rejects:
one-step and multi-step recipes, fan-out, a model-free step before the first LLM step, a diversity gate
that revokes a window, a target reached in the middle of a batch, an exhausted budget."""

from __future__ import annotations

import json
import threading

from synthgen.api import run_recipe
from synthgen.backends.testing import ScriptedBackend
from synthgen.recipe.schema import ScriptedBackendConfig
from tests.test_gate_run import GATE, sentences
from tests.test_resume import STEPS_RECIPE, stable


class ThreadRecordingBackend(ScriptedBackend):
    """The scripted backend, noting which thread made each call and whether two calls ever overlapped."""

    def __init__(self, config=None):
        super().__init__(config)
        self.threads: list[str] = []
        self.active = 0
        self.overlapped = False

    def generate(self, requests, sampling):
        self.active += 1
        self.overlapped |= self.active > 1
        self.threads.append(threading.current_thread().name)
        try:
            return super().generate(requests, sampling)
        finally:
            self.active -= 1


def both(recipe, tmp_path, make_backend=None, **kwargs):
    """(sequential, pipelined) results of the same recipe, each with its own backend."""
    results = []
    for sequential in (True, False):
        backend = make_backend() if make_backend else None
        out = tmp_path / ("sequential" if sequential else "pipelined")
        results.append(run_recipe(recipe, out=out, backend=backend, progress=False, sequential=sequential, **kwargs))
    return results


def assert_same_run(sequential, pipelined):
    assert stable(pipelined.dataset.to_list()) == stable(sequential.dataset.to_list())
    assert stable(pipelined.rejected.to_list()) == stable(sequential.rejected.to_list())
    for key in ("candidates", "batches", "requests", "completion_tokens"):
        assert pipelined.report.to_dict()["throughput"][key] == sequential.report.to_dict()["throughput"][key], key
    counts = [{k: s[k] for k in ("stage", "seen", "kept", "reasons")} for s in sequential.report.to_dict()["stages"]]
    assert [{k: s[k] for k in ("stage", "seen", "kept", "reasons")} for s in pipelined.report.to_dict()["stages"]] == counts
    assert pipelined.report.to_dict()["stop_reason"] == sequential.report.to_dict()["stop_reason"]
    assert pipelined.report.to_dict()["throughput"]["pipelined"] and not sequential.report.to_dict()["throughput"]["pipelined"]


def test_one_step_recipe_target_reached_mid_batch(write_recipe, tmp_path):
    recipe = write_recipe(target=10, budget=60, batch_size=4)
    backends: list[ThreadRecordingBackend] = []
    sequential, pipelined = both(recipe, tmp_path, lambda: backends.append(ThreadRecordingBackend()) or backends[-1])
    assert_same_run(sequential, pipelined)
    over = [r for r in pipelined.rejected.to_list() if r["reason"] == "over_target"]
    assert over, "the last batch overshoots the target: the extra records are rejects, in both modes"
    assert set(backends[0].threads) == {"MainThread"}
    assert "synthgen-readahead" in backends[1].threads and not backends[1].overlapped


def test_budget_exhausted_is_the_same(write_recipe, tmp_path):
    outputs = ["short", "a good long question here?", "no", "another long enough question, surely?"]
    recipe = write_recipe(target=20, budget=22, batch_size=4)
    make = lambda: ScriptedBackend(ScriptedBackendConfig(type="scripted", outputs=outputs))  # noqa: E731
    sequential, pipelined = both(recipe, tmp_path, make)
    assert sequential.report.to_dict()["stop_reason"] == "budget_exhausted"
    assert_same_run(sequential, pipelined)
    assert pipelined.report.to_dict()["throughput"]["candidates"] <= 22


def test_multi_step_recipe_with_fan_out(tmp_path):
    recipe = tmp_path / "steps.toml"
    recipe.write_text(STEPS_RECIPE.replace("delay_s = 0.15", "delay_s = 0.0").replace("target = 40", "target = 27"))
    assert_same_run(*both(recipe, tmp_path, ThreadRecordingBackend))


MODEL_FREE_FIRST = """
[recipe]
name = "sample-first"
seed = 3

[seeds]
type = "grid"
axes = { topic = ["rivers", "bread", "chess", "tides", "owls", "maps", "bees"] }

[[steps]]
type = "sample"
name = "tone"
values = ["plain", "playful", "stern"]

[[steps]]
type = "template"
name = "ask"
template = "In a {tone} tone, ask about {topic}:"

[[steps]]
type = "generate"
name = "question"
template = "{ask}"
[steps.sampling]
n = 3

[[verify]]
type = "length"
unit = "words"
min = 6

[dedup]

[generation]
target = 20
max_candidates = 120
batch_size = 5
[generation.backend]
type = "scripted"
"""


def test_model_free_steps_before_the_first_llm_step_are_predicted(tmp_path):
    recipe = tmp_path / "sample_first.toml"
    recipe.write_text(MODEL_FREE_FIRST)
    backends: list[ThreadRecordingBackend] = []
    sequential, pipelined = both(recipe, tmp_path, lambda: backends.append(ThreadRecordingBackend()) or backends[-1])
    assert_same_run(sequential, pipelined)
    used = pipelined.report.to_dict()["throughput"]
    assert used["read_ahead_discarded"] < used["requests"], "read-ahead prompts matched the real ones"
    main_calls = backends[1].threads.count("MainThread")
    assert main_calls == 0, "every request of the first step was generated ahead (prompts predicted exactly)"


def test_a_gate_that_revokes_a_window_gives_the_same_run(write_recipe, tmp_path):
    """The first window collapses and is revoked; remediation raises the temperature, so what was read
    ahead with the old sampling no longer matches and is regenerated: still the sequential run."""
    (tmp_path / "reference.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in sentences(200, 0)))
    narrow = [f"What is the best way to cook rice number {i % 3}?" for i in range(30)]
    outputs = narrow + sentences(30, 300)
    recipe = write_recipe(target=30, budget=150, batch_size=10, extra=GATE)
    make = lambda: ScriptedBackend(ScriptedBackendConfig(type="scripted", outputs=outputs))  # noqa: E731
    sequential, pipelined = both(recipe, tmp_path, make)
    assert not sequential.report.to_dict()["gates"][0]["passed"] and sequential.report.to_dict()["gates_passed"]
    assert_same_run(sequential, pipelined)
    assert pipelined.report.to_dict()["gates"] == sequential.report.to_dict()["gates"]
    assert json.loads(pipelined.dataset[0]["sampling"])["temperature"] > 1.0


def test_prefetch_two_batches_ahead(write_recipe, tmp_path):
    recipe = write_recipe(target=12, budget=60, batch_size=3, extra="")
    text = recipe.read_text().replace("batch_size = 3", "batch_size = 3\nprefetch = 2")
    recipe.write_text(text)
    sequential, pipelined = both(recipe, tmp_path)
    assert_same_run(sequential, pipelined)
    assert pipelined.report.to_dict()["throughput"]["prefetch"] == 2


def test_recipe_key_turns_pipelining_off(write_recipe, tmp_path):
    recipe = write_recipe(target=4)
    recipe.write_text(recipe.read_text().replace("batch_size = 4", "batch_size = 4\npipelined = false"))
    result = run_recipe(recipe, out=tmp_path / "off", progress=False)
    assert result.report.to_dict()["throughput"]["pipelined"] is False


class HostCpuBackend(ScriptedBackend):
    shares_host_cpu = True


def test_a_backend_on_this_cpu_runs_sequentially_unless_the_recipe_forces_pipelining(write_recipe, tmp_path):
    recipe = write_recipe(target=6)
    auto = run_recipe(recipe, out=tmp_path / "auto", backend=HostCpuBackend(), progress=False)
    assert auto.report.to_dict()["throughput"]["pipelined"] is False
    assert "CPU" in auto.report.to_dict()["throughput"]["sequential_because"]
    forced = run_recipe(recipe, out=tmp_path / "forced", backend=HostCpuBackend(), progress=False,
                        overrides=["generation.pipelined=true"])
    assert forced.report.to_dict()["throughput"]["pipelined"] is True
    texts = lambda result: [(r["candidate_index"], r["text"]) for r in result.dataset.to_list()]  # noqa: E731
    assert texts(forced) == texts(auto)  # (the override changes the recipe hash, so compare the records)
