"""Every notebook in notebooks/ executes top to bottom (nbclient), and is stored without outputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
SLOW = {"quickstart.ipynb"}  # starts the real vLLM engine


def test_there_are_notebooks():
    assert {p.name for p in NOTEBOOKS} >= {"quickstart.ipynb", "tuning_gates.ipynb", "generations.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path):
    book = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") and not cell.get("execution_count") for cell in book.cells
               if cell.cell_type == "code")


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.slow) if p.name in SLOW else p
                                  for p in NOTEBOOKS], ids=lambda p: p.name)
def test_notebook_executes(path, tmp_path):
    from nbclient import NotebookClient

    # run a copy inside a copy of the repo layout, so the notebook's ../recipes and ../runs resolve
    root = tmp_path / "repo"
    shutil.copytree(path.parents[1] / "recipes", root / "recipes")
    (root / "notebooks").mkdir(parents=True)
    book = nbformat.read(path, as_version=4)
    NotebookClient(book, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(root / "notebooks")}}).execute()
    errors = [o for c in book.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    CHECKS.get(path.name, lambda root: None)(root)


def no_duplicate_records(root):
    """generations.ipynb says each generation is deduplicated against all history: no text is kept twice,
    within a generation or across generations (its recipe's [dedup] table does it)."""
    import pyarrow.parquet as pq

    runs = sorted((root / "runs" / "notebook-generations").glob("gen-*/data.parquet"))
    texts = [t for run in runs for t in pq.read_table(run).column("text").to_pylist()]
    assert len(runs) >= 2 and len(set(texts)) == len(texts)


CHECKS = {"generations.ipynb": no_duplicate_records}  # what a notebook's text claims about its output
