"""The vLLM fidelity scorer on the embedded model (slow: starts a real engine, about a minute on CPU).

Per-record log-perplexity through prompt logprobs: real English scores lower (more likely) than the same
words scrambled, and the fidelity gate accepts the scorer in place of the n-gram model."""

from __future__ import annotations

import random

import numpy as np
import pytest

pytestmark = pytest.mark.slow

REAL = ["The capital of France is Paris, and it lies on the river Seine.",
        "Water boils at one hundred degrees Celsius at sea level.",
        "She opened the window because the room was too warm.",
        "A function returns a value to the code that called it.",
        "The children walked to school together every morning."]


@pytest.fixture(scope="module")
def scorer():
    from synthgen.fidelity.scorers import VllmScorer

    s = VllmScorer("embedded", max_model_len=256)
    yield s
    s.close()


def test_real_text_is_more_likely_than_scrambled_text(scorer):
    rng = random.Random(0)
    scrambled = [" ".join(rng.sample(t.split(), len(t.split()))) for t in REAL]
    real, noise = scorer.score(REAL), scorer.score(scrambled)
    assert np.all(np.isfinite(real)) and np.all(real > 0)
    assert np.mean(real) < np.mean(noise) and (real < noise).sum() >= 4


def test_the_gate_uses_the_vllm_scorer_without_fitting(scorer):
    from synthgen.fidelity.gate import FidelityGate

    reference = REAL + [f"{t} It was {i} o'clock." for i, t in enumerate(REAL * 5)]  # 30 distinct texts
    gate = FidelityGate(scorer, rare_type_recall_ratio_min=None, min_records=5).fit(reference)
    assert gate.calibration_ is not None and gate.calibration_.real_records == len(set(reference))
    decision = gate.evaluate(REAL * 2).decisions[0]
    assert decision["metric"] == "perplexity_shift" and decision["value"] > 1
