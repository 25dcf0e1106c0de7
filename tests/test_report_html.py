"""report.html: self-contained, with the funnel, gate metrics against thresholds, per-generation lines and
escaped samples; ``synthgen report RUN_DIR`` rebuilds it."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from synthgen.report import facts, plots
from synthgen.report.cli import report_command
from synthgen.report.html import rebuild_report, render_html, write_html_report

HOSTILE = "<script>alert('x')</script> & a question about rivers?"
OUTPUTS = f'outputs = ["{HOSTILE}", "rivers and bread and chess today?", "<b>short</b>"]'
PNG = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')

DECISIONS = [
    {"metric": "distinct_2", "against": "real", "value": 0.9, "threshold": 0.8, "passed": True, "status": "pass"},
    {"metric": "mean_pairwise_cosine", "against": "real", "value": 0.5, "threshold": 0.4, "passed": False,
     "status": "fail", "rule": "<= min(real + 0.05, 0.8)", "reason": "0.5 > 0.4"},
    {"metric": "vendi", "against": "real", "value": None, "threshold": None, "passed": None,
     "status": "not_computed", "reason": "no embedder <configured>"},
]


@pytest.fixture
def run_dir(write_recipe) -> Path:
    """A run whose scripted outputs hold HTML, one of them too short (rejected)."""
    from synthgen.api import run_recipe

    recipe = write_recipe(target=4, budget=12)
    recipe.write_text(recipe.read_text().replace('type = "scripted"', f'type = "scripted"\n{OUTPUTS}'))
    return run_recipe(recipe, progress=False).run_dir


GATE = """
[diversity]
embedder = "tfidf"
tfidf_components = 32
reference = "reference.jsonl"
near_duplicate_threshold = false

[diversity.gate]
min_samples = 20
clusters = 3
"""


def sentences(count: int, offset: int) -> list[str]:
    """Varied English sentences (CPython's pydoc topics), shuffled once: any two slices look alike."""
    import random

    from pydoc_data.topics import topics

    text = " ".join(topics[key] for key in sorted(topics))
    found = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if 8 <= len(s.split()) <= 30][:1000]
    random.Random(0).shuffle(found)
    return found[offset:offset + count]


