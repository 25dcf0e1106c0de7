"""``synthgen dedup`` refuses an --out holding an earlier result (unless --overwrite), and ``synthgen report``
on a hand-edited report.json with wrong field types is one line naming the file and the field."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from synthgen.api import run_recipe
from synthgen.cli import cli

TEXTS = ["the quick brown fox jumps over the lazy dog near the river bank today",
         "a completely different sentence about cooking pasta with fresh tomato sauce",
         "the quick brown fox jumps over the lazy dog near the river bank today",
         "yet another line describing mountains covered in snow during the long winter"]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line(result) -> str:
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(TEXTS)))
    return path


def snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_dedup_refuses_an_out_folder_holding_a_result(tmp_path, source):
    out = tmp_path / "d1"
    first = invoke("dedup", source, "--out", out, "--workers", "1")
    assert first.exit_code == 0, first.output
    before = snapshot(out)
    assert {"kept.parquet", "rejected.parquet", "summary.json"} <= set(before)
    again = invoke("dedup", out / "kept.parquet", "--out", out, "--workers", "1")
    assert again.exit_code == 1
    line = one_line(again)
    assert str(out) in line and "--overwrite" in line and "--out" in line
    assert snapshot(out) == before


def test_dedup_refuses_any_one_of_its_output_files(tmp_path, source):
    out = tmp_path / "d"
    out.mkdir()
    (out / "summary.json").write_text("{}")
    result = invoke("dedup", source, "--out", out)
    assert result.exit_code == 1 and "summary.json" in one_line(result)
    assert (out / "summary.json").read_text() == "{}"


def test_dedup_overwrite_replaces_the_result(tmp_path, source):
    out = tmp_path / "d"
    assert invoke("dedup", source, "--out", out, "--workers", "1").exit_code == 0
    assert pq.read_table(out / "rejected.parquet").num_rows == 1
    other = tmp_path / "g.jsonl"
    other.write_text(json.dumps({"id": 9, "text": TEXTS[1]}) + "\n")
    result = invoke("dedup", other, "--out", out, "--overwrite", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert pq.read_table(out / "kept.parquet").num_rows == 1
    assert pq.read_table(out / "rejected.parquet").num_rows == 0
    assert json.loads((out / "summary.json").read_text())["rows"] == 1


def test_dedup_an_input_inside_out_works_with_overwrite(tmp_path, source):
    out = tmp_path / "d"
    assert invoke("dedup", source, "--out", out, "--workers", "1").exit_code == 0
    kept = pq.read_table(out / "kept.parquet").to_pylist()
    result = invoke("dedup", out / "kept.parquet", "--out", out, "--overwrite", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert "3 rows: 3 kept, 0 dropped" in result.output
    assert pq.read_table(out / "kept.parquet").to_pylist() == kept


def test_dedup_help_names_overwrite():
    result = invoke("dedup", "--help")
    assert result.exit_code == 0 and "--overwrite" in result.output


def test_the_python_api_still_replaces_by_default(tmp_path, source):
    from synthgen.dedup.cli import run_dedup
    from synthgen.errors import SynthgenError

    run_dedup(source, tmp_path / "o", workers=1)
    assert run_dedup(source, tmp_path / "o", workers=1).kept == 3
    with pytest.raises(SynthgenError, match=r"overwrite=True"):
        run_dedup(source, tmp_path / "o", workers=1, overwrite=False)


@pytest.fixture
def run_dir(write_recipe):
    return run_recipe(write_recipe(target=4, budget=20), progress=False).run_dir


def edit(run_dir, change):
    path = run_dir / "report.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_report_of_a_valid_run_is_unchanged(run_dir):
    before = (run_dir / "report.md").read_text()
    result = invoke("report", run_dir)
    assert result.exit_code == 0, result.output
    assert (run_dir / "report.md").read_text() == before


@pytest.mark.parametrize(("change", "field"), [
    (lambda d: d.update(kept="ten"), "'kept'"),
    (lambda d: d.update(acceptance_rate="100%"), "'acceptance_rate'"),
    (lambda d: d["funnel"][1].pop("count"), "'funnel[1].count'"),
    (lambda d: d["funnel"][0].pop("step"), "'funnel[0].step'"),
    (lambda d: d.update(candidate_records=[1]), "'candidate_records'"),
    (lambda d: d["stages"][0].update(seconds="fast"), "'stages[0].seconds'"),
    (lambda d: d["timings"].update(generate_seconds="2s"), "'timings.generate_seconds'"),
])
def test_report_names_the_wrong_field(run_dir, change, field):
    edit(run_dir, change)
    result = invoke("report", run_dir)
    assert result.exit_code == 1, result.output
    line = one_line(result)
    assert str(run_dir / "report.json") in line and field in line
