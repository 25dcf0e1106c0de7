"""Fixes from the gate/mix/metrics bug hunt: tfidf on one-character words, an empty [mix] real, a mix that
fails after generation, and real rows whose text is not a string."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from synthgen.api import run_recipe
from synthgen.diversity.cli import metrics_command
from synthgen.diversity.embed import TfidfSvdEmbedder
from synthgen.errors import RecipeError, SynthgenError
from synthgen.mix import DUPLICATE_IN_MIX, Mixer, MixError, write_mix


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


# --- tfidf on texts without a word of 2+ characters ------------------------------------------------------


@pytest.mark.parametrize("texts, terms", [(["a b", "c d"], 0), (["3 6 !", "1 4 !"], 0), (["aa b", "aa c"], 1)])
def test_tfidf_fit_without_two_terms_is_a_synthgen_error(texts, terms):
    with pytest.raises(SynthgenError) as info:
        TfidfSvdEmbedder().fit(texts)
    assert f"{terms} distinct term(s) (words of 2+ characters) in the 2 texts" in str(info.value)
    assert "minilm" in str(info.value) and "\n" not in str(info.value)


def test_metrics_with_tfidf_on_one_character_words_leaves_the_semantic_metrics_not_computed(tmp_path):
    source = write_jsonl(tmp_path / "digits.jsonl", [{"text": f"{i % 10} {(i + 3) % 10} !"} for i in range(30)])
    result = CliRunner().invoke(metrics_command, [str(source), "--embedder", "tfidf", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["metric"]: row for row in json.loads(result.output)["metrics"]}
    assert rows["distinct_1"]["reason"].startswith("only 90 words")  # the lexical rows are still there
    reason = rows["mean_pairwise_cosine"]["reason"]
    assert reason.startswith(f"{source}: tfidf: 0 distinct term(s)") and "minilm" in reason
    assert all(rows[m]["value"] is None and rows[m]["reason"] == reason for m in ("vendi", "cluster_coverage"))


# --- [mix] real with no rows: refused before generating ------------------------------------------------


def mix_recipe(write_recipe, tmp_path, real_rows, extra=""):
    write_jsonl(tmp_path / "mixreal.jsonl", real_rows)
    return write_recipe(target=4, extra=f'\n[mix]\nreal = "mixreal.jsonl"\n{extra}')


@pytest.mark.parametrize("rows, what", [([], "has no rows"),
                                        ([{"text": "x y", "source": "synthetic"}], "has no real rows")])
def test_an_empty_mix_real_is_refused_at_plan_time(write_recipe, tmp_path, rows, what):
    from synthgen.backends.testing import ScriptedBackend

    backend = ScriptedBackend()
    with pytest.raises(RecipeError) as info:
        run_recipe(mix_recipe(write_recipe, tmp_path, rows), backend=backend, progress=False)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'recipe.toml'}:mix.real (mixreal.jsonl): the real data {what}")
    assert "mix.max_synthetic_share = 1" in message and "\n" not in message
    assert backend.calls == []


def test_an_empty_mix_real_is_allowed_with_a_cap_of_1(write_recipe, tmp_path):
    extra = 'max_synthetic_share = 1\noverride_reason = "synthetic data alone, for a test"\n'
    result = run_recipe(mix_recipe(write_recipe, tmp_path, [], extra), progress=False)
    assert result.report.mix["n_real"] == 0 and result.report.mix["n_synthetic"] == 4


# --- a mix that fails after generation keeps the run's report ------------------------------------------


def test_a_mix_failure_after_generation_still_writes_the_report(write_recipe, tmp_path, monkeypatch):
    from synthgen.plan.model import MixPlan

    recipe = mix_recipe(write_recipe, tmp_path, [{"text": "a real line"}])
    monkeypatch.setattr(MixPlan, "real_rows", lambda self: [])  # the real file emptied after validation
    with pytest.raises(MixError) as info:
        run_recipe(recipe, progress=False)
    run = tmp_path / "runs" / "tiny"
    assert str(info.value).startswith(f"{run / 'mix'} was not written: {tmp_path / 'recipe.toml'}:mix: the real "
                                      "data has no rows")
    assert f"--synthetic {run / 'data.parquet'}" in str(info.value)
    report = json.loads((run / "report.json").read_text())
    assert report["kept"] == 4 and "the real data has no rows" in report["mix"]["error"]
    for name in ("report.md", "report.html"):
        assert "the mix was not written" in (run / name).read_text(), name
    assert f"\n> {tmp_path / 'recipe.toml'}:mix: the real data has no rows" in (run / "report.md").read_text()
    assert json.loads((run / "manifest.json").read_text())["status"] == "complete"
    assert not (run / "mix").exists()


def test_a_failed_mix_error_is_a_quoted_block_of_its_own_in_report_md():
    from types import SimpleNamespace

    from synthgen.mix.run import failed_mix_summary
    from synthgen.report.sections import mix_section

    error = RecipeError("r.toml:mix.real: the real data has no rows", hint="point mix.real at real data",
                        problems=["r.toml:mix.real: the real data has no rows", "r.toml:mix.text_field: no 'body'"])
    lines = "\n".join(mix_section(SimpleNamespace(mix=failed_mix_summary(Mixer(0.5), error)))).splitlines()
    assert lines[-5:] == ["- warning: the mix was not written:", "", "> r.toml:mix.real: the real data has no rows",
                          ">", "> r.toml:mix.text_field: no 'body' (point mix.real at real data)"]
    assert not any("the mix was not written: r.toml" in line for line in lines)  # not inline any more
    markdown_it = pytest.importorskip("markdown_it")
    tokens = [t.type for t in markdown_it.MarkdownIt().parse("\n".join(lines))]
    assert tokens.count("blockquote_open") == 1 and tokens.index("bullet_list_close") < tokens.index("blockquote_open")


# --- real rows whose text is not a string -----------------------------------------------------------------


ODD_REAL = [{"text": "hello world one"}, {"text": 5}, {"text": None}, {"text": ["a", "b"]}]


def test_non_string_real_text_is_counted_compared_and_written_as_its_json_text(tmp_path):
    synthetic = [{"text": "5"}, {"text": "a synthetic line"}]
    result = Mixer(0.5).mix(ODD_REAL, synthetic)
    assert [r["reason"] for r in result.dropped] == [DUPLICATE_IN_MIX]  # "5" is already in the mix
    assert result.n_real == 4 and [r["text"] for r in result.records[:4]] == [r["text"] for r in ODD_REAL]
    notes = " | ".join(result.warnings)
    assert "1 real rows have no text in 'text' (absent, null, NaN or blank)" in notes
    assert "2 real rows hold a non-string value in 'text' (e.g. 5); kept, and compared and written as its " \
           "JSON text (e.g. '5')" in notes
    written = pq.read_table(write_mix(result, tmp_path / "mix") / "data.parquet").to_pylist()
    assert [r["text"] for r in written] == ["hello world one", "5", None, '["a", "b"]', "a synthetic line"]


def test_a_real_text_column_of_numbers_alone_is_written_as_text(tmp_path):
    result = Mixer(0.5).mix([{"text": 5}, {"text": 6}], [])
    written = pq.read_table(write_mix(result, tmp_path / "mix") / "data.parquet").to_pylist()
    assert [r["text"] for r in written] == ["5", "6"]


def test_a_nan_real_text_is_no_text_and_written_as_null(tmp_path):
    result = Mixer(0.5).mix([{"text": "a real line"}, {"text": float("nan")}], [])
    assert result.warnings == ["1 real rows have no text in 'text' (absent, null, NaN or blank); kept anyway without "
                               "text (real data is never dropped)"]
    written = pq.read_table(write_mix(result, tmp_path / "mix") / "data.parquet").to_pylist()
    assert [r["text"] for r in written] == ["a real line", None]


def test_strategies_compare_with_non_string_real_texts(monkeypatch):
    import synthgen.mix.importance as importance  # the strategy imports its order function when it runs

    seen = {}

    def fake_order(offered, real, k, seed=0):
        seen["real"] = list(real)
        return list(range(k))

    monkeypatch.setattr(importance, "importance_order", fake_order)
    synthetic = [{"text": f"synthetic line {i}"} for i in range(10)]
    result = Mixer(0.5, "importance").mix(ODD_REAL, synthetic)
    assert seen["real"] == ["hello world one", "5", '["a", "b"]'] and result.n_synthetic == 4
