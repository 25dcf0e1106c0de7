"""run_recipe fixes: secrets redacted from the manifest (and so the card), a passed backend's provenance and
resume, overrides on a LoadedRecipe, argument checks, a no-op re-run keeping its measured figures, and
hints that name run_recipe's arguments rather than the CLI's flags."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from synthgen.api import run_recipe
from synthgen.backends.testing import ScriptedBackend
from synthgen.cli import cli
from synthgen.errors import ArgumentError, RunDirError, SynthgenError
from synthgen.redact import redact_secrets, redact_url as redact_url_secrets
from synthgen.recipe import load_recipe

SECRET_URL = "http://alice:s3cret@127.0.0.1:9/v1"
SECRET_QUERY_URL = "http://127.0.0.1:9/v1?api_key=k3y&region=eu"


def use_openai(recipe: Path, base_url: str = SECRET_URL) -> Path:
    """The recipe's backend becomes an OpenAI-compatible server (never contacted: tests pass a backend)."""
    text = recipe.read_text().replace('type = "scripted"\ndelay_s = 0.0',
                                      f'type = "openai"\nbase_url = "{base_url}"\nmodel = "fake-model"')
    recipe.write_text(text)
    return recipe


def interrupt(run: Path, keep_batches: int) -> None:
    """What a killed run leaves: the first checkpoints, no report."""
    for shard in sorted((run / "checkpoints").glob("batch-*.json"))[keep_batches:]:
        shard.unlink()
    (run / "report.json").unlink()


class OtherBackend(ScriptedBackend):
    """A scripted backend that describes itself as another model."""

    name = "other"

    def describe(self) -> dict[str, Any]:
        return {"backend": "other", "model": "other-model"}


# --- #2: credentials in a URL never reach manifest.json or the card -----------------------------------

