"""What a run writes beside its dataset: report.md shows control characters in sample texts as ``\\xNN``
escapes (a raw NUL made `grep` call the report binary, and an escape sequence would drive the terminal that
prints it), and a run that rejected nothing writes rejected.parquet with the columns a run with rejects has
(it had 7 of the 12, so concatenating several runs' rejects failed on it)."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow.parquet as pq

from synthgen.api import run_recipe

RECIPE = """
[recipe]
name = "outputs"
seed = 1

[seeds]
type = "inline"
records = [{{topic = "tea"}}, {{topic = "maps"}}, {{topic = "rivers"}}]

[prompt]
template = "Say something about {{topic}}."

[generation]
target = 2
max_candidates = 6
batch_size = 3

[generation.backend]
type = "scripted"
outputs = {outputs}

[[verify]]
type = "length"
unit = "words"
min = 3
"""


def run(folder: Path, outputs: str):
    folder.mkdir()
    (folder / "r.toml").write_text(RECIPE.format(outputs=outputs))
    return run_recipe(folder / "r.toml", out=folder / "run", progress=False)


def test_report_md_shows_control_characters_as_escapes(tmp_path: Path) -> None:
    result = run(tmp_path / "c", '["kept text\\u0000with a nul and \\u001b[31mred\\u001b[0m words", "short"]')
    assert any("\x00" in row["text"] for row in result.dataset.to_list())  # the data keeps the model's text
    report = (tmp_path / "c" / "run" / "report.md").read_text()
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", report)
    assert "kept text\\x00with a nul and \\x1b[31mred\\x1b[0m words" in report


def test_no_rejects_and_some_rejects_give_the_same_rejected_columns(tmp_path: Path) -> None:
    run(tmp_path / "some", '["kept text with words", "short"]')
    run(tmp_path / "none", '["kept text with words"]')
    some, none = (pq.read_table(tmp_path / name / "run" / "rejected.parquet") for name in ("some", "none"))
    assert none.num_rows == 0 < some.num_rows
    assert none.schema.equals(some.schema, check_metadata=False)
