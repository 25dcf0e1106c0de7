"""Fixtures shared by the publish and report tests: one finished run of the tiny recipe with a [mix]
table, a private copy of it per test, and no stored Hugging Face login. Import them into a test module
(``from helpers_publish import finished_run, run_dir, no_stored_login``)."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
from conftest import REAL, TINY_RECIPE

MIX = '\n[mix]\nreal = "real.jsonl"\nmax_synthetic_share = 0.5\n'


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A complete run of the tiny recipe with a [mix] table (generated once per module)."""
    from synthgen.api import run_recipe

    folder = tmp_path_factory.mktemp("run")
    (folder / "real.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in REAL))
    body = TINY_RECIPE.format(target=10, budget=40, batch_size=4, delay=0.0)
    (folder / "recipe.toml").write_text(textwrap.dedent(body) + MIX)
    return run_recipe(folder / "recipe.toml", progress=False).run_dir


@pytest.fixture
def run_dir(finished_run, tmp_path) -> Path:
    """A private copy of the finished run, free to edit."""
    return Path(shutil.copytree(finished_run, tmp_path / "run"))


@pytest.fixture(autouse=True)
def no_stored_login(monkeypatch, tmp_path):
    """huggingface_hub's get_token() also reads a stored login: point it at an empty place."""
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf-home" / "token"))
