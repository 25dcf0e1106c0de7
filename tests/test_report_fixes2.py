"""Report fixes: backend time under read-ahead's lock, resumed runs, one code path for report.md, older
report.json files, and the speed sections in report.html. No assertion depends on real time: the backend
times are read off a fake clock that only the backend advances."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers_steps import write_steps_recipe

import synthgen.readahead
import synthgen.steps.base
from synthgen.api import run_recipe
from synthgen.backends.testing import ScriptedBackend
from synthgen.progress import time_shares
from synthgen.readahead import ReadAhead, serialized
from synthgen.recipe.schema import SamplingConfig, ScriptedBackendConfig
from synthgen.records import GenerationRequest, Seed
from synthgen.report.html import rebuild_report, render_html
from synthgen.report.timing import forecast_section
from synthgen.steps.base import LLMStepStage, StepRuntime


class FakeClock:
    """``perf_counter`` for the patched modules; ``called`` is set whenever someone reads it."""

    def __init__(self):
        self.now, self.called, self._lock = 0.0, threading.Event(), threading.Lock()

    def perf_counter(self) -> float:
        self.called.set()
        return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


class ClockBackend(ScriptedBackend):
    """Each call works one fake second (and says nothing about its time, like the scripted, plugin and
    OpenAI backends)."""

    def __init__(self, clock: FakeClock, config=None):
        super().__init__(config)
        self.clock = clock

    def generate(self, requests, sampling):
        results = super().generate(requests, sampling)
        self.clock.advance(1.0)
        return results


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(synthgen.readahead, "time", fake)
    monkeypatch.setattr(synthgen.steps.base, "time", fake)
    return fake


def requests(start: int, n: int = 2) -> list[GenerationRequest]:
    return [GenerationRequest(i, f"prompt {i}", Seed(i, {"topic": "t"}), i) for i in range(start, start + n)]


def while_someone_else_holds_the_backend(clock: FakeClock, lock: threading.Lock, call) -> None:
    """Run ``call`` in a thread while another call holds the backend's lock for 5 fake seconds."""
    lock.acquire()
    clock.called.clear()
    worker = threading.Thread(target=call)
    worker.start()
    assert clock.called.wait(10), "the call never started its timer"
    clock.advance(5.0)  # the other call's work, while this one waits for the lock
    lock.release()
    worker.join(10)
    assert not worker.is_alive()


# --- #4: backend time excludes waiting for the read-ahead lock ----------------------------------------


def test_a_step_waiting_for_the_backend_lock_counts_only_the_backend_work(clock):
    backend = ClockBackend(clock)
    step = LLMStepStage(SimpleNamespace(name="response"), StepRuntime(backend=backend, sampling=SamplingConfig()))
    with serialized(backend) as lock:
        while_someone_else_holds_the_backend(clock, lock, lambda: step.ask(requests(0)))
    assert step.stats.llm_seconds == 6.0  # it waited for the other call and its own
    assert step.stats.backend_seconds == 1.0  # the backend worked one second on it
    assert dict(time_shares([step.stats]))["gen"] == 1.0  # the progress line reads the same figures


def test_read_ahead_busy_time_excludes_waiting_for_the_backend_lock(clock):
    backend = ClockBackend(clock)
    with serialized(backend) as lock:
        readahead = ReadAhead(backend)
        try:
            while_someone_else_holds_the_backend(clock, lock, lambda: readahead.generate(requests(0), SamplingConfig()))
        finally:
            readahead.close()
    assert readahead.busy_seconds == 1.0 and readahead.last_usage["seconds"] == 1.0


def test_a_backend_that_times_itself_is_believed_under_the_lock(clock):
    backend = ClockBackend(clock)
    backend.last_usage = {"seconds": 0.25, "prompt_tokens": 3}
    step = LLMStepStage(SimpleNamespace(name="response"), StepRuntime(backend=backend, sampling=SamplingConfig()))
    with serialized(backend) as lock:
        while_someone_else_holds_the_backend(clock, lock, lambda: step.ask(requests(0)))
    assert step.stats.backend_seconds == 0.25 and step.stats.prompt_tokens == 3


