"""The LLM judge decodes its verdict under structured outputs: the constraint it asks for, and, on the
embedded model (vLLM offline and ``vllm serve``), replies that parse every time."""

from __future__ import annotations

import pytest

from synthgen.backends.testing import ScriptedBackend
from synthgen.recipe.schema import ScriptedBackendConfig
from synthgen.records import Candidate, GenerationRequest, Seed
from synthgen.verify.judge import NUMBER_REGEX, UNPARSEABLE, JudgeVerifier

QUESTIONS = [
    ("What is the capital of France?", "Paris is the capital of France."),
    ("What is 2 + 2?", "2 + 2 = 5."),
    ("Name a primary colour.", "Blue is a primary colour."),
    ("Why is the sky blue?", "Because of Rayleigh scattering of sunlight by air molecules."),
    ("What is the boiling point of water at sea level?", "It boils at 100 degrees Celsius."),
    ("Who wrote Hamlet?", "Hamlet was written by Charles Dickens."),
    ("Translate 'gato' from Spanish.", "Cat."),
    ("What is the largest planet?", "banana banana banana"),
]


class Recorder(ScriptedBackend):
    """The scripted backend, keeping the sampling of each call."""

    def __init__(self, *outputs: str):
        super().__init__(ScriptedBackendConfig(type="scripted", outputs=list(outputs)))
        self.samplings = []

    def generate(self, requests, sampling):
        self.samplings.append(sampling)
        return super().generate(requests, sampling)


def candidates(n: int) -> list[Candidate]:
    rows = [QUESTIONS[i % len(QUESTIONS)] for i in range(n)]
    return [Candidate(GenerationRequest(i, q, Seed(i, {"q": q}), 0), 0, a, len(a.split()))
            for i, (q, a) in enumerate(rows)]


def test_score_mode_asks_for_a_choice_of_scores():
    backend = Recorder("8")
    verdict = JudgeVerifier(backend=backend, threshold=7).check(candidates(1)[0])
    assert verdict.keep and verdict.score == 8.0
    assert backend.samplings[0].choice == [str(i) for i in range(1, 11)] and backend.samplings[0].regex is None


def test_fractional_scale_asks_for_a_number_regex_and_checks_the_range():
    backend = Recorder("1.5")
    verdict = JudgeVerifier(backend=backend, min_score=0, max_score=1, threshold=0.5).check(candidates(1)[0])
    assert backend.samplings[0].regex == NUMBER_REGEX and backend.samplings[0].choice is None
    assert not verdict.keep and verdict.reason == UNPARSEABLE  # 1.5 matches the regex but is off the scale


def test_pairwise_asks_for_a_winner_choice():
    backend = Recorder("A", "B")
    judge = JudgeVerifier(backend=backend, mode="pairwise", reference="q")
    assert judge.check(candidates(1)[0]).keep
    assert backend.samplings[0].choice == ["A", "B", "tie"]


def test_constrain_off_leaves_decoding_free_and_parses_text():
    backend = Recorder("Score: 9 - great")
    assert JudgeVerifier(backend=backend, constrain=False).check(candidates(1)[0]).score == 9.0
    assert backend.samplings[0].choice is None and backend.samplings[0].regex is None


def parse_rate(judge: JudgeVerifier, n: int) -> tuple[float, list]:
    verdicts = judge.check_batch(candidates(n))
    unparseable = [v for v in verdicts if v.reason == UNPARSEABLE]
    return 1 - len(unparseable) / n, verdicts


@pytest.mark.slow
def test_offline_vllm_judge_always_parses():
    """On the embedded base model an unconstrained judge often rambles; constrained it cannot."""
    pytest.importorskip("vllm", reason="vLLM is not installed (pip install 'synthgen[cpu]')")
    from synthgen.backends.vllm_offline import VllmBackend
    from synthgen.recipe.schema import VllmBackendConfig

    backend = VllmBackend(VllmBackendConfig(type="vllm"), mode="completion")
    try:
        free, _ = parse_rate(JudgeVerifier(backend=backend, constrain=False, max_tokens=16), 24)
        rate, verdicts = parse_rate(JudgeVerifier(backend=backend, max_tokens=16), 24)
        pairwise, _ = parse_rate(JudgeVerifier(backend=backend, mode="pairwise", reference="q", max_tokens=8), 8)
    finally:
        backend.close()
    print(f"offline judge parse rate: free {free:.0%}, constrained {rate:.0%}, pairwise constrained {pairwise:.0%}")
    assert rate == 1.0 and pairwise == 1.0
    assert all(v.score is not None and 1 <= v.score <= 10 for v in verdicts)


@pytest.mark.slow
def test_vllm_server_judge_and_structured_outputs():
    pytest.importorskip("vllm", reason="vLLM is not installed (pip install 'synthgen[cpu]')")
    import json

    from helpers_vllm_server import vllm_server
    from synthgen.backends.openai_http import OpenAIBackend
    from synthgen.recipe.schema import OpenAIBackendConfig, SamplingConfig
    from test_openai_backend import embedded_model_dir, requests_for

    schema = {"type": "object", "properties": {"capital": {"type": "string", "maxLength": 20}},
              "required": ["capital"], "additionalProperties": False}
    with vllm_server(embedded_model_dir()) as base_url:
        backend = OpenAIBackend(OpenAIBackendConfig(type="openai", base_url=base_url, model="gemma3-270m"))
        rate, verdicts = parse_rate(JudgeVerifier(backend=backend, max_tokens=16), 16)
        replies = backend.generate(requests_for("The capital of Peru as JSON:", "Italy's capital as JSON:"),
                                   SamplingConfig(json_schema=schema, temperature=0.0, max_tokens=40))
        info = backend.describe()
        backend.close()
    print(f"server judge parse rate {rate:.0%}; json replies {[r[0].text for r in replies]}; {info}")
    assert info["server_owned_by"] == "vllm" and info.get("server_vllm_version")
    assert rate == 1.0
    assert all(set(json.loads(r[0].text)) == {"capital"} for r in replies)
