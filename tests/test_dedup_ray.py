"""``synthgen dedup --executor ray`` on a local Ray cluster (2 CPUs) keeps exactly what the local dedup keeps,
with the same evidence; the component rule on its own; bad addresses and unsupported options."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from synthgen.dedup.cli import dedup_command, run_dedup
from synthgen.dedup.components import bucket_pairs, components, merge_pairs, resolve_component
from test_dedup_streaming import corpus, evidence, outputs, write_jsonl


@pytest.fixture(scope="session")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="Ray Data is not installed: pip install 'synthgen[ray]'")
    pytest.importorskip("ray.data")
    ray.init(num_cpus=2, log_to_driver=False, configure_logging=False, include_dashboard=False)
    yield ray
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


def test_components_decide_like_the_engine_on_a_chain():
    """a ~ b (0.85), b ~ c (0.85), a ≁ c: the engine keeps a and c (c is compared with kept rows only)."""
    i, j = np.array([0, 1]), np.array([1, 2])
    dropped = list(resolve_component(np.array([0, 1, 2]), i, j, np.array([0.85, 0.85]), np.array([False, False]),
                                     np.array([True, True])))
    assert dropped == [(1, "near_duplicate", 0, 0.85)]
    assert components(4, i, j).tolist()[:3] == [0, 0, 0]


def test_bucket_pairs_flag_exact_and_band_buckets():
    bands = np.array([-1, -1, 0, 0, 0, 1])
    keys = np.array([7, 7, 5, 5, 9, 5], np.uint64)
    rows = np.array([3, 1, 1, 3, 2, 2])
    i, j, by_exact, by_band = merge_pairs(*bucket_pairs(bands, keys, rows))
    assert list(zip(i.tolist(), j.tolist(), by_exact.tolist(), by_band.tolist())) == [(1, 3, True, True)]


def test_unreachable_address_is_one_clear_line(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": "a b c d e"}])
    result = CliRunner().invoke(dedup_command, [str(source), "--out", str(tmp_path / "o"), "--executor", "ray",
                                                "--address", "127.0.0.1:1"])
    assert result.exit_code == 1 and "no Ray cluster reachable" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "o" / "kept.parquet").exists()


def test_reference_scopes_are_refused_on_ray(tmp_path, ray_cluster):
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": "a b c d e"}])
    result = CliRunner().invoke(dedup_command, [str(source), "--out", str(tmp_path / "o"), "--executor", "ray",
                                                "--against", str(source)])
    assert result.exit_code == 1 and "not supported with --executor ray" in result.output
