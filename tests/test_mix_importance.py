"""The ``importance`` mix strategy: weights against hand-computed values, the pull toward the real data, the
length strata that keep the token share honest, and its use from the Mixer, a recipe and the CLI."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest

from synthgen.mix import Mixer, MixError
from synthgen.mix.importance import importance_order, log_weights, ngram_counts, stratified_top, word_counts
from synthgen.recipe.mix_schema import MixConfig

CAT = "the cat sat on the mat and purred at the window".split()
DRIFT = "quantum ledger token yield vector spline kernel matrix socket buffer".split()


def sentences(words, n, length, seed):
    rng = random.Random(seed)
    return [" ".join(rng.choice(words) for _ in range(length)) for _ in range(n)]


def test_log_weights_match_hand_computed_values():
    # synthetic features: a ×2, "a a" ×1, b ×1 (p = .5, .25, .25); real: a ×1 (p = 1, 0, 0);
    # target = 0.9·real + 0.1·synthetic: a .95, "a a" .025, b .025
    weights = log_weights(ngram_counts(["a a", "b", ""]), np.asarray(ngram_counts(["a"]).sum(axis=0)).ravel(), 0.9)
    assert weights[0] == pytest.approx(2 * math.log(0.95 / 0.5) + math.log(0.025 / 0.25))
    assert weights[1] == pytest.approx(math.log(0.025 / 0.25))
    assert weights[2] == 0.0  # no words: neither favoured nor refused


def test_rows_like_the_real_data_are_drawn_first():
    real = sentences(CAT, 200, 8, seed=0)
    like, drifted = sentences(CAT, 60, 8, seed=1), sentences(CAT[:4] + DRIFT, 60, 8, seed=2)
    picked = importance_order(like + drifted, real, 60, seed=0)
    assert len(set(picked)) == 60 and sum(i < 60 for i in picked) >= 55
    assert importance_order(like + drifted, real, 60, seed=0) == picked  # seeded


def test_chosen_lengths_follow_the_real_lengths_not_the_weights():
    # real rows: half 4 words, half 12; the weights (sums over n-grams) alone would take the long rows
    real = sentences(CAT, 100, 4, seed=0) + sentences(CAT, 100, 12, seed=1)
    pool = sentences(CAT, 40, 4, seed=2) + sentences(CAT, 40, 12, seed=3)
    picked = importance_order(pool, real, 20, seed=0)
    assert sorted(word_counts([pool[i] for i in picked]).tolist()) == [4] * 10 + [12] * 10


def test_a_stratum_without_enough_rows_lends_its_places_to_the_best_rows_left():
    lengths = np.array([10, 10, 10, 2, 2, 2, 2, 2, 2, 2])
    scores = np.array([0.0, 1.0, 2.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0])
    picked = stratified_top(scores, lengths, real_lengths=np.full(50, 10), k=5)
    assert picked == [2, 1, 0, 3, 4]  # the three long rows (best first), then the two best short ones


def test_every_prefix_of_the_order_follows_the_real_length_strata():
    # real rows: a quarter 4 words, three quarters 12; a prefix of the order keeps that proportion
    real = np.array([4] * 25 + [12] * 75)
    lengths = np.array([4] * 40 + [12] * 40)
    scores = np.random.default_rng(0).normal(size=80) + np.where(lengths == 4, 3.0, 0.0)  # short rows score higher
    order = stratified_top(scores, lengths, real, k=40)
    for prefix in (4, 8, 20, 40):
        assert abs(sum(lengths[order[:prefix]] == 4) - prefix / 4) <= 1


def test_the_mixer_uses_it_and_says_so():
    real = [{"text": t} for t in sentences(CAT, 100, 8, seed=0)]
    synthetic = [{"text": t, "k": i} for i, t in enumerate(sentences(CAT, 30, 8, 1) + sentences(DRIFT, 30, 8, 2))]
    result = Mixer(0.2, "importance", seed=3).mix(real, synthetic)
    chosen = [row["k"] for row in result.records if row["source"] == "synthetic"]
    assert len(chosen) == 25 and sum(k < 30 for k in chosen) >= 23
    assert result.summary()["strategy"] == "importance" and result.dropped_by_reason() == {"over_mix_cap": 35}


def test_real_rows_without_text_are_refused_with_the_fix():
    with pytest.raises(MixError, match="strategy 'importance' needs real rows with text") as err:
        Mixer(0.5, "importance").mix([{"text": None}] * 4, [{"text": f"s {i}"} for i in range(9)])
    assert "strategy 'random'" in err.value.hint


def test_recipe_and_cli_accept_it(tmp_path):
    from click.testing import CliRunner

    from synthgen.mix.cli import mix_command

    assert MixConfig(real="real.jsonl", strategy="importance").strategy == "importance"
    real, synthetic = tmp_path / "real.jsonl", tmp_path / "synthetic.jsonl"
    real.write_text("".join(json.dumps({"text": t}) + "\n" for t in sentences(CAT, 40, 8, 0)))
    synthetic.write_text("".join(json.dumps({"text": t}) + "\n" for t in sentences(CAT + DRIFT, 30, 8, 1)))
    result = CliRunner().invoke(mix_command, ["--real", str(real), "--synthetic", str(synthetic), "--out",
                                              str(tmp_path / "mix"), "--strategy", "importance",
                                              "--max-synthetic-share", "0.2"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "mix" / "summary.json").read_text())["strategy"] == "importance"


def test_conversations_are_weighed_by_their_text():
    real = [{"messages": [{"role": "user", "content": t}]} for t in sentences(CAT, 50, 8, seed=0)]
    synthetic = [{"messages": [{"role": "user", "content": t}], "k": i}
                 for i, t in enumerate(sentences(CAT, 10, 8, 1) + sentences(DRIFT, 10, 8, 2))]
    result = Mixer(0.1, "importance", text_field="messages").mix(real, synthetic)
    chosen = [row["k"] for row in result.records if row["source"] == "synthetic"]
    assert len(chosen) == 5 and all(k < 10 for k in chosen)
