"""Write errors on output paths: one ``Error:`` line naming the path and the OS reason, exit 1, no traceback
(``--verbose`` keeps it); ``schema --out`` creates a missing parent folder like ``corpus`` does."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from synthgen.cli import cli
from synthgen.cli_errors import os_error_text, reports_errors


def one_error_line(result, *names: str) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for name in names:
        assert name in lines[0], result.output
    return lines[0]


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "file.txt"
    path.write_text("not a folder\n")
    return path


def test_schema_into_missing_folder_creates_it(tmp_path):
    out = tmp_path / ".vscode" / "recipe.schema.json"
    result = CliRunner().invoke(cli, ["schema", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert isinstance(json.loads(out.read_text()), dict)


def test_schema_under_a_file_is_one_line(a_file):
    out = a_file / "x.json"
    line = one_error_line(CliRunner().invoke(cli, ["schema", "--out", str(out)]), str(out))
    assert "is a file" in line
    assert a_file.read_text() == "not a folder\n"  # nothing already there is lost


def test_dedup_to_unwritable_location_is_one_line(tmp_path, a_file):
    rows = tmp_path / "in.jsonl"
    rows.write_text("".join(json.dumps({"text": f"row number {i} here"}) + "\n" for i in range(3)))
    out = a_file / "out"
    one_error_line(CliRunner().invoke(cli, ["dedup", str(rows), "--out", str(out), "--workers", "1"]), str(out))


def test_corpus_to_unwritable_location_is_one_line(a_file):
    out = a_file / "x.jsonl"
    one_error_line(CliRunner().invoke(cli, ["corpus", "fortunes", "--out", str(out)]), str(out))


@click.command()
@click.option("--verbose", is_flag=True)
@click.option("--kind", default="notdir")
@reports_errors
def failing(verbose: bool, kind: str) -> None:
    if kind == "notdir":
        raise NotADirectoryError(20, "Not a directory", "/data/file.txt/out")
    if kind == "isdir":
        raise IsADirectoryError(21, "Is a directory", "/data/report.md")
    raise OSError("device went away")  # no filename


def test_os_error_becomes_one_line_with_reason_and_path():
    line = one_error_line(CliRunner().invoke(failing, []), "/data/file.txt/out", "Not a directory")
    assert line.startswith("Error: cannot write /data/file.txt/out: Not a directory")
    one_error_line(CliRunner().invoke(failing, ["--kind", "isdir"]), "/data/report.md", "it is a folder")


def test_os_error_without_filename_is_one_sensible_line():
    line = one_error_line(CliRunner().invoke(failing, ["--kind", "none"]))
    assert line == "Error: OSError: device went away"


def test_verbose_keeps_the_traceback():
    result = CliRunner().invoke(failing, ["--verbose"])
    assert result.exit_code == 1 and isinstance(result.exception, NotADirectoryError)


def test_os_error_text_names_both_paths_and_a_missing_folder(tmp_path):
    assert os_error_text(OSError(18, "Invalid cross-device link", "a", None, "b")) == (
        "cannot write a -> b: Invalid cross-device link")
    missing = tmp_path / "nope" / "deeper" / "x.json"
    text = os_error_text(FileNotFoundError(2, "No such file or directory", str(missing)))
    assert str(missing) in text and f"folder {tmp_path / 'nope'} does not exist" in text
