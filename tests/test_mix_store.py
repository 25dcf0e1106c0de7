"""The ``mix/`` folder, the [mix] recipe table and its runner hooks, and ``synthgen mix`` (CliRunner)."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from synthgen.errors import RecipeError
from synthgen.mix import Mixer, MixError, write_mix
from synthgen.mix.cli import mix_command
from synthgen.mix.run import mix_run_dir, mixer_from_config, read_real_rows
from synthgen.recipe.mix_schema import MixConfig
from synthgen.tabular import write_parquet


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


REAL = [{"id": 1, "text": f"real {i}"} for i in range(4)]
SYNTH = [{"id": f"s{i}", "text": f"synthetic {i}", "seed_topic": "t", "scores": "{}"} for i in range(9)]


def test_write_mix_is_a_saved_dataset_with_parquet_dropped_and_summary(tmp_path):
    import datasets

    result = Mixer().mix(REAL, SYNTH)
    out = write_mix(result, tmp_path / "run" / "mix")
    loaded = datasets.load_from_disk(str(out))
    assert loaded.num_rows == 8 and loaded["source"] == ["real"] * 4 + ["synthetic"] * 4
    assert loaded["id"][:4] == ["1"] * 4 and all(i.startswith("s") for i in loaded["id"][4:])  # int/str ids → text
    assert pq.read_table(out / "data.parquet").num_rows == 8
    dropped = pq.read_table(out / "dropped.parquet").to_pylist()
    assert len(dropped) == 5 and {row["reason"] for row in dropped} == {"over_mix_cap"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["kind"] == "synthgen-mix" and summary["n_synthetic"] == 4 and summary["cap"] == 0.5
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_write_mix_replaces_a_mix_but_never_a_foreign_folder(tmp_path):
    write_mix(Mixer().mix(REAL, SYNTH), tmp_path / "mix")
    write_mix(Mixer(0.2).mix(REAL, SYNTH), tmp_path / "mix")
    assert json.loads((tmp_path / "mix" / "summary.json").read_text())["n_synthetic"] == 1
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(MixError, match="not a synthgen mix folder"):
        write_mix(Mixer().mix(REAL, SYNTH), tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_empty_dropped_table_still_has_columns(tmp_path):
    out = write_mix(Mixer().mix(REAL, SYNTH[:2]), tmp_path / "mix")
    assert pq.read_table(out / "dropped.parquet").column_names == ["text", "source", "reason"]


# --- [mix] table and runner hooks -------------------------------------------------------------------


def test_mix_config_defaults_and_validation():
    config = MixConfig(real="real.jsonl")
    assert config.max_synthetic_share is None and config.strategy == "random" and config.text_field == "text"
    for bad in ({"max_synthetic_share": 1.5}, {"strategy": "stratified"}, {"strategy": "best_score"},
                {"override_reason": "  "}, {"max_share": 0.3}, {"strategy": "best"}):
        with pytest.raises(ValidationError):
            MixConfig(real="real.jsonl", **bad)


def test_runner_hooks_mix_a_run_directory(tmp_path):
    write_jsonl(tmp_path / "real.jsonl", [{"body": f"real {i}"} for i in range(6)])
    write_parquet(SYNTH, tmp_path / "data.parquet")
    config = MixConfig(real="real.jsonl", text_field="body", strategy="stratified", stratify_by="seed_topic")
    mixer = mixer_from_config(config, depth=2, loop_temperature=0.7, default_seed=3)
    assert mixer.cap == 0.2 and mixer.seed == 3
    result = mix_run_dir(tmp_path, mixer, read_real_rows(config, lambda p: tmp_path / p))
    assert result.n_real == 6 and result.n_synthetic == 1 and (tmp_path / "mix" / "data.parquet").is_file()
    assert result.records[0] == {"text": "real 0", "source": "real"}


def test_runner_hooks_name_the_recipe_key():
    with pytest.raises(RecipeError, match=r"recipe\.toml:mix: mix\.max_synthetic_share = 0\.5 is above"):
        mixer_from_config(MixConfig(real="r.jsonl", max_synthetic_share=0.5), depth=2, where="recipe.toml:mix")
    with pytest.raises(RecipeError, match=r"mix\.real: .*file not found"):
        read_real_rows(MixConfig(real="nope.jsonl"), lambda p: p)


# --- synthgen mix -----------------------------------------------------------------------------------


def invoke(*args):
    return CliRunner().invoke(mix_command, [str(a) for a in args], catch_exceptions=False)


def test_cli_help():
    result = invoke("--help")
    assert result.exit_code == 0 and "--max-synthetic-share" in result.output and "--override-reason" in result.output


def test_cli_mixes_jsonl_real_with_parquet_synthetic(tmp_path):
    real = write_jsonl(tmp_path / "real.jsonl", REAL)
    write_parquet(SYNTH, tmp_path / "synthetic.parquet")
    result = invoke("--real", real, "--synthetic", tmp_path / "synthetic.parquet", "--max-synthetic-share", 0.2,
                    "--out", tmp_path / "mix", "--strategy", "diversity_first")
    assert result.exit_code == 0, result.output
    assert "4 real + 1 synthetic rows (share 0.200, cap 0.2)" in result.output
    assert "over_mix_cap 8" in result.output and "Warning: the real data (4 rows)" in result.output
    assert pq.read_table(tmp_path / "mix" / "data.parquet").num_rows == 5


@pytest.mark.parametrize("args, message", [
    (("--max-synthetic-share", 0.6), "--max-synthetic-share = 0.6 is above the default cap 0.5"),
    (("--max-synthetic-share", 0.4, "--depth", 2, "--loop-temperature", 0.7), "default cap 0.2"),
    (("--max-synthetic-share", 1.5, "--override-reason", "x"), "outside [0, 1]"),
    (("--strategy", "stratified"), "needs --stratify-by"),
    (("--text-field", "body"), "real rows have no 'body'")])
def test_cli_bad_input_exits_1_with_the_fix(tmp_path, args, message):
    real = write_jsonl(tmp_path / "real.jsonl", REAL)
    synthetic = write_jsonl(tmp_path / "synthetic.jsonl", SYNTH)
    result = invoke("--real", real, "--synthetic", synthetic, "--out", tmp_path / "mix", *args)
    assert result.exit_code == 1 and message in result.output
    assert "mix." not in result.output  # flags, not recipe keys
    assert not (tmp_path / "mix").exists()


def test_cli_override_is_reported(tmp_path):
    real = write_jsonl(tmp_path / "real.jsonl", REAL)
    synthetic = write_jsonl(tmp_path / "synthetic.jsonl", SYNTH)
    result = invoke("--real", real, "--synthetic", synthetic, "--out", tmp_path / "mix",
                    "--max-synthetic-share", 0.6, "--override-reason", "fixed strong teacher")
    assert result.exit_code == 0 and "cap above the default 0.5: fixed strong teacher" in result.output
    assert json.loads((tmp_path / "mix" / "summary.json").read_text())["override_reason"] == "fixed strong teacher"


def test_cli_mixes_conversation_datasets(tmp_path):
    turn = lambda text: [{"role": "user", "content": text}, {"role": "assistant", "content": f"re: {text}"}]  # noqa: E731
    real = write_jsonl(tmp_path / "real.jsonl", [{"messages": turn(f"real {i}")} for i in range(4)])
    synthetic = write_jsonl(tmp_path / "synthetic.jsonl", [{"messages": turn(f"synthetic {i}")} for i in range(3)]
                            + [{"messages": turn("real 0")}])
    result = invoke("--real", real, "--synthetic", synthetic, "--out", tmp_path / "mix", "--text-field", "messages")
    assert result.exit_code == 0, result.output
    assert "4 real + 3 synthetic rows" in result.output and "duplicate_in_mix 1" in result.output
    rows = pq.read_table(tmp_path / "mix" / "data.parquet").to_pylist()
    assert rows[-1]["messages"] == turn("synthetic 2")