QUESTION_AND_ANSWER = """
[[steps]]
type = "generate"
name = "question"
template = "A question about {topic} by {persona}:"

[[steps]]
type = "generate"
name = "answer"
template = "Q: {question}\\nA:"
"""
THREE_STEPS = QUESTION_AND_ANSWER + """
[[steps]]
type = "generate"
name = "remark"
template = "Q: {question}\\nA: {answer}\\nRemark:"
"""


def test_a_pipelined_run_reports_each_step_backend_work_once(clock, tmp_path):
    recipe = write_steps_recipe(tmp_path, THREE_STEPS, target=8, budget=8)
    backend = ClockBackend(clock, ScriptedBackendConfig(type="scripted", delay_s=0.02))  # real overlap, fake times
    report = run_recipe(recipe, out=tmp_path / "run", backend=backend, progress=False).report.to_dict()
    assert report["throughput"]["pipelined"] and report["throughput"]["read_ahead_discarded"] == 0
    work = {s["stage"]: s.get("backend_seconds", 0.0) for s in report["stages"]}
    calls = {name: sum(1 for c in backend.calls if _step_of(c[0].prompt) == name) for name in work}
    assert work == calls and report["timings"]["backend_seconds"] == len(backend.calls)
    assert report["throughput"]["backend_busy_seconds"] == calls["question"]
    assert report["throughput"]["read_ahead_step"] == "question"
    markdown = (tmp_path / "run" / "report.md").read_text()
    assert (f"backend busy {calls['question']}.0 s on the calls of the read-ahead step (question), used or "
            "discarded (every LLM call: the backend row)") in markdown


def _step_of(prompt: str) -> str:
    return "remark" if "Remark:" in prompt else "answer" if "A:" in prompt else "question"


# --- #6: a resumed run says so, and which figures cover what ------------------------------------------


def interrupt(run: Path, keep_batches: int) -> None:
    """What a killed run leaves: the first checkpoints, no report."""
    for shard in sorted((run / "checkpoints").glob("batch-*.json"))[keep_batches:]:
        shard.unlink()
    (run / "report.json").unlink()


def test_a_resumed_run_says_which_figures_cover_the_last_process(write_recipe, tmp_path):
    recipe, run = write_recipe(target=12, budget=40, batch_size=3), tmp_path / "run"
    fresh = run_recipe(recipe, out=run, progress=False).report.to_dict()
    assert "process_resumed_after" not in fresh["timings"] and "- resumed:" not in (run / "report.md").read_text()
    interrupt(run, keep_batches=2)
    report = run_recipe(recipe, out=run, progress=False).report.to_dict()
    assert report["timings"]["process_resumed_after"] == 2
    markdown, page = (run / "report.md").read_text(), (run / "report.html").read_text()
    note = ("the last process continued the run after 2 checkpointed batches (an earlier process stopped): the "
            "wall time, backend busy and rates cover the last process only; counts, tokens, generation seconds "
            "and the per-stage times add up every process")
    assert f"- resumed: {note}" in markdown and f"<li>resumed: {note}</li>" in page
    runner = f"the last process only (it resumed the run after 2 checkpointed batches): wall {report['timings']['wall_seconds']} s"
    assert runner in markdown and runner in page
    assert "The table adds up every process, the ones before the resume included." in markdown


def test_a_finished_run_run_again_says_nothing_was_generated(write_recipe, tmp_path):
    recipe, run = write_recipe(target=6, batch_size=3), tmp_path / "run"
    first = run_recipe(recipe, out=run, progress=False).report
    run_recipe(recipe, out=run, progress=False)
    markdown = (run / "report.md").read_text()
    assert (f"- resumed: all {first.throughput.batches} checkpointed batches were restored: the run had already "
            "finished, so nothing was generated again") in markdown
    assert "the last process only" not in markdown  # the figures are the generating process's: the whole run


