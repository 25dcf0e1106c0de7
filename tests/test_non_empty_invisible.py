"""non_empty drops a completion made only of invisible characters (zero-width spaces and the like)."""

from __future__ import annotations

import pytest

from synthgen.records import Candidate, GenerationRequest, Seed
from synthgen.verify.rules import NonEmptyVerifier

REQUEST = GenerationRequest(index=0, prompt="", seed=Seed(0, {}), sampling_seed=0)


def verdict(text: str, strip: bool = True):
    return NonEmptyVerifier(strip=strip).check(Candidate(REQUEST, 0, text, 1))


@pytest.mark.parametrize("text", ["\u200b", " \u200b\u200c\u200d ", "\ufeff", "\u2060\n\u00ad", "\t\u200b\u3000"])
def test_invisible_text_is_empty(text):
    assert not verdict(text).keep and verdict(text).reason == "empty_output"


@pytest.mark.parametrize("text", ["a", "\u200bhello", "👩\u200d💻", "日本語", "x\u00ad"])
def test_text_with_something_visible_is_kept(text):
    assert verdict(text).keep


def test_without_strip_only_the_empty_string_is_empty():
    assert verdict("\u200b", strip=False).keep and not verdict("", strip=False).keep
