"""The measured synthetic share (``mix.measure_share``): the share shrinks where held-out real text loses
fidelity, stays at the cap where it does not, warns when the held-out text looks seen, and works from the
Mixer, a recipe run (report, card text, ``mix/``) and ``synthgen mix``."""

from __future__ import annotations

import json
import random
import re
from collections import defaultdict

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from synthgen.errors import RecipeError
from synthgen.mix import Mixer, MixError
from synthgen.mix.measured import (ShareMeasure, describe_measurement, measure_share, percent, rows_at_share,
                                   split_for_measure)
from synthgen.recipe.mix_schema import MixConfig


def paragraphs() -> list[str]:
    """Real human-written text that ships with every Python: pydoc's topic paragraphs, 6–80 words."""
    from pydoc_data.topics import topics

    texts = [" ".join(p.split()) for text in topics.values() for p in re.split(r"\n\s*\n", text)]
    unique = sorted({t for t in texts if 6 <= len(t.split()) <= 80})
    random.Random(0).shuffle(unique)
    return unique


TEXTS = paragraphs()
REAL, VALIDATION, MORE_REAL = TEXTS[:600], TEXTS[600:900], TEXTS[900:1200]


def generated(n: int, seed: int, base: list[str] | None = None) -> list[str]:
    """``n`` texts of a word-bigram model fitted on ``base`` (default REAL; T = 1): a small generator that
    learnt the real rows, whose samples drift from them the way the collapse benchmark's do."""
    successors: dict[str, list[str]] = defaultdict(list)
    for text in REAL if base is None else base:
        words = ["<s>", *text.split(), "</s>"]
        for a, b in zip(words, words[1:]):
            successors[a].append(b)
    rng, out = random.Random(seed), []
    while len(out) < n:
        word, words = "<s>", []
        while len(words) < 60 and (word := rng.choice(successors[word])) != "</s>":
            words.append(word)
        if len(words) >= 6:
            out.append(" ".join(words))
    return out


def rows(texts: list[str], **extra) -> list[dict]:
    return [{"text": t, "k": i, **extra} for i, t in enumerate(texts)]


def test_the_share_shrinks_until_held_out_perplexity_is_within_the_rise():
    sample = generated(300, 1)
    result = Mixer(0.5, measure=ShareMeasure(0.05)).mix(rows(REAL), rows(sample), rows(VALIDATION))
    measured = result.summary()["measured"]
    assert 0 < measured["share"] < measured["offered_share"]
    assert measured["perplexity_ratio"] <= 1.05
    assert any(p["share"] > measured["share"] and p["perplexity_ratio"] > 1.05 for p in measured["probes"])
    assert result.n_synthetic == rows_at_share(len(REAL), len(sample), measured["share"])
    assert result.dropped_by_reason() == {"over_measured_share": len(sample) - result.n_synthetic}
    assert result.n_real == len(REAL) and sum(r["source"] == "real" for r in result.records) == len(REAL)
    assert measured["validation"] == "mix.validation" and measured["n_validation"] == len(VALIDATION)
    assert any("over_measured_share" in w for w in result.warnings)
    again = Mixer(0.5, measure=ShareMeasure(0.05)).mix(rows(REAL), rows(sample), rows(VALIDATION))
    assert again.records == result.records  # seeded


def test_validation_rows_that_are_also_real_rows_are_not_fitted_on():
    sample = generated(300, 1)
    apart = Mixer(0.5, measure=ShareMeasure(0.05)).mix(rows(REAL), rows(sample), rows(VALIDATION))
    overlapping = Mixer(0.5, measure=ShareMeasure(0.05)).mix(rows(REAL + VALIDATION), rows(sample), rows(VALIDATION))
    assert overlapping.summary()["measured"]["n_fit"] == len(REAL)
    assert overlapping.summary()["measured"]["baseline_perplexity"] == apart.summary()["measured"]["baseline_perplexity"]
    assert overlapping.n_real == len(REAL) + len(VALIDATION)


def test_a_looser_rise_keeps_a_larger_share():
    sample = generated(300, 1)
    shares = [Mixer(0.5, measure=ShareMeasure(rise)).mix(rows(REAL), rows(sample), rows(VALIDATION)).synthetic_share
              for rise in (0.02, 0.2)]
    assert shares[0] < shares[1]


