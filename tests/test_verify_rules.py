"""Rule verifiers (length, regex, blocklist, repetition, script, required fields) and their recipe tables."""

from __future__ import annotations

import pytest

from synthgen.errors import RecipeError
from synthgen.recipe.load import recipe_from_dict
from synthgen.records import Candidate, GenerationRequest, Seed
from synthgen.verify import VerifyContext, build_verify_stages
from synthgen.verify.fields import RequiredFieldsVerifier
from synthgen.verify.rules import BlocklistVerifier, LengthVerifier, RegexVerifier, echo_share
from synthgen.verify.text_stats import (RepetitionVerifier, ScriptVerifier, repeated_ngram_fraction, script_of,
                                        script_shares)

MINIMAL = {"recipe": {"name": "r"}, "seeds": {"type": "inline", "records": [{"topic": "a"}]},
           "prompt": {"template": "About {topic}"},
           "generation": {"target": 1, "backend": {"type": "scripted"}}}


def cand(text: str, prompt: str = "Write about rivers.", n_tokens: int | None = None, **seed) -> Candidate:
    request = GenerationRequest(0, prompt, Seed(0, seed), 0)
    return Candidate(request, 0, text, len(text.split()) if n_tokens is None else n_tokens)


def problems(verify: list[dict]) -> list[str]:
    with pytest.raises(RecipeError) as info:
        recipe_from_dict({**MINIMAL, "verify": verify}, source="r.toml")
    return info.value.problems


def test_length_in_tokens_uses_the_backend_count():
    verifier = LengthVerifier(unit="tokens", min=3, max=5)
    assert verifier.check(cand("a b", n_tokens=4)).keep
    verdict = verifier.check(cand("a b c d e f g", n_tokens=9))
    assert (verdict.reason, verdict.evidence["length"]) == ("too_long", 9)


def test_regex_must_and_must_not():
    verifier = RegexVerifier(must_match=[r"\?$"], must_not_match=[r"(?i)lorem ipsum"], flags=["multiline"])
    assert verifier.check(cand("Why do rivers bend?")).keep
    assert verifier.check(cand("Rivers bend.")).reason == "regex_not_matched"
    verdict = verifier.check(cand("Lorem Ipsum, why?"))
    assert (verdict.reason, verdict.evidence["match"]) == ("regex_forbidden_match", "Lorem Ipsum")


@pytest.mark.parametrize("text", ["As an AI language model, I cannot do that.",
                                  "I'm sorry, but I can't help with that request.",
                                  "AS AN AI LANGUAGE MODEL I think rivers are nice."])
def test_blocklist_catches_refusals(text):
    verdict = BlocklistVerifier().check(cand(text))
    assert verdict.reason == "blocked_phrase" and verdict.evidence["phrase"]


def test_blocklist_custom_phrases_case_sensitive():
    verifier = BlocklistVerifier(phrases=["TODO"], case_sensitive=True, prompt_echo=False)
    assert verifier.check(cand("todo: nothing")).keep
    assert verifier.check(cand("TODO: fix")).reason == "blocked_phrase"


def test_prompt_echo_share_is_hand_computed():
    prompt = "Write a question about rivers asked by a child.\nQ:"
    text = "Write a question about rivers asked by a child.\nWhy?"
    share, line = echo_share(text, prompt, min_chars=20)
    assert share == pytest.approx(47 / 51) and line == "write a question about rivers asked by a child."
    assert BlocklistVerifier().check(cand(text, prompt)).reason == "prompt_echo"
    assert BlocklistVerifier().check(cand("Why do rivers flow to the sea?", prompt)).keep


def test_repeated_ngram_fraction_is_hand_computed():
    # 6 words → 4 trigrams: (a b c) (b c a) (c a b) (a b c): 3 distinct → 1 − 3/4
    assert repeated_ngram_fraction("a b c a b c", 3) == pytest.approx(0.25)
    assert repeated_ngram_fraction("short text", 3) == 0.0
    assert repeated_ngram_fraction("go go go go go", 1) == pytest.approx(0.8)
    looping = RepetitionVerifier(n=3, max_fraction=0.3).check(cand("the river flows " * 10))
    assert looping.reason == "repetitive" and looping.evidence["fraction"] > 0.8
    assert RepetitionVerifier().check(cand("Rivers carve valleys over thousands of years.")).keep


