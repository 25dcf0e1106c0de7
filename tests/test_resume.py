"""Resume: a real `synthgen generate` process killed with SIGKILL mid-run continues from checkpoints and
ends with exactly the dataset of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from synthgen.api import run_recipe

VOLATILE = {"created_at"}


def stable(rows):
    return [{k: v for k, v in row.items() if k not in VOLATILE} for row in rows]


def start_generate(recipe: Path, out: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "synthgen", "generate", str(recipe), "--out", str(out), "--quiet"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_checkpoints(out: Path, count: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(list((out / "checkpoints").glob("batch-*.json"))) < count:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no checkpoints appeared"
        time.sleep(0.05)


def test_sigkill_mid_run_then_resume_equals_uninterrupted(write_recipe, tmp_path):
    recipe = write_recipe(target=24, budget=80, batch_size=3, delay=0.3)
    reference = run_recipe(recipe, out=tmp_path / "reference", progress=False)

    out = tmp_path / "killed"
    proc = start_generate(recipe, out)
    wait_for_checkpoints(out, 3, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    written = len(list((out / "checkpoints").glob("batch-*.json")))
    assert not (out / "report.json").exists() and written < reference.report.to_dict()["throughput"]["batches"]

    resumed = start_generate(recipe, out)
    stdout, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr.decode()
    result = run_recipe(recipe, out=out, progress=False)
    assert result.report.to_dict()["resumed_batches"] == reference.report.to_dict()["throughput"]["batches"]
    assert stable(result.dataset.to_list()) == stable(reference.dataset.to_list())
    assert stable(result.rejected.to_list()) == stable(reference.rejected.to_list())
    ids = result.dataset["candidate_index"]
    assert len(ids) == len(set(ids)) == 24


def test_kill_during_checkpoint_write_leaves_no_partial_shard(write_recipe, tmp_path):
    recipe = write_recipe(target=12, budget=40, batch_size=2, delay=0.05)
    out = tmp_path / "run"
    for _ in range(3):  # kill at arbitrary moments, several times
        proc = start_generate(recipe, out)
        time.sleep(1.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    result = run_recipe(recipe, out=out, progress=False)
    reference = run_recipe(recipe, out=tmp_path / "ref", progress=False)
    assert stable(result.dataset.to_list()) == stable(reference.dataset.to_list())


STEPS_RECIPE = """
[recipe]
name = "steps-resume"
seed = 11

[seeds]
type = "grid"
axes = { topic = ["rivers", "bread", "chess", "tides", "owls"] }

[[steps]]
type = "generate"
name = "instruction"
template = "Ask about {topic}:"

[[steps]]
type = "sample"
name = "tone"
values = ["plain", "playful"]

[[steps]]
type = "generate"
name = "response"
template = "Answer in a {tone} tone: {instruction}"
[steps.sampling]
n = 2

[[steps]]
type = "template"
name = "pair"
template = "{instruction} => {response}"

[[verify]]
type = "length"
field = "response"
unit = "words"
min = 4

[generation]
target = 40
max_candidates = 80
batch_size = 2
[generation.backend]
type = "scripted"
delay_s = 0.15
"""


def test_sigkill_between_and_inside_steps_then_resume_equals_uninterrupted(tmp_path):
    recipe = tmp_path / "steps.toml"
    recipe.write_text(STEPS_RECIPE)
    reference = run_recipe(recipe, out=tmp_path / "reference", progress=False)
    assert len(reference.dataset) == 40
    out = tmp_path / "killed"
    for shards, pause in ((1, 0.0), (3, 0.1), (5, 0.2), (7, 0.35)):  # at a checkpoint, inside step 1, between, inside step 2
        proc = start_generate(recipe, out)
        wait_for_checkpoints(out, shards, proc)
        time.sleep(pause)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    result = run_recipe(recipe, out=out, progress=False)
    assert stable(result.dataset.to_list()) == stable(reference.dataset.to_list())
    assert stable(result.rejected.to_list()) == stable(reference.rejected.to_list())
    assert result.report.to_dict()["stages"] == reference.report.to_dict()["stages"] or \
        [s["kept"] for s in result.report.to_dict()["stages"]] == [s["kept"] for s in reference.report.to_dict()["stages"]]


def test_sigkill_of_a_pipelined_run_resumed_either_way_equals_uninterrupted(write_recipe, tmp_path):
    """A pipelined run killed while the next batch is being generated ahead loses only that read-ahead:
    resumed pipelined or with --sequential, it ends with the uninterrupted (sequential) dataset."""
    recipe = write_recipe(target=20, budget=80, batch_size=3, delay=0.25)
    reference = run_recipe(recipe, out=tmp_path / "reference", progress=False, sequential=True)
    for resume_flags in ((), ("--sequential",)):
        out = tmp_path / f"killed{len(resume_flags)}"
        proc = start_generate(recipe, out)
        wait_for_checkpoints(out, 2, proc)
        time.sleep(0.1)  # inside the next batch, with the one after it generating ahead
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        cmd = [sys.executable, "-m", "synthgen", "generate", str(recipe), "--out", str(out), "--quiet", *resume_flags]
        done = subprocess.run(cmd, capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr.decode()
        result = run_recipe(recipe, out=out, progress=False)
        assert stable(result.dataset.to_list()) == stable(reference.dataset.to_list())
        assert stable(result.rejected.to_list()) == stable(reference.rejected.to_list())