def external_references(page: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//[^"'\s>]*""", page, re.I)


def test_html_is_self_contained_with_the_funnel_and_escaped_samples(run_dir):
    report = json.loads((run_dir / "report.json").read_text())
    page = write_html_report(run_dir, report).read_text()
    assert page.startswith("<!DOCTYPE html>") and external_references(page) == []
    assert re.search(r'<img alt="funnel chart" src="data:image/png;base64,', page)
    for png in PNG.findall(page):
        assert base64.b64decode(png).startswith(b"\x89PNG")
    assert "<script>" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; a question" in page
    assert "&lt;b&gt;short&lt;/b&gt;" in page and "too_short" in page
    assert "Samples kept" in page and "Samples rejected, with reasons" in page


def test_gates_generations_and_mix_are_drawn_against_thresholds():
    report = {"name": "g", "status": "complete", "stop_reason": "target_reached", "kept": 1, "target": 1,
              "funnel": [{"step": "generated", "count": 2}, {"step": "dataset", "count": 1}],
              "diversity": {"passed": False, "decisions": DECISIONS, "failed": ["mean_pairwise_cosine vs real"]},
              "mix": {"n_real": 3, "n_synthetic": 1, "synthetic_share": 0.25, "cap": 0.3, "default_cap": 0.3},
              "generations": [{"generation": 1, "distinct_2": 0.9, "heldout": {"loss": 2.0}},
                              {"generation": 2, "distinct_2": 0.8, "heldout": {"loss": 2.2}}]}
    page = render_html(report, [], [])
    assert len(PNG.findall(page)) == 3 and external_references(page) == []
    assert '<span class="fail">FAIL</span>' in page and '<span class="na">not computed</span>' in page
    assert "no embedder &lt;configured&gt;" in page and "Failed gate: diversity: mean_pairwise_cosine vs real" in page
    assert "synthetic_share" in page and "heldout.loss" in page and "1: 2, 2: 2.2" in page


def test_page_without_matplotlib_still_renders(run_dir, monkeypatch):
    monkeypatch.setattr(plots, "_figure", lambda *a: None)
    page = write_html_report(run_dir, json.loads((run_dir / "report.json").read_text())).read_text()
    assert "plot not drawn: install matplotlib" in page and "data:image/png" not in page


def test_rebuild_and_command(run_dir):
    (run_dir / "report.html").unlink(missing_ok=True)
    (run_dir / "report.md").unlink()
    result = CliRunner().invoke(report_command, [str(run_dir)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"report: {run_dir / 'report.html'}"
    assert (run_dir / "report.html").is_file() and "## Funnel" in (run_dir / "report.md").read_text()
    assert rebuild_report(run_dir) == run_dir / "report.html"


def test_command_errors(tmp_path):
    result = CliRunner().invoke(report_command, [str(tmp_path)])
    assert result.exit_code == 1 and "Error:" in result.output and "report.json" in result.output
    assert CliRunner().invoke(report_command, ["--help"]).exit_code == 0


def test_gate_decisions_accept_lists_and_results():
    as_list = facts.gate_decisions({"gates": DECISIONS[:1]})
    as_result = facts.gate_decisions({"diversity": {"passed": True, "decisions": DECISIONS}})
    assert [d["metric"] for d in as_list] == ["distinct_2"] and as_list[0]["gate"] == "gates"
    assert [d["passed"] for d in as_result] == [True, False, None]
    checks = [{"window": [0, 5], "attempt": 0, "passed": False, "decisions": DECISIONS[1:2]},
              {"window": [0, 5], "attempt": 1, "passed": True, "decisions": DECISIONS[:1]}]
    every, latest = facts.gate_decisions({"gates": checks}), facts.gate_decisions({"gates": checks}, latest_only=True)
    assert [(d["check"], d["metric"]) for d in every] == [("records 0-5, attempt 0", "mean_pairwise_cosine"),
                                                          ("records 0-5, attempt 1", "distinct_2")]
    assert latest == every[1:] and "2 checks ran and 1 failed" in facts.gate_checks_summary({"gates": checks})[0]
    mix = facts.gate_decisions({"mix": {"synthetic_share": 0.6, "cap": 0.5}})
    assert mix == [{"gate": "mix", "check": None, "metric": "synthetic_share", "against": "cap", "value": 0.6, "threshold": 0.5,
                    "passed": False, "rule": "<= cap", "reason": None}]


def test_gate_failures_and_lineage():
    assert facts.gate_failures({"gates_passed": False, "stop_reason": "gate_budget_spent"}) == ["gate_budget_spent"]
    assert facts.gate_failures({"diversity": {"passed": False, "failed": ["vendi vs real"]}}) == [
        "diversity: vendi vs real"]
    assert facts.gate_failures({"status": "complete"}) == []
    rows = [{"generation": 2, "depth": 2}, {"generation": 2, "depth": 2}]
    assert facts.lineage_lines({}, {}, rows) == ["generation 2, depth 2 from human data"]
    assert facts.lineage_lines({"lineage": {"parents": ["a"], "depth": 1}}, {}, rows) == ["parents: [a]", "depth: 1"]


def test_a_gated_run_shows_its_checks_in_the_report_and_the_card(write_recipe, tmp_path):
    from synthgen.api import run_recipe
    from synthgen.backends.testing import ScriptedBackend
    from synthgen.publish import publish_run
    from synthgen.recipe.schema import ScriptedBackendConfig

    (tmp_path / "reference.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in sentences(200, 0)))
    recipe = write_recipe(target=30, budget=120, batch_size=30, extra=GATE)
    backend = ScriptedBackend(ScriptedBackendConfig(type="scripted", outputs=sentences(150, 200)))
    run_dir = run_recipe(recipe, backend=backend, progress=False).run_dir
    page = rebuild_report(run_dir).read_text()
    assert '<img alt="gate metrics"' in page and "cluster_coverage" in page and "records 0-30, attempt 0" in page
    card = (publish_run(run_dir, "me/gated", dry_run=True).folder / "README.md").read_text()
    assert "| diversity | records 0-30, attempt 0 | distinct_2 | real |" in card  # the gate kind, not the key


def test_final_dataset_diversity_metrics_are_informational_not_gate_rows():
    measured = [{"metric": "distinct_1", "value": 0.186, "reference": 0.648, "ratio": 0.287, "reason": None}]
    report = {"name": "d", "status": "complete", "kept": 1, "target": 1, "diversity": measured,
              "gates": [{"passed": True, "decisions": DECISIONS[:1]}]}
    assert [d["metric"] for d in facts.gate_decisions(report)] == ["distinct_2"]
    page = render_html(report, [], [])
    gates = page.split("<h2>Gates")[1].split("<h2>")[0]
    assert "distinct_1" not in gates and "not computed" not in gates
    assert "Diversity of the dataset (informational, not a gate)" in page and "distinct_1" in page
