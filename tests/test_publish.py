"""Publishing a run: the Hub folder and card, the checks before upload, and the upload itself against a fake
Hub on loopback (``tests/fake_hub.py``) so huggingface_hub's real client code runs."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from click.testing import CliRunner
from helpers_publish import MIX, finished_run, no_stored_login, run_dir  # noqa: F401 (fixtures)
from fake_hub import FakeHub

from synthgen.publish import PublishError, build_hub_folder, publish_run, push_to_hub, validate_repo_id
from synthgen.publish.card import size_category
from synthgen.publish.cli import publish_command
from synthgen.publish.toml_text import to_toml

TOKEN = "hf_fakeTOKEN1234567890secret"


@pytest.fixture
def hub(monkeypatch):
    """A fake Hub at HF_ENDPOINT, HF_TOKEN set, and huggingface_hub's telemetry off (it would call out)."""
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # `make test` exports HF_HUB_OFFLINE=1
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with FakeHub(TOKEN) as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        yield fake


def edit_report(run_dir: Path, **changes) -> None:
    path = run_dir / "report.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("\n---\n", 1)[0][4:])


def local_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# --- the folder and the card ----------------------------------------------------------------------


def test_dry_run_builds_the_hub_layout(run_dir, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    result = publish_run(run_dir, "me/tiny", dry_run=True)
    assert not result.uploaded and result.folder == run_dir / "hub"
    assert set(local_files(result.folder)) == {"README.md", "data/train-00000.parquet",
                                               "data/mix/train-00000.parquet"}
    assert result.url == "https://huggingface.co/datasets/me/tiny"


def test_card_metadata(run_dir):
    folder = build_hub_folder(run_dir, run_dir / "out", "me/tiny", license="cc-by-4.0")
    meta = front_matter((folder / "README.md").read_text())
    assert meta["license"] == "cc-by-4.0"
    assert {"synthetic", "synthgen"} <= set(meta["tags"])
    assert meta["size_categories"] == ["n<1K"] and meta["task_categories"] == ["text-generation"]
    configs = {c["config_name"]: c["data_files"] for c in meta["configs"]}
    assert configs == {"default": [{"split": "train", "path": "data/train-*"}],
                       "mix": [{"split": "train", "path": "data/mix/train-*"}]}


def test_card_body_states_recipe_model_gates_share_lineage_limitations(run_dir):
    card = (build_hub_folder(run_dir, run_dir / "out", "me/tiny") / "README.md").read_text()
    report = json.loads((run_dir / "report.json").read_text())
    assert report["recipe_hash"] in card and "## Recipe" in card and "```toml" in card
    assert "| model | scripted |" in card and "## Model and backend" in card
    for step in report["funnel"]:
        assert f"| {step['step']} | {step['count']} |" in card
    assert "| mix | synthetic_share | cap | 0.5 | 0.5 |" in card
    assert "4 real + 4 synthetic rows" in card and "## Synthetic share" in card
    assert "generation 1, depth 1 from human data" in card
    assert "## Known limitations" in card and "scripted test backend" in card
    assert "no license was chosen" in card and front_matter(card)["license"] == "other"


def test_card_recipe_toml_reads_back_as_the_resolved_recipe(run_dir):
    card = (build_hub_folder(run_dir, run_dir / "out", "me/tiny") / "README.md").read_text()
    toml_text = card.split("```toml\n", 1)[1].split("\n```", 1)[0]
    recipe = json.loads((run_dir / "manifest.json").read_text())["recipe"]
    assert tomllib.loads(toml_text) == drop_none(recipe)


def drop_none(value):
    if isinstance(value, dict):
        return {k: drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_none(v) for v in value if v is not None]
    return value


def test_folder_loads_with_datasets_for_each_config(run_dir):
    import datasets

    folder = build_hub_folder(run_dir, run_dir / "out", "me/tiny")
    report = json.loads((run_dir / "report.json").read_text())
    default = datasets.load_dataset(str(folder), split="train", cache_dir=str(run_dir / "cache"))
    mix = datasets.load_dataset(str(folder), "mix", split="train", cache_dir=str(run_dir / "cache"))
    assert default.num_rows == report["kept"] and "text" in default.column_names
    assert mix.num_rows == report["mix"]["n_records"] and set(mix["source"]) == {"real", "synthetic"}


def test_run_without_mix_has_one_config_and_says_it_is_all_synthetic(run_dir):
    shutil.rmtree(run_dir / "mix")
    report = json.loads((run_dir / "report.json").read_text())
    report.pop("mix")
    (run_dir / "report.json").write_text(json.dumps(report))
    card = (build_hub_folder(run_dir, run_dir / "out", "me/tiny") / "README.md").read_text()
    assert [c["config_name"] for c in front_matter(card)["configs"]] == ["default"]
    assert "100% synthetic" in card and not (run_dir / "out" / "data" / "mix").exists()


def test_gate_decisions_and_lineage_from_the_report_appear_in_the_card(run_dir):
    decisions = [{"metric": "distinct_2", "against": "real", "value": 0.91, "threshold": 0.8, "passed": True}]
    edit_report(run_dir, diversity={"passed": True, "decisions": decisions}, lineage={"parents": ["gen-0"]})
    card = (build_hub_folder(run_dir, run_dir / "out", "me/tiny") / "README.md").read_text()
    assert "| diversity | distinct_2 | real | 0.91 | 0.8 |" in card
    assert "parents: [gen-0]" in card


def test_fidelity_gate_appears_in_the_card(run_dir):
    fidelity = {"metric": "perplexity_shift", "gate": "fidelity", "against": "real", "value": 120.0, "reference": 100.0,
                "threshold": 125.0, "passed": True, "status": "pass", "side": None,
                "details": {"low": 80.0, "high": 125.0, "false_alarm_rate": 0.0,
                            "quantiles": {"p50": {"value": 120.0, "reference": 100.0}}}}
    edit_report(run_dir, gates=[{"window": [0, 10], "attempt": 0, "passed": True, "decisions": [fidelity]}])
    card = (build_hub_folder(run_dir, run_dir / "out", "me/tiny") / "README.md").read_text()
    assert "## Fidelity gate" in card and "| per-record perplexity p50 | 120 | 100 |" in card


def test_card_escapes_run_text(run_dir):
    edit_report(run_dir, name="x <img src=x> | y")
    card = (build_hub_folder(run_dir, run_dir / "out", "me/tiny") / "README.md").read_text()
    body = card.split("\n---\n", 1)[1]
    assert "<img" not in body and "- name: x &lt;img src=x&gt; &#124; y" in body
    assert front_matter(card)["pretty_name"] == "x <img src=x> | y"


def test_rebuilding_replaces_our_folder_but_never_a_foreign_one(run_dir):
    build_hub_folder(run_dir, run_dir / "out", "me/tiny")
    build_hub_folder(run_dir, run_dir / "out", "me/other")
    assert 'load_dataset("me/other"' in (run_dir / "out" / "README.md").read_text()
    foreign = run_dir / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(PublishError, match="not a synthgen Hub folder"):
        build_hub_folder(run_dir, foreign, "me/tiny")
    assert (foreign / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(("n", "label"), [(0, "n<1K"), (999, "n<1K"), (1000, "1K<n<10K"),
                                          (99_999, "10K<n<100K"), (2_000_000, "1M<n<10M")])
def test_size_category(n, label):
    assert size_category(n) == label


def test_to_toml_round_trips_tables_arrays_and_awkward_strings():
    data = {"a": 1, "b": {"c": [1, 2], "d": {"e": 'quote " back \\ tab\t nl\n del\x7f é'}},
            "items": [{"type": "x", "sub": {"k": True}}, {"type": "y", "f": 0.5}], "key with space": "v",
            "empty": [], "none": None}
    assert tomllib.loads(to_toml(data)) == drop_none(data)


# --- refusals before anything is uploaded ---------------------------------------------------------


@pytest.mark.parametrize("repo_id", ["noslash", "a/b/c", "-bad/name", "owner/na--me", "owner/", "owner/name.",
                                     "own er/name", "owner/" + "x" * 97])
def test_bad_repo_id_is_a_clear_error_before_any_request(run_dir, hub, repo_id):
    with pytest.raises(PublishError, match="invalid repo id"):
        publish_run(run_dir, repo_id)
    assert hub.requests == [] and not (run_dir / "hub").exists()


def test_good_repo_ids():
    for repo_id in ("me/tiny", "My-Org/data_set.v2", "a/b"):
        assert validate_repo_id(repo_id) == repo_id


def test_missing_token_is_a_clear_error_before_any_request(run_dir, hub, monkeypatch, tmp_path):
    import huggingface_hub.constants as constants

    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-login" / "token"))
    with pytest.raises(PublishError, match="HF_TOKEN") as info:
        publish_run(run_dir, "me/tiny")
    assert "--dry-run" in info.value.hint
    assert hub.requests == [] and not (run_dir / "hub").exists()


def test_incomplete_run_needs_force_and_the_card_says_so(run_dir, hub):
    edit_report(run_dir, status="incomplete", stop_reason="budget_exhausted", kept=7)
    with pytest.raises(PublishError, match="incomplete") as info:
        publish_run(run_dir, "me/tiny")
    assert "--force" in info.value.hint and hub.requests == []
    result = publish_run(run_dir, "me/tiny", force=True)
    card = hub.files("me/tiny")["README.md"].decode()
    assert result.uploaded and result.forced_problems
    assert "**Published with `--force`.**" in card.split("## Summary")[0] and "the run is incomplete" in card
    assert "Target not reached" in card


@pytest.mark.parametrize("changes", [{"gates_passed": False}, {"status": "failed_gate"},
                                     {"diversity": {"passed": False, "failed": ["vendi vs real"], "decisions": []}}])
def test_failed_gate_needs_force(run_dir, changes):
    edit_report(run_dir, **changes)
    with pytest.raises(PublishError, match="failed a quality gate"):
        publish_run(run_dir, "me/tiny", dry_run=True)
    card = (publish_run(run_dir, "me/tiny", dry_run=True, force=True).folder / "README.md").read_text()
    assert "Published with `--force`" in card and "failed a quality gate" in card


@pytest.mark.parametrize("missing", ["report.json", "data.parquet"])
def test_run_without_its_files_cannot_be_published_even_with_force(run_dir, missing):
    (run_dir / missing).unlink()
    with pytest.raises(PublishError, match=f"{missing} is missing"):
        publish_run(run_dir, "me/tiny", dry_run=True, force=True)


def test_run_without_records_cannot_be_published(run_dir):
    import pyarrow.parquet as pq

    table = pq.read_table(run_dir / "data.parquet")
    pq.write_table(table.slice(0, 0), run_dir / "data.parquet")
    with pytest.raises(PublishError, match="kept no records"):
        publish_run(run_dir, "me/tiny", dry_run=True, force=True)


def test_missing_manifest_needs_force(run_dir):
    (run_dir / "manifest.json").unlink()
    with pytest.raises(PublishError, match="manifest.json is missing"):
        publish_run(run_dir, "me/tiny", dry_run=True)
    assert publish_run(run_dir, "me/tiny", dry_run=True, force=True).folder.is_dir()


# --- the upload, through huggingface_hub against the fake Hub -------------------------------------


@pytest.mark.parametrize("xet", [True, False], ids=["xet-installed-path", "legacy-commit-path"])
def test_upload_sends_the_folder_with_the_token(run_dir, hub, monkeypatch, xet):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", not xet)
    result = publish_run(run_dir, "me/tiny", private=True)
    assert result.uploaded and result.url == f"{hub.endpoint}/datasets/me/tiny"
    assert result.commit_url.startswith(f"{hub.endpoint}/datasets/me/tiny/commit/")
    assert hub.repos["me/tiny"] == {"name": "tiny", "organization": "me", "type": "dataset", "visibility": "private"}
    assert hub.files("me/tiny") == local_files(result.folder)
    assert hub.unhandled == []
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in hub.requests)
    assert [r.path for r in hub.requests][-2:] == ["/api/datasets/me/tiny/preupload/main",
                                                   "/api/datasets/me/tiny/commit/main"]


def test_publishing_again_updates_the_existing_repo(run_dir, hub):
    publish_run(run_dir, "me/tiny")
    publish_run(run_dir, "me/tiny", license="mit")
    assert len(hub.commits) == 2 and b"license: mit" in hub.files("me/tiny")["README.md"]


def test_token_never_reaches_disk_output_or_logs(run_dir, hub, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    result = CliRunner().invoke(publish_command, [str(run_dir), "--repo-id", "me/tiny"])
    assert result.exit_code == 0, result.output
    assert f"uploaded: {hub.endpoint}/datasets/me/tiny" in result.output and "folder:" in result.output
    captured = capsys.readouterr()
    everything = result.output + captured.out + captured.err + caplog.text
    assert TOKEN not in everything
    for path in run_dir.rglob("*"):
        assert not path.is_file() or TOKEN.encode() not in path.read_bytes(), path


def test_rejected_token_is_a_clear_error_without_the_token(run_dir, hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_wrongTOKEN999")
    with pytest.raises(PublishError, match="upload of .* failed") as info:
        publish_run(run_dir, "me/tiny")
    assert "hf_wrongTOKEN999" not in str(info.value) and hub.commits == []


def test_push_to_hub_delegates_to_publish_run(run_dir, hub):
    result = push_to_hub(SimpleNamespace(run_dir=run_dir), "me/pushed", private=False)
    assert result.uploaded and "README.md" in hub.files("me/pushed")


# --- the command ----------------------------------------------------------------------------------


def test_cli_dry_run(run_dir, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    out = run_dir / "elsewhere"
    result = CliRunner().invoke(publish_command, [str(run_dir), "--repo-id", "me/tiny", "--dry-run", "--out",
                                                  str(out), "--license", "apache-2.0"])
    assert result.exit_code == 0, result.output
    assert f"folder: {out}" in result.output and "dry run, nothing uploaded" in result.output
    assert "license: apache-2.0" in (out / "README.md").read_text()


def test_cli_errors_exit_1(run_dir, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    bad = CliRunner().invoke(publish_command, [str(run_dir), "--repo-id", "nope"])
    assert bad.exit_code == 1 and "Error: invalid repo id 'nope'" in bad.output
    no_token = CliRunner().invoke(publish_command, [str(run_dir), "--repo-id", "me/tiny"])
    assert no_token.exit_code == 1 and "HF_TOKEN" in no_token.output


def test_cli_help():
    result = CliRunner().invoke(publish_command, ["--help"])
    assert result.exit_code == 0 and "--repo-id" in result.output and "--force" in result.output


def test_publish_modules_import_light():
    code = ("import sys, synthgen.publish, synthgen.publish.cli, synthgen.report.cli; "
            "print(' '.join(sys.modules))")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())
    assert not {"datasets", "huggingface_hub", "matplotlib", "pyarrow"} & {m.split(".")[0] for m in loaded}


def test_offline_mode_is_a_clear_error_before_any_request(run_dir, hub, monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(PublishError, match="HF_HUB_OFFLINE is set") as info:
        publish_run(run_dir, "me/tiny")
    assert "HF_HUB_OFFLINE=0" in info.value.hint and hub.requests == []


# --- republishing, the card's metadata, the token ---------------------------------------------------


def set_manifest(run_dir: Path, **changes) -> None:
    path = run_dir / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def hub_rows(files: dict[str, bytes], prefix: str = "data/train-") -> int:
    import io

    import pyarrow.parquet as pq

    return sum(pq.read_metadata(io.BytesIO(b)).num_rows for p, b in files.items() if p.startswith(prefix))


def test_republish_with_fewer_shards_leaves_no_stale_file(run_dir, hub, monkeypatch):
    from synthgen.publish import folder

    monkeypatch.setattr(folder, "SHARD_BYTES", 64)  # one row per shard: many shards
    publish_run(run_dir, "me/tiny")
    many = {p for p in hub.files("me/tiny") if p.startswith("data/")}
    monkeypatch.setattr(folder, "SHARD_BYTES", 256 * 2**20)
    result = publish_run(run_dir, "me/tiny")
    remote = hub.files("me/tiny")
    assert len(many) > 2 and set(remote) == set(local_files(result.folder))  # nothing stale left
    assert hub_rows(remote) == hub_rows(local_files(result.folder)) == 10  # no duplicated rows
    assert hub.commits[-1].deleted and set(hub.commits[-1].deleted) <= many
    assert hub.unhandled == []


def test_card_is_a_valid_dataset_card_with_gemma_terms(run_dir, hub):
    from huggingface_hub import DatasetCard

    from fake_hub import card_errors

    set_manifest(run_dir, backend={"backend": "vllm", "model": "embedded", "model_path": "/m/gemma3-270m"})
    card_text = (build_hub_folder(run_dir, run_dir / "out", "me/tiny") / "README.md").read_text()
    data = DatasetCard(card_text).data.to_dict()
    assert data["license"] == "gemma" and "license_name" not in data and "license_link" not in data
    assert data["annotations_creators"] == ["machine-generated"] and data["language"] == ["en"]
    assert data["source_datasets"] == ["original"] and card_errors(card_text) == []
    assert "gemma: the generating model's terms: https://ai.google.dev/gemma/terms" in card_text
    publish_run(run_dir, "me/tiny")  # the (fake) Hub validates the card on upload


def test_fake_hub_rejects_a_card_the_hub_would_reject(run_dir, hub):
    from fake_hub import card_errors

    assert card_errors("---\nlicense: other\n---\nbody") == [
        {"message": '"license_name" is required when "license" is "other"'}]
    assert card_errors("no front matter") and card_errors("---\nsize_categories: [huge]\n---\n")


def test_explicit_license_wins_and_names_the_model_terms(run_dir):
    set_manifest(run_dir, backend={"backend": "vllm", "model": "gemma3-270m"})
    card = (build_hub_folder(run_dir, run_dir / "out", "me/tiny", license="cc-by-4.0",
                             language=("en", "fr")) / "README.md").read_text()
    meta = front_matter(card)
    assert meta["license"] == "cc-by-4.0" and "license_name" not in meta and meta["language"] == ["en", "fr"]
    assert "https://ai.google.dev/gemma/terms" in card


def test_bad_language_is_refused_before_writing(run_dir):
    with pytest.raises(PublishError, match="ISO 639"):
        build_hub_folder(run_dir, run_dir / "out", "me/tiny", language=("English!",))


def test_source_datasets_and_their_license_from_saved_seed_data(run_dir, tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "dataset_info.json").write_text(json.dumps({"dataset_name": "squad", "license": "cc-by-sa-4.0"}))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["recipe"]["seeds"] = {"type": "dataset", "path": str(seeds)}
    set_manifest(run_dir, recipe=manifest["recipe"])
    card = (build_hub_folder(run_dir, run_dir / "out", "me/tiny") / "README.md").read_text()
    assert front_matter(card)["source_datasets"] == ["extended|squad"]
    assert "source data squad: license cc-by-sa-4.0" in card


def test_card_names_the_dataset_format(run_dir):
    card = (build_hub_folder(run_dir, run_dir / "out", "me/tiny") / "README.md").read_text()
    assert "dataset format: `raw`" in card  # a manifest without output.format
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["recipe"]["output"] = {"format": "chatml"}
    set_manifest(run_dir, recipe=manifest["recipe"])
    card = (build_hub_folder(run_dir, run_dir / "out2", "me/tiny") / "README.md").read_text()
    assert "dataset format: `chatml`" in card


def test_token_from_a_stored_login(run_dir, hub, monkeypatch, tmp_path):
    import huggingface_hub.constants as constants

    monkeypatch.delenv("HF_TOKEN")
    token_file = tmp_path / "login" / "token"
    token_file.parent.mkdir()
    token_file.write_text(TOKEN)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(token_file))
    assert publish_run(run_dir, "me/tiny").uploaded
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in hub.requests)
