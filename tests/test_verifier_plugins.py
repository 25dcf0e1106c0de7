"""Third-party verifiers register through the ``synthgen.verifiers`` entry point group (issue 17).

A tiny plugin package is "installed" the way pip leaves one on disk (the module plus a ``.dist-info``
folder with ``entry_points.txt``) in a temporary folder put on the path of a fresh interpreter, which
then validates and runs a recipe that uses the plugin's verifier by name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from synthgen.plugins import check_plugin

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = '''
from typing import Literal

from synthgen.records import Verdict
from synthgen.recipe.base import Strict


class ShoutVerifier:
    """Keeps texts with at least ``min_marks`` exclamation marks."""

    name = "shout"

    class Config(Strict):
        type: Literal["shout"]
        min_marks: int = 1

    def __init__(self, min_marks: int = 1):
        self.min_marks = min_marks

    def check(self, candidate):
        marks = candidate.text.count("!")
        return Verdict.accept(1.0) if marks >= self.min_marks else Verdict.reject("not_shouting", 0.0, marks=marks)

    def check_batch(self, candidates):
        return [self.check(c) for c in candidates]
'''
RECIPE = '''
[recipe]
name = "plugin"

[seeds]
type = "inline"
records = [{t = "a"}]

[prompt]
template = "{t}"

[generation]
target = 1
backend = {type = "scripted", outputs = ["x"]}

[[verify]]
type = "shout"
min_marks = 2
'''
SCRIPT = '''
import json, sys
from synthgen.recipe.load import load_recipe
from synthgen.records import Candidate, GenerationRequest, Seed
from synthgen.verify import VerifyContext, build_verify_stages

loaded = load_recipe(sys.argv[1])
[stage] = build_verify_stages(loaded.recipe.verify, VerifyContext.of(loaded))
request = GenerationRequest(0, "a", Seed(0, {"t": "a"}), 0)
verdicts = [stage.verifier.check(Candidate(request, 0, text, 1)) for text in ("hi!!", "hi!")]
print(json.dumps({"stage": stage.name, "verdicts": [[v.keep, v.reason] for v in verdicts]}))
'''


def install_plugin(folder: Path) -> None:
    (folder / "synthgen_shout.py").write_text(textwrap.dedent(PLUGIN))
    info = folder / "synthgen_shout-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: synthgen-shout\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[synthgen.verifiers]\nshout = synthgen_shout:ShoutVerifier\n")


def run_with_plugin(folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)])}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=120)


def test_a_plugin_verifier_is_used_from_a_recipe(tmp_path):
    install_plugin(tmp_path)
    recipe = tmp_path / "plugin.toml"
    recipe.write_text(RECIPE)
    done = run_with_plugin(tmp_path, "-c", SCRIPT, str(recipe))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"stage": "shout", "verdicts": [[True, None], [False, "not_shouting"]]}


def test_a_plugin_table_is_validated_like_a_built_in_one(tmp_path):
    install_plugin(tmp_path)
    recipe = tmp_path / "typo.toml"
    recipe.write_text(RECIPE.replace("min_marks = 2", "min_markz = 2"))
    done = run_with_plugin(tmp_path, "-m", "synthgen", "validate", str(recipe))
    assert done.returncode == 1 and "min_markz" in done.stderr, done.stderr


def test_without_the_plugin_the_type_is_unknown(tmp_path):
    recipe = tmp_path / "plugin.toml"
    recipe.write_text(RECIPE)
    done = run_with_plugin(tmp_path, "-m", "synthgen", "validate", str(recipe))
    assert done.returncode == 1 and "shout" in done.stderr, done.stderr


def test_a_plugin_class_must_carry_its_config():
    class NoConfig:
        def check(self, candidate):
            return None

    with pytest.raises(TypeError, match=r"needs a pydantic `Config` with `type: Literal\['x'\]`"):
        check_plugin("x", NoConfig)