def test_text_like_the_real_data_keeps_the_whole_capped_share():
    result = Mixer(0.5, measure=ShareMeasure(0.05)).mix(rows(REAL), rows(MORE_REAL), rows(VALIDATION))
    measured = result.summary()["measured"]
    assert measured["share"] == measured["offered_share"] and len(measured["probes"]) == 1
    assert result.n_synthetic == len(MORE_REAL) and "over_measured_share" not in result.dropped_by_reason()


def test_without_validation_rows_part_of_the_real_rows_is_held_out_and_kept_in_the_mix():
    result = Mixer(0.5, measure=ShareMeasure(0.05, validation_share=0.25)).mix(rows(REAL), rows(generated(300, 2)))
    measured = result.summary()["measured"]
    assert measured["n_validation"] == 150 and measured["n_fit"] == 450
    assert measured["validation"] == "held out of the real rows"
    assert result.n_real == len(REAL)


def test_synthetic_rows_that_carry_the_held_out_text_are_flagged():
    # rows the generator wrote from the held-out text itself: they make it likelier than real data does
    seen = [t + " indeed" for t in VALIDATION]
    result = Mixer(0.5, measure=ShareMeasure(0.05)).mix(rows(REAL), rows(seen), rows(VALIDATION))
    assert result.summary()["measured"]["perplexity_ratio"] < 1
    note = next(w for w in result.warnings if "made the held-out real text more likely" in w)
    assert "either they add what the real data lacks, or the generator saw that text" in note
    assert "mix.validation" in note


def test_too_little_real_text_to_measure_on_is_refused_with_the_fix():
    with pytest.raises(MixError, match="mix.validation has 5") as err:
        Mixer(0.5, measure=ShareMeasure()).mix(rows(REAL), rows(MORE_REAL), rows(VALIDATION[:5]) + [{"text": " "}] * 30)
    assert "mix.validation" in err.value.hint
    with pytest.raises(MixError, match="mix.validation_share holds out 6 of the 30 real texts") as err:
        Mixer(0.5, measure=ShareMeasure(validation_share=0.2)).mix(rows(REAL[:30]), rows(MORE_REAL))
    assert "with fewer than 40 real texts give mix.validation" in err.value.hint
    with pytest.raises(MixError, match="holds out 12 of the 60") as err:
        Mixer(0.5, measure=ShareMeasure(validation_share=0.2)).mix(rows(REAL[:60]), rows(MORE_REAL))
    assert "raise mix.validation_share" in err.value.hint
    with pytest.raises(MixError, match="mix.validation has 1"):  # distinct texts count, not rows
        Mixer(0.5, measure=ShareMeasure()).mix(rows(REAL), rows(MORE_REAL), rows([VALIDATION[0]] * 30))
    with pytest.raises(MixError, match="600 of the 600 real texts are also in mix.validation") as err:
        Mixer(0.5, measure=ShareMeasure()).mix(rows(REAL), rows(MORE_REAL), rows(REAL))
    assert "not in mix.real" in err.value.hint
    for bad in (0.0, float("nan"), float("inf")):
        with pytest.raises(MixError, match="max_perplexity_rise must be > 0"):
            ShareMeasure(bad)


def test_a_held_out_text_is_never_fitted_on_through_a_duplicate():
    fit, held, source = split_for_measure(REAL + REAL, None, ShareMeasure(validation_share=0.2), seed=0)
    assert source == "held out of the real rows" and len(held) == 240 and not set(fit) & set(held)
    # variants the model reads as the same text (case, spacing) count as the same text
    fit, held, _ = split_for_measure(REAL + [t.upper() + "  " for t in VALIDATION], VALIDATION, ShareMeasure(), 0)
    assert fit == REAL


def test_synthetic_copies_of_held_out_texts_are_left_out_of_the_measurement_and_named():
    sample = generated(300, 1)
    plain = Mixer(0.5, measure=ShareMeasure()).mix(rows(REAL), rows(sample), rows(VALIDATION))
    copied = Mixer(0.5, measure=ShareMeasure()).mix(rows(REAL), rows(sample + VALIDATION[:15]), rows(VALIDATION))
    assert copied.summary()["measured"]["copies_of_validation"] == 15
    assert copied.synthetic_share < copied.summary()["measured"]["offered_share"]  # the copies hid nothing
    assert abs(copied.summary()["measured"]["share"] - plain.summary()["measured"]["share"]) < 0.05
    assert any("15 synthetic rows copy a held-out real text" in w for w in copied.warnings)


