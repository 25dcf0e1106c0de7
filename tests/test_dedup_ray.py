"""``synthgen dedup --executor ray`` on a local Ray cluster (2 CPUs) keeps exactly what the local dedup keeps,
with the same evidence, with reference scopes and history too, and after a worker is killed mid-run; bad
addresses are one line."""

from __future__ import annotations

import json

import shutil

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from synthgen.dedup.cli import dedup_command, run_dedup
from test_dedup_streaming import corpus, evidence, outputs, write_jsonl


@pytest.fixture(scope="session")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="Ray Data is not installed: pip install 'synthgen[ray]'")
    pytest.importorskip("ray.data")
    started = not ray.is_initialized()  # test_ray_executor's session cluster (2 CPUs too) is reused
    if started:
        ray.init(num_cpus=2, log_to_driver=False, configure_logging=False, include_dashboard=False)
    yield ray
    if started:
        ray.shutdown()


def test_ray_keeps_the_local_ids_with_the_same_evidence(tmp_path, ray_cluster):
    rows = corpus(500, seed=3)
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    evals = write_jsonl(tmp_path / "eval.jsonl", [{"text": r["text"]} for r in rows[:30] if isinstance(r.get("text"), str)])
    local = run_dedup(source, tmp_path / "local", workers=1, chunk_rows=120, eval_sets=(evals,))
    distributed = run_dedup(source, tmp_path / "ray", workers=2, chunk_rows=120, eval_sets=(evals,), executor="ray")
    (kept_a, rejected_a), (kept_b, rejected_b) = outputs(tmp_path / "local"), outputs(tmp_path / "ray")
    assert [r.get("id") for r in kept_b] == [r.get("id") for r in kept_a]
    assert evidence(rejected_b) == evidence(rejected_a)
    assert distributed.summary() == local.summary()
    assert {"exact_duplicate", "near_duplicate", "eval_contamination"} <= set(distributed.reasons)


def test_unreachable_address_is_one_clear_line(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": "a b c d e"}])
    result = CliRunner().invoke(dedup_command, [str(source), "--out", str(tmp_path / "o"), "--executor", "ray",
                                                "--address", "127.0.0.1:1"])
    assert result.exit_code == 1 and "cannot reach the Ray cluster at 127.0.0.1:1" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "o" / "kept.parquet").exists()


def test_reference_scopes_and_history_on_ray_equal_the_local_run(tmp_path, ray_cluster):
    rows = corpus(400, seed=1)
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    real = write_jsonl(tmp_path / "real.jsonl", [{"text": r["text"]} for r in rows[:40] if isinstance(r.get("text"), str)])
    run_dedup(write_jsonl(tmp_path / "older.jsonl", rows[100:150]), tmp_path / "o0", history=tmp_path / "hist", workers=1)
    shutil.copytree(tmp_path / "hist", tmp_path / "hist-ray")
    local = run_dedup(source, tmp_path / "local", workers=1, chunk_rows=50, against=(real,), history=tmp_path / "hist")
    distributed = run_dedup(source, tmp_path / "ray", workers=2, chunk_rows=50, against=(real,),
                            history=tmp_path / "hist-ray", executor="ray")
    (kept_a, rejected_a), (kept_b, rejected_b) = outputs(tmp_path / "local"), outputs(tmp_path / "ray")
    assert kept_b == kept_a and evidence(rejected_b) == evidence(rejected_a)
    assert distributed.summary() == local.summary()
    assert {"real", "history", "run"} <= {row["dedup_scope"] for row in rejected_b}


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(tmp_path, ray_cluster):
    """Ray restarts the killed actor and retries its calls (a chunk's files are named by the chunk)."""
    from synthgen.dedup.cli import _config, plan_dedup
    from synthgen.dedup.ray_exec import RayWorkers
    from synthgen.dedup.streaming import stream_dedup

    source = write_jsonl(tmp_path / "in.jsonl", corpus(600, seed=5))
    expected = run_dedup(source, tmp_path / "local", workers=1, chunk_rows=40)
    killed = []

    class Killing(RayWorkers):
        def map(self, fn, items):
            for k, result in enumerate(super().map(fn, items)):
                if k == 2 and not killed:  # calls are in flight on both actors: kill one of them
                    ray_cluster.kill(self.actors[1], no_restart=False)
                    killed.append(fn.__name__)
                yield result

    plan = plan_dedup(_config("text", (), (), 0.8, "auto", None, 128, None, None), source, 2, 40)
    result = stream_dedup(plan, tmp_path / "ray", workers=lambda n, s: Killing(ray_cluster, n, s))
    assert killed == ["sketch_chunk"]
    (kept_a, rejected_a), (kept_b, rejected_b) = outputs(tmp_path / "local"), outputs(tmp_path / "ray")
    assert kept_b == kept_a and evidence(rejected_b) == evidence(rejected_a)
    assert result.summary()["rows"] == expected.summary()["rows"] and result.kept == expected.kept