def test_url_secrets_are_redacted():
    assert redact_url_secrets(SECRET_URL) == "http://***@127.0.0.1:9/v1"
    assert redact_url_secrets(SECRET_QUERY_URL) == "http://127.0.0.1:9/v1?api_key=***&region=eu"
    assert redact_url_secrets("https://h/p?token=t&access_token=a&page=2") == \
        "https://h/p?token=***&access_token=***&page=2"
    assert redact_url_secrets("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert redact_secrets({"a": [f"generation.backend.base_url={SECRET_URL}", 3, None]}) == \
        {"a": ["generation.backend.base_url=http://***@127.0.0.1:9/v1", 3, None]}


def test_manifest_and_card_hold_no_credentials_but_the_run_keeps_them(write_recipe, tmp_path):
    from synthgen.plan import RecipeContext, build_main_backend
    from synthgen.publish import build_hub_folder

    loaded = load_recipe(use_openai(write_recipe(target=3)))
    override = "verify.0.type=non_empty"  # an unrelated override, recorded as given
    result = run_recipe(loaded, overrides=[override, f"generation.backend.base_url={SECRET_QUERY_URL}"],
                        out=tmp_path / "run", backend=ScriptedBackend(), progress=False)
    manifest_text = (result.run_dir / "manifest.json").read_text()
    card = (build_hub_folder(result.run_dir, tmp_path / "hub", "me/tiny") / "README.md").read_text()
    for text in (manifest_text, card, json.dumps(result.manifest)):
        assert "k3y" not in text and "s3cret" not in text
    redacted = "generation.backend.base_url=http://127.0.0.1:9/v1?api_key=***&region=eu"
    assert result.manifest["overrides"] == [override, redacted]
    assert loaded.recipe.generation.backend.base_url == SECRET_URL  # what runs is the real URL
    assert build_main_backend(loaded.recipe, RecipeContext.from_loaded(loaded)).base_url == SECRET_URL


def test_manifest_redacts_userinfo_in_the_resolved_recipe(write_recipe, tmp_path):
    result = run_recipe(use_openai(write_recipe(target=3)), out=tmp_path / "run", backend=ScriptedBackend(),
                        progress=False)
    assert result.manifest["recipe"]["generation"]["backend"]["base_url"] == "http://***@127.0.0.1:9/v1"
    assert "s3cret" not in (result.run_dir / "manifest.json").read_text()


# --- #6: a passed backend is the records' provenance; resume refuses another backend --------------------

def test_records_name_the_backend_that_generated_them(write_recipe, tmp_path):
    result = run_recipe(use_openai(write_recipe(target=3)), out=tmp_path / "run", backend=ScriptedBackend(),
                        progress=False)
    rows = result.dataset.to_list()
    assert {(row["backend"], row["model"]) for row in rows} == {("scripted", "scripted")}
    assert result.manifest["backend"]["backend"] == "scripted"


def test_records_keep_the_recipe_labels_for_its_own_backend(write_recipe, tmp_path):
    result = run_recipe(write_recipe(target=3), out=tmp_path / "run", progress=False)
    assert {(row["backend"], row["model"]) for row in result.dataset.to_list()} == {("scripted", "scripted")}


def test_resume_refuses_a_different_backend(write_recipe, tmp_path):
    recipe, run = write_recipe(target=12, budget=40, batch_size=3), tmp_path / "run"
    run_recipe(recipe, out=run, progress=False)
    interrupt(run, keep_batches=2)
    with pytest.raises(RunDirError) as error:
        run_recipe(recipe, out=run, backend=OtherBackend(), progress=False)
    message = str(error.value)
    assert "checkpoints were made by scripted (model scripted)" in message
    assert "this run's backend is other (model other-model)" in message and "\n" not in message
    assert "overwrite=True" in message and "--overwrite" not in message
    assert len(list((run / "checkpoints").glob("batch-*.json"))) == 2  # nothing was generated
    resumed = run_recipe(recipe, out=run, progress=False)
    assert resumed.report.resumed_batches == 2 and resumed.report.kept == 12


def test_resume_with_the_recipe_backend_refuses_a_run_a_passed_backend_made(write_recipe, tmp_path):
    recipe, run = write_recipe(target=12, budget=40, batch_size=3), tmp_path / "run"
    run_recipe(recipe, out=run, backend=OtherBackend(), progress=False)
    interrupt(run, keep_batches=1)
    with pytest.raises(RunDirError, match=r"made by other \(model other-model\)"):
        run_recipe(recipe, out=run, progress=False)
    resumed = run_recipe(recipe, out=run, backend=OtherBackend(), progress=False)
    assert {row["backend"] for row in resumed.dataset.to_list()} == {"other"}


# --- #8: overrides apply to a LoadedRecipe ------------------------------------------------------------

def test_overrides_apply_to_a_loaded_recipe(write_recipe, tmp_path):
    recipe = write_recipe(target=5)
    loaded = load_recipe(recipe, ["generation.max_candidates=30"])
    result = run_recipe(loaded, overrides=["generation.target=2"], out=tmp_path / "run", progress=False)
    assert result.report.kept == 2 and result.report.target == 2
    assert result.manifest["overrides"] == ["generation.max_candidates=30", "generation.target=2"]
    both = load_recipe(recipe, ["generation.max_candidates=30", "generation.target=2"])
    assert result.manifest["recipe_hash"] == both.hash
    assert loaded.recipe.generation.target == 5  # the caller's object is not changed


def test_a_loaded_recipe_without_overrides_keeps_its_hash(write_recipe, tmp_path):
    loaded = load_recipe(write_recipe(target=3))
    assert run_recipe(loaded, out=tmp_path / "run", progress=False).manifest["recipe_hash"] == loaded.hash


# --- #9: run_recipe checks its arguments before writing anything -------------------------------------

@pytest.mark.parametrize("arguments, named", [
    ({"limit": 0}, "limit=0"),
    ({"limit": True}, "limit=True"),
    ({"limit": 2.5}, "limit=2.5"),
    ({"overrides": "generation.target=2"}, "overrides='generation.target=2'"),
    ({"overrides": ["generation.target"]}, "overrides: 'generation.target'"),
    ({"backend": "scripted"}, "backend='scripted'"),
    ({"backend": object()}, "backend=<object"),
    ({"recipe": 7}, "recipe=7"),
])
def test_bad_arguments_are_one_clear_error_before_anything_is_written(write_recipe, tmp_path, arguments, named):
    recipe = arguments.pop("recipe", write_recipe(target=3))
    out = tmp_path / "run"
    with pytest.raises(ArgumentError) as error:
        run_recipe(recipe, out=out, progress=False, **arguments)
    assert str(error.value).startswith(named) and "\n" not in str(error.value)
    assert not out.exists()


def test_a_string_backend_hint_names_the_override(write_recipe, tmp_path):
    with pytest.raises(ArgumentError, match=r"overrides=\['generation.backend.type=scripted'\]"):
        run_recipe(write_recipe(), out=tmp_path / "run", backend="scripted", progress=False)


@pytest.mark.parametrize("out, problem", [("afile.txt", "out=.*afile.txt: is a file, not a folder"),
                                          ("afile.txt/run", "out=.*afile.txt/run: .*afile.txt is a file")])
def test_out_through_a_file_is_refused(write_recipe, tmp_path, out, problem):
    (tmp_path / "afile.txt").write_text("mine")
    with pytest.raises(ArgumentError, match=problem):
        run_recipe(write_recipe(), out=tmp_path / out, progress=False)
    assert (tmp_path / "afile.txt").read_text() == "mine"


def test_recipe_output_dir_through_a_file_is_refused(write_recipe, tmp_path):
    (tmp_path / "afile.txt").write_text("mine")
    recipe = write_recipe(extra='\n[output]\ndir = "afile.txt"\n')
    with pytest.raises(Exception, match=r"recipe.toml:output.dir .*afile.txt: is a file, not a folder"):
        run_recipe(recipe, progress=False)


# --- #13: a no-op re-run keeps the report's measured figures -----------------------------------------

def mark_measured_figures(run: Path) -> None:
    """Give the finished run's report and manifest figures only its own process could have measured."""
    report = json.loads((run / "report.json").read_text())
    report["timings"]["wall_seconds"] = 123.456
    report["throughput"].update(records_per_s=7.25, pipelined=True, prefetch=1, backend_busy_seconds=99.5)
    (run / "report.json").write_text(json.dumps(report))
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["started_at"] = "2020-01-01T00:00:00+00:00"
    (run / "manifest.json").write_text(json.dumps(manifest))


def test_rerunning_a_finished_run_keeps_its_measured_figures(write_recipe, tmp_path):
    recipe, run = write_recipe(target=6), tmp_path / "run"
    first = run_recipe(recipe, out=run, progress=False)
    mark_measured_figures(run)
    (run / "data.parquet").unlink()
    again = run_recipe(recipe, out=run, progress=False)
    saved = json.loads((run / "report.json").read_text())
    assert saved["timings"]["wall_seconds"] == 123.456 and again.report.timings.wall_seconds == 123.456
    assert saved["throughput"]["records_per_s"] == 7.25 and saved["throughput"]["pipelined"] is True
    assert saved["resumed_batches"] == first.report.throughput.batches and saved["kept"] == first.report.kept
    assert "wall 123.456 s" in (run / "report.md").read_text()
    assert json.loads((run / "manifest.json").read_text())["started_at"] == "2020-01-01T00:00:00+00:00"
    assert (run / "data.parquet").is_file()  # the artifacts are still written again


def test_a_resumed_run_measures_its_own_figures(write_recipe, tmp_path):
    recipe, run = write_recipe(target=12, budget=40, batch_size=3), tmp_path / "run"
    run_recipe(recipe, out=run, progress=False)
    mark_measured_figures(run)
    interrupt(run, keep_batches=2)
    resumed = run_recipe(recipe, out=run, progress=False)
    assert resumed.report.resumed_batches == 2 and resumed.report.timings.wall_seconds != 123.456


# --- #14: API errors name run_recipe's arguments, the CLI its flags -------------------------------------

def test_api_hints_name_keyword_arguments(write_recipe, tmp_path):
    recipe = write_recipe(target=6)
    run_recipe(recipe, out=tmp_path / "run", progress=False)
    with pytest.raises(RunDirError) as error:
        run_recipe(recipe, out=tmp_path / "run", overrides=["generation.target=4"], progress=False)
    message = str(error.value)
    assert "only generation.target differs (6 there, 4 here)" in message
    assert "limit=None" in message and "out=DIR" in message and "overwrite=True" in message
    assert "--" not in message


def test_cli_hints_still_name_flags(write_recipe, tmp_path):
    recipe = write_recipe(target=6)
    run_recipe(recipe, out=tmp_path / "run", progress=False)
    command = ["generate", str(recipe), "--out", str(tmp_path / "run"), "--limit", "3", "--quiet"]
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 1
    assert "--limit N lowers it" in result.output and "without --limit" in result.output
    assert "--out DIR" in result.output and "--overwrite" in result.output and "overwrite=True" not in result.output


def test_override_errors_name_overrides_from_python_and_set_from_the_cli(write_recipe):
    from synthgen.errors import RecipeError

    recipe = write_recipe()
    with pytest.raises(RecipeError) as error:
        load_recipe(recipe, ["generation.target"])
    assert str(error.value) == (f"{recipe}: override 'generation.target': expected KEY=VALUE "
                                "(e.g. overrides=['generation.target=10'])")
    with pytest.raises(RecipeError, match=r": override 'recipe.name.x=1': recipe.name is not a table$"):
        run_recipe(recipe, overrides=["recipe.name.x=1"], progress=False)
    result = CliRunner().invoke(cli, ["validate", str(recipe), "--set", "generation.target"])
    assert result.exit_code == 1
    assert "--set 'generation.target': expected KEY=VALUE (e.g. --set generation.target=10)" in result.output


def test_ray_address_hints_name_run_recipes_arguments(write_recipe, tmp_path):
    recipe = write_recipe()
    with pytest.raises(SynthgenError) as error:
        run_recipe(recipe, out=tmp_path / "run", address="127.0.0.1:6379", progress=False)
    assert str(error.value) == ("address='127.0.0.1:6379' names a Ray cluster, but the executor is 'local' "
                                "(pass executor='ray' (or set [execution] executor = 'ray'))")
    pytest.importorskip("ray")
    with pytest.raises(SynthgenError) as error:
        run_recipe(recipe, out=tmp_path / "run", executor="ray", address="nowhere", progress=False)
    assert error.value.hint == "e.g. address='10.0.0.5:6379' or 'auto'"
    with pytest.raises(SynthgenError) as error:
        run_recipe(recipe, out=tmp_path / "run", executor="ray", address="127.0.0.1:9", progress=False)
    assert error.value.hint == ("start one with `ray start --head` on the head node, or fix address=HOST:PORT / "
                                "RAY_ADDRESS")
    assert not (tmp_path / "run").exists()


def test_a_foreign_folder_hint_names_keyword_arguments(write_recipe, tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("mine")
    with pytest.raises(RunDirError, match=r"choose an empty folder with out=DIR, or pass overwrite=True"):
        run_recipe(write_recipe(), out=tmp_path / "notes", progress=False)


def test_a_card_built_from_an_older_unredacted_manifest_holds_no_credentials(write_recipe, tmp_path):
    """A run made before manifests were redacted still has the plaintext URL: publish redacts what it reads."""
    from synthgen.publish import build_hub_folder

    result = run_recipe(use_openai(write_recipe(target=3)), out=tmp_path / "run", backend=ScriptedBackend(),
                        progress=False)
    path = result.run_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["recipe"]["generation"]["backend"]["base_url"] = SECRET_URL  # as an older synthgen wrote it
    path.write_text(json.dumps(manifest))
    card = (build_hub_folder(result.run_dir, tmp_path / "hub", "me/tiny") / "README.md").read_text()
    assert "s3cret" not in card