def test_the_rows_kept_last_are_measured_when_fewer_real_rows_are_fitted():
    # the strategy's best rows first, then rows that drift: with a fifth of the real rows held out, the
    # proxy measures an even sample of everything the mix keeps, not only its best part
    fit, _, _ = split_for_measure(REAL, None, ShareMeasure(), 0)  # the mixer's own split (seed 0)
    scored = [{"text": t, "score": 1.0} for t in MORE_REAL[:200]] + [{"text": t, "score": 0.0}
                                                                     for t in generated(400, 13, base=fit)]
    result = Mixer(0.5, "best_score", score_field="score", measure=ShareMeasure(0.02)).mix(rows(REAL), scored)
    measured = result.summary()["measured"]
    assert measured["share"] < measured["offered_share"] and result.n_synthetic < 600


def test_a_smaller_share_keeps_what_the_strategy_prefers():
    scored = [{"text": t, "score": i / 300} for i, t in enumerate(generated(300, 5))]
    result = Mixer(0.3, "best_score", score_field="score", measure=ShareMeasure(0.05)).mix(
        rows(REAL), scored, rows(VALIDATION))
    kept = sorted(row["score"] for row in result.records if row["source"] == "synthetic")
    assert 0 < len(kept) < 257 and kept == sorted(row["score"] for row in scored)[-len(kept):]  # the best ones
    topics = [{"text": t, "topic": i % 3} for i, t in enumerate(generated(300, 6))]
    result = Mixer(0.3, "stratified", stratify_by="topic", measure=ShareMeasure(0.05)).mix(
        rows(REAL), topics, rows(VALIDATION))
    counts = [sum(r.get("topic") == k for r in result.records if r["source"] == "synthetic") for k in range(3)]
    assert 0 < result.n_synthetic < 257 and max(counts) - min(counts) <= 1


def test_synthetic_rows_far_longer_than_any_real_text_are_named():
    long_row = " ".join(["word"] * 20_000)
    result = Mixer(0.5, measure=ShareMeasure(0.05)).mix(rows(REAL), rows(generated(299, 7) + [long_row]),
                                                        rows(VALIDATION))
    assert any("1 synthetic row is over 10x as long as 99% of the real texts" in w and "20000" in w
               for w in result.warnings)


def test_measure_share_bisects_on_the_probe_and_counts_rows_like_the_cap():
    sample = generated(300, 3)
    measured = measure_share(REAL, VALIDATION, sample, ShareMeasure(0.05, steps=3))
    assert len(measured.probes) == 4 and measured.probes[0][0] == pytest.approx(300 / 900)
    assert rows_at_share(600, 300, 0.2) == 150 and rows_at_share(600, 100, 0.5) == 100 and rows_at_share(6, 9, 0) == 0
    line = describe_measurement(measured.summary())
    assert line.startswith(f"measured share limit {measured.share:.3f} of 0.333 offered (in whole rows the mix "
                           "stays at or below it)") and "300 real rows" in line


def test_recipe_keys_need_measure_share():
    assert MixConfig(real="r.jsonl", measure_share=True, validation="v.jsonl").validation.name == "v.jsonl"
    for stray in ({"validation": "v.jsonl"}, {"max_perplexity_rise": 0.1}, {"validation_share": 0.3}):
        with pytest.raises(ValidationError, match="used only with measure_share = true; add it, or remove it"):
            MixConfig(real="r.jsonl", **stray)
    for bad in ({"max_perplexity_rise": 0}, {"max_perplexity_rise": float("inf")}, {"validation_share": 1.0}):
        with pytest.raises(ValidationError):
            MixConfig(real="r.jsonl", measure_share=True, **bad)
    with pytest.raises(ValidationError, match="with validation set it is not used"):
        MixConfig(real="r.jsonl", measure_share=True, validation="v.jsonl", validation_share=0.3)
    assert percent(0.05) == "5%" and percent(0.005) == "0.5%" and percent(0.025) == "2.5%"
    assert percent(12.5) == "1250%"


def write_jsonl(path, texts):
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    return path


