"""Third-party backends: a tiny plugin package installed with pip into a temp folder, found through the
``synthgen.backends`` entry point group and used from a recipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from synthgen.backends import backend_from_config, installed_backends
from synthgen.errors import BackendError
from synthgen.recipe.schema import PluginBackendConfig

PLUGIN_PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "synthgen-echo"
version = "0.1"

[project.entry-points."synthgen.backends"]
echo = "synthgen_echo:EchoBackend"
broken = "synthgen_echo:not_a_backend"

[tool.setuptools]
py-modules = ["synthgen_echo"]
"""

PLUGIN_MODULE = '''
from synthgen.records import Completion


class EchoBackend:
    """Echoes each prompt's last line, upper-cased, with the recipe's suffix option."""

    name = "echo"

    def __init__(self, options, *, mode, system, seed):
        self.suffix = options.get("suffix", "")
        self.mode = mode

    def load(self):
        pass

    def generate(self, requests, sampling):
        return [[Completion(f"{r.prompt.splitlines()[-1].upper()} {self.suffix} {j}", 5, "stop")
                 for j in range(sampling.n)] for r in requests]

    def describe(self):
        return {"backend": "echo", "model": "echo", "suffix": self.suffix}

    def close(self):
        pass


def not_a_backend(options, **kwargs):
    return object()
'''

RECIPE = """
[recipe]
name = "plugged"

[seeds]
type = "inline"
records = [{topic = "rivers"}, {topic = "bread"}, {topic = "chess"}]

[prompt]
template = "Write about {topic} please"

[generation]
target = 3
max_candidates = 6
[generation.backend]
type = "plugin"
name = "echo"
options = {suffix = "from-the-plugin"}
"""


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    """The plugin package, pip-installed (offline, no deps) into its own site folder."""
    root = tmp_path_factory.mktemp("plugin")
    source, site = root / "src", root / "site"
    source.mkdir()
    (source / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    (source / "synthgen_echo.py").write_text(PLUGIN_MODULE)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(site), str(source)], check=True, capture_output=True)
    return site


@pytest.fixture
def on_path(plugin_site, monkeypatch):
    monkeypatch.syspath_prepend(str(plugin_site))
    return plugin_site


def test_entry_points_list_the_plugin(on_path):
    found = installed_backends()
    assert found["echo"].value == "synthgen_echo:EchoBackend"


def test_recipe_runs_on_the_plugin_in_a_subprocess(plugin_site, tmp_path):
    (tmp_path / "recipe.toml").write_text(textwrap.dedent(RECIPE))
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_site), str(repo)])}
    result = subprocess.run([sys.executable, "-m", "synthgen", "generate", str(tmp_path / "recipe.toml"), "--quiet",
                             "--out", str(tmp_path / "run")], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    import pyarrow.parquet as pq

    texts = sorted(pq.read_table(tmp_path / "run" / "data.parquet").column("text").to_pylist())
    assert texts == [f"WRITE ABOUT {t.upper()} PLEASE from-the-plugin 0" for t in ("bread", "chess", "rivers")]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["backend"] == {"backend": "echo", "model": "echo", "suffix": "from-the-plugin"}


def test_unknown_plugin_names_the_installed_ones(on_path):
    with pytest.raises(BackendError, match=r"no backend plugin named 'nope' \(installed: .*echo"):
        backend_from_config(PluginBackendConfig(type="plugin", name="nope"))


def test_plugin_that_breaks_the_contract_is_named(on_path):
    with pytest.raises(BackendError, match=r"'broken' \(synthgen_echo:not_a_backend\) returned object"):
        backend_from_config(PluginBackendConfig(type="plugin", name="broken"))


def test_plugin_table_is_strict():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        PluginBackendConfig(type="plugin", name="echo", option={"typo": 1})
