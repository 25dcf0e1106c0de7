"""Report and publish on damaged or unusual run directories: one clear error line, never a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from helpers_publish import MIX, finished_run, no_stored_login, run_dir  # noqa: F401 (fixtures)

from synthgen.publish import PublishError, build_hub_folder
from synthgen.publish.cli import publish_command
from synthgen.report.cli import report_command


def _report(run: Path):
    return CliRunner().invoke(report_command, [str(run)])


def _publish(run: Path, *extra: str):
    return CliRunner().invoke(publish_command, [str(run), "--repo-id", "me/tiny", "--dry-run",
                                                "--out", str(run.parent / "hub-out"), *extra])


def _one_error_line(result, *needles: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_report_on_an_evolve_project_says_so(tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    (project / "report.json").write_text(json.dumps({"project": str(project), "generations": [], "stop_reason": "x"}))
    (project / "lineage.json").write_text("{}")
    for result in (_report(project), _publish(project)):
        _one_error_line(result, "is an evolve project", "synthgen evolve", "gen-N")


@pytest.mark.parametrize("damage", ["list", "no_funnel", "funnel_number", "stages_numbers"])
def test_wrong_shape_report_json_is_one_error(run_dir, damage):
    data = json.loads((run_dir / "report.json").read_text())
    data = {"list": [], "no_funnel": {k: v for k, v in data.items() if k != "funnel"},
            "funnel_number": {**data, "funnel": 3}, "stages_numbers": {**data, "stages": [1, 2]}}[damage]
    (run_dir / "report.json").write_text(json.dumps(data))
    before = (run_dir / "report.md").read_text()
    for result in (_report(run_dir), _publish(run_dir)):
        _one_error_line(result, "report.json is corrupt", "synthgen generate")
    assert (run_dir / "report.md").read_text() == before
    if damage == "no_funnel":
        assert "missing key 'funnel'" in _report(run_dir).output


@pytest.mark.parametrize("name", ["data.parquet", "rejected.parquet", "mix/data.parquet"])
def test_corrupt_parquet_is_one_error_naming_it(run_dir, name):
    (run_dir / name).write_text("junk\n")
    if name != "mix/data.parquet":  # the report reads no mix rows
        _one_error_line(_report(run_dir), f"{name} is not a readable parquet file", "synthgen generate")
    if name != "rejected.parquet":  # publish never reads the rejects
        _one_error_line(_publish(run_dir), f"{name} is not a readable parquet file")


def test_report_refuses_when_the_data_files_are_gone(run_dir):
    before = (run_dir / "report.md").read_text()
    for name in ("data.parquet", "rejected.parquet"):
        (run_dir / name).unlink()
    shutil.rmtree(run_dir / "dataset")
    _one_error_line(_report(run_dir), "data.parquet and rejected.parquet are missing", "left as they were")
    assert (run_dir / "report.md").read_text() == before


def _as_steps_run(run: Path) -> None:
    """Make the run look like a fan-out steps run: the record in ``answer``, no text/prompt columns,
    twice as many candidate records as first-step candidates."""
    import pyarrow.parquet as pq

    table = pq.read_table(run / "data.parquet")
    table = table.rename_columns(["answer" if c == "text" else c for c in table.column_names]).drop(["prompt"])
    pq.write_table(table.append_column("parent_id", table.column("id")), run / "data.parquet")
    report = json.loads((run / "report.json").read_text())
    first = report["throughput"]["candidates"]
    report.update(output={"format": "raw", "main_field": "answer"}, candidate_records=2 * first,
                  rejected=first + 3)
    (run / "report.json").write_text(json.dumps(report))


def test_card_columns_describe_the_published_file(run_dir):
    _as_steps_run(run_dir)
    card = (build_hub_folder(run_dir, run_dir / "out", "me/tiny", force=True) / "README.md").read_text()
    columns = card.split("## Columns", 1)[1]
    assert "`answer` is the record" in columns and "`parent_id`" in columns
    default, mix = columns.split("The `mix` config also has", 1)
    assert "`prompt`" not in default and "`text`" not in default
    assert "`source`" in mix and "`text` (the record: a real row's text" in mix


def test_rejected_counts_against_every_candidate_record(run_dir):
    _as_steps_run(run_dir)
    report = json.loads((run_dir / "report.json").read_text())
    first, made, rejected = report["throughput"]["candidates"], report["candidate_records"], report["rejected"]
    phrase = f"{made} candidate records ({first} first-step candidates + {made - first} fan-out children)"
    assert _report(run_dir).exit_code == 0
    assert f"rejected: {rejected} of {phrase}" in (run_dir / "report.md").read_text()
    assert f"rejected: {rejected} of {phrase}" in (run_dir / "report.html").read_text()
    card = (build_hub_folder(run_dir, run_dir / "out", "me/tiny", force=True) / "README.md").read_text()
    assert f"candidates generated: {phrase}, rejected: {rejected}" in card


@pytest.mark.parametrize("given, guess", [("not a license", None), ("cc-by-4", "cc-by-4.0"),
                                          ("Apache-2.0", "apache-2.0")])
def test_unknown_license_is_refused_with_a_guess(run_dir, given, guess):
    result = _publish(run_dir, "--license", given)
    _one_error_line(result, "is not a Hugging Face Hub license id", *([f"did you mean {guess}"] if guess else []))
    with pytest.raises(PublishError, match="not a Hugging Face Hub license id"):
        build_hub_folder(run_dir, run_dir / "out2", "me/tiny", license=given)


def test_license_other_needs_a_name_and_uses_it(run_dir):
    _one_error_line(_publish(run_dir, "--license", "other"), "--license other needs --license-name")
    _one_error_line(_publish(run_dir, "--license", "mit", "--license-name", "x"), "apply only to --license other")
    result = _publish(run_dir, "--license", "other", "--license-name", "my-terms", "--license-link", "https://x.org/t")
    assert result.exit_code == 0, result.output
    card = (run_dir.parent / "hub-out" / "README.md").read_text()
    meta = yaml.safe_load(card.split("---")[1])
    assert (meta["license"], meta["license_name"], meta["license_link"]) == ("other", "my-terms", "https://x.org/t")
    assert "no license was chosen" not in card and "`other` (my-terms)" in card


def test_a_hub_license_id_passes(run_dir):
    assert _publish(run_dir, "--license", "cc-by-4.0").exit_code == 0
    assert "license: cc-by-4.0" in (run_dir.parent / "hub-out" / "README.md").read_text()