# --- #8: generate and `synthgen report` write the same report.md --------------------------------------

MESSAGES = QUESTION_AND_ANSWER + """
[[verify]]
type = "length"
field = "answer"
unit = "words"
min = 3

[[verify]]
type = "regex"
field = "question"
must_match = ["^(river|stone|lantern|orbit|cedar|pixel|harbor|quartz|meadow)"]

[output]
format = "messages"
prompt = "question"
"""


def test_rebuilding_the_report_gives_the_report_generate_wrote(tmp_path):
    # the first batch's questions all fail the regex (more rejects of one reason than report.html samples),
    # then one answer is too short
    outputs = ["one wind", "two wind", "three wind", "four wind", "river", "river wind blows", "stone wind blows",
               "lantern wind blows"]
    config = ScriptedBackendConfig(type="scripted", outputs=outputs)
    recipe = write_steps_recipe(tmp_path, MESSAGES, target=6, budget=40)
    run = run_recipe(recipe, out=tmp_path / "run", backend=ScriptedBackend(config), progress=False).run_dir
    written = (run / "report.md").read_text()
    assert len(json.loads((run / "report.json").read_text())["top_reasons"]) >= 2, "rejects of several stages"
    rebuild_report(run)
    assert (run / "report.md").read_text() == written
    kept = written.split("## Samples kept")[1]
    assert "- user: " in kept and " assistant: " in kept  # the dataset's messages, not the instruction alone


# --- an older report.json without throughput or timings ------------------------------------------------


def test_an_older_report_without_throughput_says_not_recorded(write_recipe, tmp_path):
    run = run_recipe(write_recipe(target=6), out=tmp_path / "run", progress=False).run_dir
    report = json.loads((run / "report.json").read_text())
    for key in ("throughput", "timings", "candidate_records"):
        report.pop(key)
    (run / "report.json").write_text(json.dumps(report))
    rebuild_report(run)
    markdown, page = (run / "report.md").read_text(), (run / "report.html").read_text()
    assert "records, an unrecorded number of candidates (an older report.json) of a budget of" in markdown
    assert f"- rejected: {report['rejected']} of an unrecorded number of candidates (an older report.json)" in markdown
    assert "- generation: not recorded (an older report.json)" in markdown
    assert "generation: not recorded (an older report.json)" in page
    for text in (markdown, page):
        assert "None" not in text and " 0 candidates" not in text
    assert "## Time per stage" not in markdown


# --- report.html shows the speed sections report.md has ------------------------------------------------

FORECAST = {"predicted": {"target": 12, "candidates_needed": 20, "candidates_interval": [15, 30],
                          "acceptance_interval": [0.4, 0.8], "generation_seconds": 3.5},
            "outcome": {"candidates_to_target": 18, "acceptance_rate": 0.667}, "within_interval": True, "error": 0.111}


def test_report_html_has_the_time_per_stage_and_the_forecast(write_recipe, tmp_path):
    run = run_recipe(write_recipe(target=6), out=tmp_path / "run", progress=False).run_dir
    report = {**json.loads((run / "report.json").read_text()), "forecast": FORECAST}
    page = render_html(report, [], [])
    assert "<h2>Time per stage</h2><p>Runner: pipelined (read-ahead 1 batch); wall" in page
    assert "<th>waiting on backend</th><th>backend working</th>" in page and "<td>length</td>" in page
    assert "<h2>Forecast vs outcome</h2>" in page
    for line in forecast_section(report)[5:]:  # every table row and the footer of report.md's section
        cells = [cell.strip() for cell in line.strip("|").split("|")] if line.startswith("|") else [line]
        assert all(_html(cell) in page for cell in cells if cell), line


def _html(text: str) -> str:
    import html

    return html.escape(text)
