"""The dedup engine: exact, near, scopes, evidence, decontamination, and properties (idempotence, order)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthgen.dedup import (
    EMPTY_TEXT, EVAL_CONTAMINATION, EXACT_DUPLICATE, NEAR_DUPLICATE, Decontaminator, DedupParams, Deduplicator,
)

BASE = ("Rivers carry sediment from the mountains down to the sea where it settles into wide deltas "
        "that farmers have worked for thousands of years because the soil there is rich and easy to plough")


def ids_for(texts, prefix="t"):
    return [f"{prefix}{i}" for i in range(len(texts))]


def check(texts, **params):
    engine = Deduplicator(DedupParams(**params))
    return engine, engine.check(ids_for(texts), texts)


def test_exact_duplicates_after_normalization_keep_the_first():
    _, verdicts = check([BASE, "  " + BASE.upper() + "\n", "something else entirely here"])
    assert verdicts[0] is None and verdicts[2] is None
    assert verdicts[1].reason == EXACT_DUPLICATE
    assert verdicts[1].evidence() == {"scope": "run", "matched_id": "t0", "jaccard": 1.0}


def test_near_duplicate_has_evidence_with_the_estimated_jaccard():
    edited = BASE.replace("farmers", "growers")
    _, verdicts = check([BASE, edited])
    match = verdicts[1]
    assert match.reason == NEAR_DUPLICATE and match.matched_id == "t0"
    assert 0.8 <= match.score < 1.0 and match.evidence()["jaccard"] == round(match.score, 4)


def test_unrelated_texts_are_kept_and_exact_off_reports_near_instead():
    _, verdicts = check([BASE, "A completely different sentence about chess openings and endgames."])
    assert verdicts == [None, None]
    _, verdicts = check([BASE, BASE], exact=False)
    assert verdicts[1].reason == NEAR_DUPLICATE and verdicts[1].score == 1.0
    _, verdicts = check([BASE, BASE.replace("farmers", "growers")], near=False)
    assert verdicts == [None, None]


def test_empty_texts_are_recorded_not_matched_to_each_other():
    _, verdicts = check(["", "   ", "!!!", "!!!", "ok then"])
    assert [v.reason if v else None for v in verdicts] == [EMPTY_TEXT, EMPTY_TEXT, None, EXACT_DUPLICATE, None]


def test_later_texts_in_one_batch_are_compared_with_earlier_kept_ones():
    engine, first = check([BASE])
    second = engine.check(["u0", "u1"], [BASE + " indeed", BASE + " indeed"])
    assert first == [None] and second[0].matched_id == "t0" and second[1].matched_id == "t0"


def test_reference_scopes_come_first_and_are_named():
    engine = Deduplicator(DedupParams())
    engine.add_reference_texts("real", ["r0"], [BASE])
    engine.add_reference_texts("history", ["h0"], ["An old generated text about baking bread slowly at home today."])
    verdicts = engine.check(["a", "b", "c"], [BASE, BASE + " again", "an old generated text about baking bread slowly at home TODAY."])
    assert [(v.scope, v.matched_id, v.reason) for v in verdicts] == [
        ("real", "r0", EXACT_DUPLICATE), ("real", "r0", NEAR_DUPLICATE), ("history", "h0", EXACT_DUPLICATE)]
    assert engine.describe()["scopes"] == {"real": 1, "history": 1, "run": 0}


def test_observe_rebuilds_memory_without_dropping():
    engine = Deduplicator(DedupParams())
    engine.observe(["k0", "k1"], [BASE, BASE])
    assert len(engine.run_) == 2
    assert engine.check(["x"], [BASE])[0].matched_id == "k0"


def test_ngram_auto_resolves_from_first_texts_and_explicit_wins():
    engine, _ = check(["short text here"] * 3)
    assert engine.ngram_ == 3
    engine, _ = check([" ".join(["word"] * 60)])
    assert engine.ngram_ == 5
    assert Deduplicator(DedupParams(ngram=7)).ngram_ == 7


def test_mismatched_ids_and_texts_fail_loudly():
    with pytest.raises(ValueError):
        Deduplicator().check(["a"], ["x", "y"])


# --- decontamination -------------------------------------------------------------------------------

EVAL = ("Question: a farmer has seventeen sheep and all but nine run away through a hole in the fence; "
        "how many sheep does the farmer have left at the end of the day?")


def test_decontam_flags_a_shared_13_gram_with_evidence():
    decon = Decontaminator(13)
    decon.add_eval(["q1"], [EVAL], "eval.jsonl")
    leaked = "Here is a puzzle. " + EVAL[10:120] + " Think step by step."
    verdicts = decon.check([leaked, BASE])
    assert verdicts[1] is None
    match = verdicts[0]
    assert match.reason == EVAL_CONTAMINATION and match.scope == "eval" and match.matched_id == "q1"
    evidence = match.evidence()
    assert evidence["source"] == "eval.jsonl" and evidence["ngram"] == 13 and evidence["matched_ngrams"] >= 1
    assert 0 < evidence["overlap"] <= 1


def test_decontam_short_eval_items_match_whole_or_are_skipped():
    decon = Decontaminator(13, min_tokens=4)
    decon.add_eval(["s", "tiny"], ["What is the capital of Peru", "yes"], "e")
    assert decon.describe()["skipped_short"] == 1
    verdicts = decon.check(["so what is the capital of peru, exactly?", "what is the capital of France", "yes"])
    assert [v is not None for v in verdicts] == [True, False, False]


# --- properties ------------------------------------------------------------------------------------

WORDS = "river stone lantern orbit cedar pixel harbor quartz meadow signal ember fjord cobalt thistle".split()
sentences = st.lists(st.sampled_from(WORDS), min_size=0, max_size=14).map(" ".join)


@st.composite
def corpora(draw):
    """Texts with planted exact copies, case/space variants and one-word edits of earlier texts."""
    texts = draw(st.lists(sentences, min_size=1, max_size=25))
    for _ in range(draw(st.integers(0, 10))):
        source = draw(st.sampled_from(texts))
        variant = draw(st.sampled_from(["copy", "upper", "edit"]))
        words = source.split()
        if variant == "edit" and words:
            words[draw(st.integers(0, len(words) - 1))] = draw(st.sampled_from(WORDS))
        text = " ".join(words)
        texts.insert(draw(st.integers(0, len(texts))), text.upper() if variant == "upper" else text)
    return texts


@settings(max_examples=60, deadline=None)
@given(corpora(), st.sampled_from([None, 2, 3]))
def test_dedup_is_idempotent_and_keeps_input_order(texts, ngram):
    ids = ids_for(texts)
    verdicts = Deduplicator(DedupParams(ngram=ngram)).check(ids, texts)
    kept = [i for i, v in enumerate(verdicts) if v is None]
    again = Deduplicator(DedupParams(ngram=ngram)).check([ids[i] for i in kept], [texts[i] for i in kept])
    assert again == [None] * len(kept)
    assert kept == sorted(kept)
    rerun = Deduplicator(DedupParams(ngram=ngram)).check(ids, texts)
    assert rerun == verdicts


@settings(max_examples=60, deadline=None)
@given(corpora())
def test_no_two_kept_texts_are_exact_duplicates_and_every_match_points_backwards(texts):
    from synthgen.dedup import exact_key

    ids = ids_for(texts)
    verdicts = Deduplicator(DedupParams()).check(ids, texts)
    kept_keys = [exact_key(t) for t, v in zip(texts, verdicts) if v is None]
    assert len(kept_keys) == len(set(kept_keys))
    for i, match in enumerate(verdicts):
        if match is not None and match.matched_id is not None:
            j = ids.index(match.matched_id)
            assert j < i and verdicts[j] is None


@settings(max_examples=40, deadline=None)
@given(corpora())
def test_batching_does_not_change_decisions(texts):
    ids = ids_for(texts)
    whole = Deduplicator(DedupParams(ngram=3)).check(ids, texts)
    engine = Deduplicator(DedupParams(ngram=3))
    split = engine.check(ids[:5], texts[:5]) + engine.check(ids[5:], texts[5:])
    assert split == whole
    assert np.array_equal(engine.run_.sigs_, Deduplicator(DedupParams(ngram=3)).prepare(
        [ids[i] for i, v in enumerate(whole) if v is None], [texts[i] for i, v in enumerate(whole) if v is None]).sketches.sigs)


def test_a_first_batch_of_empty_texts_does_not_fix_the_ngram():
    engine = Deduplicator(DedupParams())
    assert [v.reason for v in engine.check(["a", "b"], ["", "  "])] == [EMPTY_TEXT, EMPTY_TEXT]
    assert engine.ngram_ is None
    engine.check(["c"], [" ".join(["word"] * 60)])
    assert engine.ngram_ == 5