def test_bad_input_found_by_a_ray_worker_is_its_own_line(tmp_path, ray_cluster):
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "a b c d e"}\n{"text": oops}\n')
    result = CliRunner().invoke(dedup_command, [str(source), "--out", str(tmp_path / "o"), "--executor", "ray"])
    assert result.exit_code == 1 and f"{source}:2: invalid JSON" in result.output, result.output
    assert not (tmp_path / "o" / "kept.parquet").exists()


def test_chunks_that_carry_their_bytes_give_the_same_result(tmp_path, ray_cluster):
    """On several nodes (or through Ray Client) chunks travel with their bytes, in both passes."""
    from synthgen.dedup.chunks import decode, iter_chunks
    from synthgen.dedup.cli import _config, plan_dedup
    from synthgen.dedup.ray_exec import RayWorkers, _portable
    from synthgen.dedup.streaming import stream_dedup

    source = write_jsonl(tmp_path / "in.jsonl", corpus(300, seed=7))
    chunk = next(iter_chunks(source, 64))
    carried = _portable((chunk, {}, tmp_path), str(source))[0]
    assert decode(carried, str(tmp_path / "gone.jsonl")) == decode(chunk, str(source)), "no file needed"
    run_dedup(source, tmp_path / "local", workers=1, chunk_rows=64)
    plan = plan_dedup(_config("text", (), (), 0.8, "auto", None, 128, None, None), source, 2, 64)
    stream_dedup(plan, tmp_path / "ray", workers=lambda n, s: RayWorkers(ray_cluster, n, s, ship=True))
    (kept_a, rejected_a), (kept_b, rejected_b) = outputs(tmp_path / "local"), outputs(tmp_path / "ray")
    assert kept_b == kept_a and evidence(rejected_b) == evidence(rejected_a)


def test_address_without_the_ray_executor_is_refused(tmp_path):
    """As ``synthgen generate`` refuses it: the address would be ignored and the dedup would run here."""
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": "a b c d e"}])
    result = CliRunner().invoke(dedup_command, [str(source), "--out", str(tmp_path / "o"), "--address", "127.0.0.1:1"])
    assert result.exit_code == 1, result.output
    assert "--address 127.0.0.1:1 names a Ray cluster, but the executor is 'local'" in result.output
    assert "add --executor ray" in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_ray_keeps_a_parquet_inputs_column_types_as_the_local_run_does(tmp_path, ray_cluster):
    """The write pass takes rows from the Arrow batches on Ray too (they travel with their chunk)."""
    from synthgen.dedup.cli import _config, plan_dedup
    from synthgen.dedup.ray_exec import RayWorkers
    from synthgen.dedup.streaming import stream_dedup
    from test_dedup_fixes2 import typed_table

    pq.write_table(typed_table(120), tmp_path / "in.parquet")
    local = run_dedup(tmp_path / "in.parquet", tmp_path / "local", workers=1, chunk_rows=32)
    plan = plan_dedup(_config("text", (), (), 0.8, "auto", None, 128, None, None), tmp_path / "in.parquet", 2, 32)
    stream_dedup(plan, tmp_path / "ray", workers=lambda n, s: RayWorkers(ray_cluster, n, s, ship=True))
    for name in ("kept.parquet", "rejected.parquet"):
        expected, got = pq.read_table(tmp_path / "local" / name), pq.read_table(tmp_path / "ray" / name)
        assert got.schema.equals(expected.schema) and got.equals(expected)
    assert local.kept == 25 and pq.read_schema(tmp_path / "ray" / "kept.parquet").equals(typed_table(0).schema)