def test_a_run_with_measure_share_reports_the_measurement(write_recipe, tmp_path, monkeypatch):
    from synthgen.api import run_recipe

    monkeypatch.delenv("HF_TOKEN", raising=False)

    write_jsonl(tmp_path / "real_big.jsonl", REAL[:150])
    write_jsonl(tmp_path / "validation.jsonl", VALIDATION)
    extra = ('\n[mix]\nreal = "real_big.jsonl"\nmax_synthetic_share = 0.5\nmeasure_share = true\n'
             'validation = "validation.jsonl"\nmax_perplexity_rise = 0.02\n')
    result = run_recipe(write_recipe(target=60, budget=200, extra=extra), progress=False)
    mix = result.report.to_dict()["mix"]
    assert mix["measured"]["validation"] == "mix.validation" and mix["measured"]["n_validation"] == len(VALIDATION)
    # the scripted backend's "topic: random words?" lines at a 0.29 share: x1.045 on pydoc's paragraphs
    assert mix["measured"]["share"] < mix["measured"]["offered_share"]
    assert mix["n_synthetic"] == rows_at_share(150, 60, mix["measured"]["share"])
    assert mix["dropped"]["over_measured_share"] == 60 - mix["n_synthetic"]
    line = describe_measurement(mix["measured"])
    assert line in (result.run_dir / "report.md").read_text() and line in (result.run_dir / "report.html").read_text()
    card = (result.push_to_hub("someone/measured", dry_run=True).folder / "README.md").read_text()
    assert line in card
    assert result.manifest["mix"]["settings"]["measure"]["max_perplexity_rise"] == 0.02
    import pyarrow.parquet as pq

    dropped = pq.read_table(result.run_dir / "mix" / "dropped.parquet").to_pylist()
    assert sum(r["reason"] == "over_measured_share" for r in dropped) == mix["dropped"].get("over_measured_share", 0)
    from synthgen.cli import cli

    again = CliRunner().invoke(cli, ["generate", str(tmp_path / "recipe.toml"), "--quiet", "--overwrite"])
    assert again.exit_code == 0, again.output
    assert f"mix: {line}; {mix['dropped']['over_measured_share']} synthetic rows left out" in again.output


def test_a_missing_or_small_validation_file_stops_the_run_before_generating(write_recipe, tmp_path):
    from synthgen.api import run_recipe
    from synthgen.backends.testing import ScriptedBackend

    write_jsonl(tmp_path / "real_big.jsonl", REAL)
    write_jsonl(tmp_path / "small.jsonl", VALIDATION[:3])
    base = '\n[mix]\nreal = "real_big.jsonl"\nmeasure_share = true\n'
    write_jsonl(tmp_path / "blanks.jsonl", VALIDATION[:12] + [" "] * 13)
    for extra, message in ((base + 'validation = "absent.jsonl"\n', "mix.validation"),
                           (base + 'validation = "small.jsonl"\n', "mix.validation (small.jsonl): mix.measure_share "
                                                                    "needs at least 20 distinct real texts"),
                           (base + 'validation = "blanks.jsonl"\n', "mix.validation has 12"),
                           (base + 'validation = "real_big.jsonl"\n', "600 of the 600 real texts are also in")):
        backend = ScriptedBackend()
        with pytest.raises(RecipeError, match=re.escape(message)):
            run_recipe(write_recipe(extra=extra), backend=backend, progress=False)
        assert backend.calls == []


def test_cli_measures_and_says_so(tmp_path):
    from synthgen.mix.cli import mix_command

    real, synthetic = write_jsonl(tmp_path / "real.jsonl", REAL), write_jsonl(tmp_path / "s.jsonl", generated(300, 4))
    validation = write_jsonl(tmp_path / "v.jsonl", VALIDATION)
    args = ["--real", str(real), "--synthetic", str(synthetic), "--out", str(tmp_path / "mix")]
    result = CliRunner().invoke(mix_command, args + ["--measure-share", "--validation", str(validation)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "mix" / "summary.json").read_text())
    assert describe_measurement(summary["measured"]) in result.output
    probes = summary["measured"]["probes"]
    assert "measuring the synthetic share" in result.stderr
    assert result.stderr.count("held-out perplexity x") == len(probes) > 1  # a line per fit, as it goes
    for flags, message in ((["--validation", str(validation)], "--validation: used only with --measure-share"),
                           (["--max-perplexity-rise", "0.1"], "--max-perplexity-rise: used only with --measure-share"),
                           (["--measure-share", "--validation", str(validation), "--validation-share", "0.3"],
                            "with --validation it is not used")):
        refused = CliRunner().invoke(mix_command, args[:-1] + [str(tmp_path / "mix2")] + flags)
        assert refused.exit_code == 2 and message in refused.output, refused.output
    infinite = CliRunner().invoke(mix_command, args[:-1] + [str(tmp_path / "mix4"), "--measure-share",
                                                           "--max-perplexity-rise", "inf"])
    assert infinite.exit_code == 2 and "not a finite number" in infinite.output
    assert "mix.validation" not in result.stderr and "mix.real" not in result.stderr  # flags on the command line
    other = tmp_path / "other.jsonl"
    other.write_text("".join(json.dumps({"body": t}) + "\n" for t in VALIDATION))
    missing = CliRunner().invoke(mix_command, args[:-1] + [str(tmp_path / "mix3"), "--measure-share", "--validation",
                                                          str(other)])
    assert missing.exit_code == 1 and str(other) in missing.output and "--real-text-field" in missing.output


