"""The mixer: default caps by depth, the override rule, the cap / no-invent / no-duplicate invariants
(hypothesis), each strategy and bad input. The ``mix/`` folder, [mix] table and CLI: test_mix_store.py."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthgen.mix import (DROP_REASONS, DUPLICATE_IN_MIX, MISSING_TEXT, OVER_MIX_CAP, STRATEGIES, Mixer, MixError,
                          default_cap, embedding_order, synthetic_allowance)


def real(n):
    return [{"text": f"real question {i}", "rid": i} for i in range(n)]


def synth(n, **columns):
    return [{"text": f"synthetic question {i}", "k": i, **{c: f(i) for c, f in columns.items()}} for i in range(n)]


def synthetic_of(result):
    return [r for r in result.records if r["source"] == "synthetic"]


# --- caps -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth, temperature, top_p, cap", [
    (0, None, None, 0.5), (1, None, None, 0.5), (1, 0.5, 0.9, 0.5), (2, None, None, 0.3), (2, 1.0, 1.0, 0.3),
    (7, 1.2, None, 0.3), (2, 0.7, None, 0.2), (3, None, 0.9, 0.2)])
def test_default_cap_tightens_with_depth_and_narrow_sampling(depth, temperature, top_p, cap):
    assert default_cap(depth, temperature, top_p) == cap
    assert Mixer(depth=depth, loop_temperature=temperature, loop_top_p=top_p).cap == cap


@pytest.mark.parametrize("n_real, cap, allowance", [
    (7, 0.3, 3), (10, 0.5, 10), (3, 0.2, 0), (4, 0.2, 1), (9, 0.1, 1), (5, 0.0, 0), (5, 1.0, None), (0, 0.5, 0)])
def test_allowance_is_exact(n_real, cap, allowance):
    assert synthetic_allowance(n_real, cap) == allowance


def test_a_cap_above_the_default_needs_a_reason():
    with pytest.raises(MixError, match=r"mix\.max_synthetic_share = 0.6 is above the default cap 0.5") as err:
        Mixer(max_synthetic_share=0.6)
    assert "override_reason" in err.value.hint
    with pytest.raises(MixError, match="default cap 0.3"):
        Mixer(max_synthetic_share=0.5, depth=2)
    with pytest.raises(MixError):
        Mixer(max_synthetic_share=0.5, depth=2, override_reason="   ")
    result = Mixer(0.6, override_reason="one-shot distillation from a fixed teacher").mix(real(4), synth(9))
    summary = result.summary()
    assert result.n_synthetic == 6 and summary["override"] is True
    assert summary["override_reason"] == "one-shot distillation from a fixed teacher"
    assert Mixer(0.3, depth=2).cap == 0.3 and Mixer(0.1, depth=2, loop_temperature=0.5).cap == 0.1


@pytest.mark.parametrize("cap", [-0.1, 1.5, math.nan, "0.5", True])
def test_a_cap_outside_0_1_is_an_error(cap):
    with pytest.raises(MixError, match=r"mix\.max_synthetic_share"):
        Mixer(cap, override_reason="x")


# --- invariants -------------------------------------------------------------------------------------

TEXTS = st.sampled_from(["a b", "b c", "c d a", "d e f", "e", "f g h", "", "  ", None, 3])
SYNTH_ROW = st.fixed_dictionaries({"text": TEXTS, "seed_topic": st.sampled_from(["x", "y", "z"]),
                                   "judge": st.one_of(st.none(), st.floats(allow_nan=True))})
REAL_ROW = st.fixed_dictionaries({"text": st.sampled_from(["a b", "real one", "real two", "e"])})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(REAL_ROW, min_size=1, max_size=12), st.lists(SYNTH_ROW, max_size=30),
       st.one_of(st.sampled_from([0.0, 0.1, 0.2, 0.3, 1 / 3, 0.5, 0.7, 1.0]), st.floats(0, 1)),
       st.sampled_from(list(STRATEGIES)), st.integers(0, 3))
def test_mix_keeps_all_real_never_exceeds_cap_never_invents_or_duplicates(reals, synths, cap, strategy, seed):
    synths = [{**row, "k": i} for i, row in enumerate(synths)]
    mixer = Mixer(cap, strategy, seed, stratify_by="seed_topic", score_field="judge", override_reason="property test")
    result = mixer.mix(reals, synths)
    assert result.records[:len(reals)] == [{**row, "source": "real"} for row in reals] and result.n_real == len(reals)
    chosen = synthetic_of(result)
    assert len(chosen) == result.n_synthetic and len(result.records) == len(reals) + len(chosen)
    by_k = {row["k"]: row for row in synths}
    for row in chosen + result.dropped:  # every synthetic output is an input row, plus only its labels
        assert {k: v for k, v in row.items() if k not in ("source", "reason")} == by_k[row["k"]]
    assert sorted(row["k"] for row in chosen + result.dropped) == sorted(by_k)  # each exactly once
    texts = [row["text"] for row in chosen]
    assert len(set(texts)) == len(texts) and not set(texts) & {row["text"] for row in reals}
    assert result.synthetic_share <= cap
    assert Fraction(len(chosen)) * (1 - Fraction(str(cap))) <= Fraction(str(cap)) * len(reals)
    eligible = {t for t in (row["text"] for row in synths) if isinstance(t, str) and t.strip()} - {r["text"] for r in reals}
    allowance = synthetic_allowance(len(reals), cap)
    assert len(chosen) == (len(eligible) if allowance is None else min(allowance, len(eligible)))
    assert result.dropped_by_reason().get(OVER_MIX_CAP, 0) == len(eligible) - len(chosen)
    assert {row["reason"] for row in result.dropped} <= set(DROP_REASONS)
    assert mixer.mix(reals, synths).records == result.records  # deterministic for a seed


def test_synthetic_rows_are_kept_in_input_order_and_seeds_change_the_random_pick():
    picks = [[r["k"] for r in synthetic_of(Mixer(seed=s).mix(real(10), synth(40)))] for s in range(3)]
    assert all(p == sorted(p) and len(p) == 10 for p in picks) and len({tuple(p) for p in picks}) > 1


def test_duplicate_and_textless_synthetic_rows_are_dropped_with_reasons():
    rows = [{"text": "real question 0"}, {"text": "new"}, {"text": "new"}, {"text": None}, {"text": " "}, {"other": 1}]
    result = Mixer(1.0, override_reason="test").mix(real(2), rows)
    assert [r["text"] for r in synthetic_of(result)] == ["new"]
    assert [r["reason"] for r in result.dropped] == [DUPLICATE_IN_MIX, DUPLICATE_IN_MIX] + [MISSING_TEXT] * 3


# --- strategies -------------------------------------------------------------------------------------


def test_stratified_gives_rare_strata_their_share():
    rows = synth(100, seed_topic=lambda i: "rare" if i < 2 else ("mid" if i < 10 else "common"))
    result = Mixer(strategy="stratified", stratify_by="seed_topic").mix(real(10), rows)
    topics = [r["seed_topic"] for r in synthetic_of(result)]
    assert (topics.count("rare"), topics.count("mid"), topics.count("common")) == (2, 4, 4)


def test_best_score_takes_the_highest_scores_from_a_column_or_the_scores_json():
    rows = synth(7, judge=[3.0, None, 9.0, 1.0, 7.0, math.nan, 5.0].__getitem__)
    result = Mixer(strategy="best_score", score_field="judge").mix(real(4), rows)
    assert [r["judge"] for r in synthetic_of(result)] == [3.0, 9.0, 7.0, 5.0]  # no score (None, NaN) comes last
    rows = synth(6, scores=lambda i: json.dumps({"judge": i}))
    result = Mixer(strategy="best_score", score_field="judge").mix(real(2), rows)
    assert [r["k"] for r in synthetic_of(result)] == [4, 5]


def test_diversity_first_fallback_skips_rewordings():
    cats = ["the cat sat on the mat", "the cat sat on the mat today", "the cat sat on a mat", "a cat sat on the mat"]
    rows = [{"text": t} for t in cats] + [{"text": "quantum computers factor large numbers"}]
    for seed in range(5):
        texts = [r["text"] for r in synthetic_of(Mixer(strategy="diversity_first", seed=seed).mix(real(2), rows))]
        assert "quantum computers factor large numbers" in texts and len(texts) == 2


def test_diversity_first_uses_a_plugged_in_ordering_and_checks_it():
    order = Mixer(strategy="diversity_first", diversity_order=lambda texts, k: [4, 3][:k])
    assert [r["k"] for r in synthetic_of(order.mix(real(2), synth(6)))] == [3, 4]
    short = Mixer(strategy="diversity_first", diversity_order=lambda texts, k: [5])
    assert [r["k"] for r in synthetic_of(short.mix(real(3), synth(6)))] == [0, 1, 5]  # topped up in input order
    bad = Mixer(strategy="diversity_first", diversity_order=lambda texts, k: [1, 1])
    with pytest.raises(MixError, match="invalid selection"):
        bad.mix(real(2), synth(6))


def test_embedding_order_plugs_the_diversity_package_in():
    import numpy as np

    class Axes:  # texts 0-2 point one way, 3 another: farthest-point must take 3
        def encode(self, texts):
            return np.array([[1.0, 0.0] if i < 3 else [0.0, 1.0] for i in range(len(texts))], dtype=np.float32)

    result = Mixer(strategy="diversity_first", diversity_order=embedding_order(Axes())).mix(real(2), synth(4))
    assert 3 in [r["k"] for r in synthetic_of(result)]
    # the order of every row, also where the cap keeps them all (the measured share keeps prefixes of it)
    assert embedding_order(Axes())(["a", "b", "c", "d"], 9)[:2] in ([0, 3], [1, 3], [2, 3])


# --- bad input --------------------------------------------------------------------------------------


def test_empty_real_data_is_refused_unless_the_cap_is_lifted():
    with pytest.raises(MixError, match="real data has no rows") as err:
        Mixer().mix([], synth(3))
    assert "max_synthetic_share = 1" in err.value.hint
    assert Mixer(1.0, override_reason="synthetic-only release").mix([], synth(3)).n_synthetic == 3


def test_real_data_too_small_for_the_synthetic_rows_says_so():
    result = Mixer().mix(real(2), synth(10))
    assert result.n_synthetic == 2 and len(result.dropped) == 8
    assert any("at most 2 synthetic rows" in w for w in result.warnings)


@pytest.mark.parametrize("kwargs, message", [
    ({"strategy": "best"}, "unknown mix strategy"), ({"strategy": "stratified"}, "needs mix.stratify_by"),
    ({"strategy": "best_score"}, "needs mix.score_field"), ({"depth": -1}, "depth must be")])
def test_bad_mixer_settings(kwargs, message):
    with pytest.raises(MixError, match=message):
        Mixer(**kwargs)


def test_missing_fields_guess_the_mistake():
    with pytest.raises(MixError, match="'topic'") as err:
        Mixer(strategy="stratified", stratify_by="topic").mix(real(2), synth(5, seed_topic=str))
    assert "seed_topic" in err.value.hint
    with pytest.raises(MixError, match="synthetic rows have no 'txt'"):
        Mixer(text_field="txt", real_text_field="text").mix(real(1), synth(2))
    with pytest.raises(MixError, match="real rows have no 'body'"):
        Mixer(real_text_field="body").mix(real(1), synth(2))
    with pytest.raises(MixError, match="synthetic rows have no 'text'") as err:
        Mixer().mix(real(1), [{"messages": chat("hi", "hello"), "id": 1}])
    assert err.value.hint.startswith("did you mean 'messages'? conversations are mixed by their turns")


def test_real_text_field_is_renamed_to_the_mix_text_field():
    reals = [{"content": "a real text", "source": "wiki"}]
    record = Mixer(real_text_field="content").mix(reals, synth(1)).records[0]
    assert record == {"text": "a real text", "original_source": "wiki", "source": "real"}


def chat(user, assistant):
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


def test_conversations_are_mixed_compared_and_checked_like_texts():
    real = [{"messages": chat("hi", "hello")}, {"messages": chat("what is up", "the sky")}]
    synthetic = [{"messages": chat("hey", "yo"), "k": 0}, {"messages": chat("hi", "hello"), "k": 1},
                 {"messages": [], "k": 2}, {"messages": chat(" ", ""), "k": 3}, {"text": "plain", "k": 4},
                 {"messages": chat("hey", "yo"), "k": 5}]
    result = Mixer(0.5, "diversity_first", text_field="messages").mix(real, synthetic)
    assert [row["k"] for row in synthetic_of(result)] == [0]
    assert {row["k"]: row["reason"] for row in result.dropped} == {
        1: DUPLICATE_IN_MIX, 2: MISSING_TEXT, 3: MISSING_TEXT, 4: MISSING_TEXT, 5: DUPLICATE_IN_MIX}
    assert synthetic_of(result)[0]["messages"] == chat("hey", "yo")  # stored as given, not as text
