"""Smoke test of the collapse benchmark (benchmarks/collapse): a tiny run of every module, 2 generations.

Checks the JSON lines schema, the summary and report files, and that recursive MLE of a Gaussian
(module A, replace) shrinks the fitted variance within a few dozen generations at a fixed seed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.collapse import gaussian, run  # noqa: E402
from benchmarks.collapse.report import GATE_SCHEMA, KEYS, ROW_SCHEMA  # noqa: E402

TINY = run.Plan("quick", "pydoc", seeds=1, generations=2, b_seeds=1, b_generations=2, gate_sample=120,
                regimes=("replace", "capped_0.5", "gated"), temperatures=(1.0,), jobs=1,
                corpus_sizes=(160, 60, 1500), a_scale=(2, 5))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("collapse")
    summary = run.benchmark(TINY, out, out / "docs", log=lambda *a: None)
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return out, summary, rows


def test_every_module_writes_rows_with_the_schema(tiny_run):
    _, _, rows = tiny_run
    assert {r["module"] for r in rows} == {"A", "B", "C", "R"}
    for row in rows:
        missing = set(KEYS + ROW_SCHEMA[row["module"]]) - set(row)
        assert not missing, f"{row['module']} row lacks {missing}"
        assert 0 <= row["generation"] <= (2 if row["module"] != "R" else 19) and 0.0 <= row["synthetic_share"] <= 1.0
    c = [r for r in rows if r["module"] == "C"]
    assert {r["regime"] for r in c} == {"replace", "capped_0.5", "gated"}
    assert sorted({r["generation"] for r in c}) == [0, 1, 2]
    assert all(r["heldout_ppl"] > 1 and r["vocab_size"] > 0 for r in c)


def test_gated_rows_carry_the_gate_evidence(tiny_run):
    _, _, rows = tiny_run
    gated = [r for r in rows if r["regime"] == "gated"]
    for row in gated:
        assert set(GATE_SCHEMA) <= set(row["gate"])
        first = row["gate"]["attempts"][0]
        assert first["candidates"] == 2 * 160 and "decisions" in first and "distinct_2@real" in first["decisions"]
    assert all(r["gate"] is None for r in rows if r["module"] == "C" and r["regime"] != "gated")
    assert all(r["mix"]["cap"] == 0.5 for r in gated if r["generation"] > 0)
    assert all("perplexity_shift@fidelity" in a["decisions"] for r in gated for a in r["gate"]["attempts"])


def test_the_fidelity_gate_judges_replace_batches_and_real_batches(tiny_run):
    _, summary, rows = tiny_run
    replace = [r for r in rows if r["module"] == "C" and r["regime"] == "replace"]
    assert all(r["fidelity"] is not None and "perplexity_ratio" in r["fidelity"] for r in replace)
    real = [r for r in rows if r["module"] == "R"]
    assert len(real) == 20 and all(r["perplexity_ratio"] > 0 for r in real)
    assert all(isinstance(r["diversity"]["passed"], bool) for r in real)
    ids = {c["id"] for c in summary["checks"]}
    assert {"C-fidelity-replace-T1", "C-fidelity-real-vs-real", "C-diversity-real-vs-real"} <= ids


def test_the_diversity_gate_false_alarms_are_reported_by_rule():
    from benchmarks.collapse.fidelity_checks import diversity_real_vs_real

    def row(*failed):
        return {"module": "R", "diversity": {"passed": not failed, "failed": list(failed)}}

    coverage = {"rule": "cluster_coverage@real", "value": 0.72, "threshold": 0.8}
    missing = {"rule": "vendi@real", "value": None, "threshold": None}
    [found] = diversity_real_vs_real([row(), row(), row(coverage), row(dict(coverage, value=0.78), missing)])
    assert found["result"] == "INFO"
    assert found["measured"] == ("50% of 4 passed; failing rules: cluster_coverage@real 2× (value 0.9–0.975× "
                                 "its threshold); vendi@real 1× (1 not computed)")


def test_summary_and_report_files(tiny_run):
    out, summary, _ = tiny_run
    assert {c["result"] for c in summary["checks"]} <= {"PASS", "FAIL", "INFO", "SKIP"}
    assert any(c["id"] == "A-replace" for c in summary["checks"])
    assert json.loads((out / "summary.json").read_text())["schema"] == summary["schema"]
    text = (out / "docs" / "collapse.md").read_text()
    assert "## Predictions" in text and "<!-- /notes -->" in text
    assert (out / "docs" / "collapse" / "module_c_T1.png").stat().st_size > 0


def test_replace_shrinks_gaussian_variance():
    _, variances = gaussian.simulate("replace", 60, 50, np.random.default_rng(0))
    assert np.median(variances[60]) < 0.6 * np.median(variances[0])
    _, kept = gaussian.simulate("cap50", 60, 50, np.random.default_rng(0))
    assert np.median(kept[60]) > 0.8


def test_drift_after_the_first_generation_is_reported_per_regime():
    from benchmarks.collapse.fidelity_checks import drift_after_first

    def row(regime, seed, generation, ppl):
        return {"module": "C", "regime": regime, "temperature": 1.0, "seed": seed, "generation": generation,
                "heldout_ppl": ppl}

    rows = [row("gated", s, g, p) for s in (0, 1) for g, p in ((0, 100), (1, 105), (2, 106))]
    rows += [row("capped_0.5", 0, g, p) for g, p in ((0, 100), (1, 106), (2, 110))]
    [found] = drift_after_first(rows, 2)
    assert found["result"] == "INFO"
    assert found["measured"] == "T = 1: gated 1.050 → 1.060 (+0.010), capped_0.5 1.060 → 1.100 (+0.040)"
    assert drift_after_first(rows, 1) == []  # nothing after generation 1 to report