def test_the_mixer_package_stays_light_to_import():
    """synthgen.mix promises no datasets, pyarrow or numpy at import (the importance strategy and the share
    measurement load theirs when used): a fresh interpreter shows what it loads."""
    import subprocess
    import sys

    code = "import sys, synthgen.mix; print(sorted({'numpy', 'datasets', 'pyarrow'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"


def test_validate_warns_when_the_measured_text_is_few_shot_text(write_recipe, tmp_path):
    from synthgen.api import validate_recipe
    from synthgen.recipe import load_recipe

    from conftest import REAL as FEW_SHOT  # the tiny recipe's prompt.few_shot rows (real.jsonl)

    write_jsonl(tmp_path / "real_big.jsonl", REAL)
    write_jsonl(tmp_path / "seen.jsonl", FEW_SHOT + VALIDATION)
    write_jsonl(tmp_path / "unseen.jsonl", VALIDATION)
    base = '\n[mix]\nreal = "real_big.jsonl"\nmeasure_share = true\n'
    seen = validate_recipe(load_recipe(write_recipe(extra=base + 'validation = "seen.jsonl"\n'))).warnings
    assert any("4 of the 304 texts the share is measured on are few-shot examples" in w for w in seen)
    unseen = validate_recipe(load_recipe(write_recipe(extra=base + 'validation = "unseen.jsonl"\n'))).warnings
    assert not any("few-shot" in w for w in unseen)


def test_a_failed_mix_names_the_command_that_rebuilds_it_with_the_same_settings(tmp_path):
    from synthgen.mix.run import check_mix_written, failed_mix_summary

    mixer = Mixer(0.3, "best_score", seed=7, score_field="judge", real_text_field="body",
                  measure=ShareMeasure(0.02, validation_share=0.3))
    summary = failed_mix_summary(mixer, MixError("boom"))
    with pytest.raises(MixError) as err:
        check_mix_written(summary, tmp_path)
    for part in ("--max-synthetic-share 0.3 --seed 7", "--real-text-field body", "--strategy best_score",
                 "--score-field judge", "--measure-share", "--max-perplexity-rise 0.02", "--validation-share 0.3"):
        assert part in err.value.hint


def test_real_rows_tagged_synthetic_are_not_counted_as_real_text_before_generating(write_recipe, tmp_path):
    from synthgen.api import run_recipe
    from synthgen.backends.testing import ScriptedBackend

    tagged = [{"text": t} for t in REAL[:40]] + [{"text": t, "source": "synthetic"} for t in REAL[40:]]
    (tmp_path / "tagged.jsonl").write_text("".join(json.dumps(row) + "\n" for row in tagged))
    backend = ScriptedBackend()
    with pytest.raises(RecipeError, match="holds out 8 of the 40 real texts"):
        run_recipe(write_recipe(extra='\n[mix]\nreal = "tagged.jsonl"\nmeasure_share = true\n'), backend=backend,
                   progress=False)
    assert backend.calls == []


def test_the_cap_note_does_not_ask_for_more_real_data_when_the_measurement_cut_the_share():
    result = Mixer(0.2, measure=ShareMeasure(0.02)).mix(rows(REAL), rows(generated(400, 3)), rows(VALIDATION))
    assert result.dropped_by_reason()["over_mix_cap"] and result.dropped_by_reason()["over_measured_share"]
    assert not any("add real data to use more of them" in w for w in result.warnings)