def test_script_share():
    assert script_of("a") == "latin" and script_of("é") == "latin" and script_of("Ж") == "cyrillic"
    assert script_of("中") == "cjk" and script_of("あ") == "hiragana"
    counts, letters = script_shares("Привет, world 42!")
    assert (counts["cyrillic"], counts["latin"], letters) == (6, 5, 11)
    verifier = ScriptVerifier(scripts=["latin"], min_share=0.9)
    assert verifier.check(cand("Où est la rivière ?")).keep
    verdict = verifier.check(cand("Привет, world"))
    assert verdict.reason == "wrong_script" and verdict.score == pytest.approx(5 / 11, abs=1e-4)
    assert ScriptVerifier(scripts=["han"]).check(cand("河流")).keep
    assert verifier.check(cand("1234 !!")).reason == "wrong_script"


def test_required_fields_from_labels_become_columns():
    verifier = RequiredFieldsVerifier(fields=["question", "answer"])
    good = cand("**Question:** Why do rivers bend?\nAnswer: Erosion on the outer bank,\nover many years.")
    assert verifier.check(good).keep
    assert good.columns == {"question": "Why do rivers bend?", "answer": "Erosion on the outer bank,\nover many years."}
    verdict = verifier.check(cand("Question: Why?\nAnswer:   "))
    assert (verdict.reason, verdict.evidence["missing"]) == ("missing_field", ["answer"])


def test_required_fields_from_json_and_columns():
    verifier = RequiredFieldsVerifier(fields=["answer"], source="json")
    assert verifier.check(cand('Sure! {"answer": "42"}')).keep
    assert verifier.check(cand('{"answer": ""}')).reason == "missing_field"
    from_columns = cand("irrelevant")
    from_columns.columns["answer"] = "x"
    assert RequiredFieldsVerifier(fields=["answer"], source="columns").check(from_columns).keep


def test_rule_stages_build_in_order_with_unique_names():
    verify = [{"type": "non_empty"}, {"type": "regex", "must_match": ["x"]}, {"type": "regex", "must_match": ["y"]},
              {"type": "blocklist"}, {"type": "repetition"}, {"type": "script"},
              {"type": "required_fields", "fields": ["a"]}]
    loaded = recipe_from_dict({**MINIMAL, "verify": verify})
    names = [s.name for s in build_verify_stages(loaded.recipe.verify, VerifyContext.of(loaded))]
    assert names == ["non_empty", "regex", "regex_2", "blocklist", "repetition", "script", "required_fields"]


@pytest.mark.parametrize("table, expected", [
    ({"type": "regex", "must_match": ["("]}, "r.toml:verify.0.must_match: invalid regular expression '('"),
    ({"type": "regex"}, "r.toml:verify.0: give must_match, must_not_match or both"),
    ({"type": "length", "unit": "lines", "max": 3}, "r.toml:verify.0.unit:"),
    ({"type": "length", "min": 9, "max": 3}, "r.toml:verify.0: min (9) is greater than max (3)"),
    ({"type": "blocklist", "phrases": ["ok", " "]}, "r.toml:verify.0.phrases: a blank phrase"),
    ({"type": "blocklist", "echo_max_share": 2}, "r.toml:verify.0.echo_max_share:"),
    ({"type": "repetition", "n": 0}, "r.toml:verify.0.n:"),
    ({"type": "repetition", "max_fraction": 0.2, "ngram": 3}, "r.toml:verify.0.ngram: unknown key"),
    ({"type": "script", "scripts": ["latn"]}, "r.toml:verify.0.scripts: unknown script 'latn'"),
    ({"type": "required_fields", "fields": []}, "r.toml:verify.0.fields:"),
    ({"type": "required_fields", "fields": ["a"], "source": "yaml"}, "r.toml:verify.0.source:"),
    ({"type": "lenght", "max": 3}, "r.toml:verify.0"),
])
def test_misconfigured_rules_name_the_key(table, expected):
    assert problems([table])[0].startswith(expected), problems([table])
