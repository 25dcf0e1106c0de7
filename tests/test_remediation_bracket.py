"""Remediation never steps past a temperature the batch already failed at from the other side (issue 16:
the collapse benchmark's starved generations cooled a whole step below the temperature they had nearly
passed at)."""

from __future__ import annotations

import pytest

from synthgen.diversity.gate import GateResult
from synthgen.diversity.remediate import Bracket, Levers, RemediationBounds, remediation_step
from synthgen.gating import GateController, GateState

NO_LEVERS = Levers(widen_seeds=False, few_shot=False)
COVERAGE = {"metric": "cluster_coverage", "against": "real", "status": "fail", "blocking": True,
            "reason": "cluster_coverage 0.694 < threshold 0.704"}


def too_far(ratio: float) -> dict:
    return {"metric": "perplexity_shift", "against": "real", "gate": "fidelity", "status": "fail", "blocking": True,
            "side": "too_far", "ratio": ratio, "factor": 1.25, "reason": f"perplexity {ratio}x real's"}


def at(temperature: float) -> dict:
    return {"temperature": temperature, "top_p": 1.0}


def test_the_bracket_keeps_the_closest_failure_on_each_side():
    bracket = Bracket().after(1.0, 1.1).after(1.1, 1.05).after(1.05, 0.94)
    assert (bracket.low, bracket.high) == (1.0, 1.05)
    assert Bracket(0.9, 1.2).after(0.95, 1.05) == Bracket(0.95, 1.2)
    assert Bracket(0.9, 1.2).after(1.0, 1.0) == Bracket(0.9, 1.2)


@pytest.mark.parametrize("low, high, temperature, proposed, expected", [
    (1.0, 1.05, 1.05, 0.94, 1.025),   # cooling past the low failure: halfway to it
    (0.95, None, 1.0, 1.1, 1.1),       # heating, nothing failed above: the whole step
    (None, 1.0, 0.9, 1.05, 0.95),      # heating past the high failure: halfway to it
    (0.98, 1.05, 1.02, 1.01, 1.01),    # a step inside the band is kept
    (None, 1.0, 1.1, 1.2, 1.2),        # already above a "too far" failure (noise): not turned around
])
def test_clamp_stops_halfway_to_a_failed_temperature(low, high, temperature, proposed, expected):
    assert Bracket(low, high).clamp(temperature, proposed) == pytest.approx(expected)


def test_a_coverage_then_too_far_sequence_settles_between_its_failures():
    """The benchmark's seed 4, generation 5, T = 1: coverage short at 1.0, too far at 1.1 and at 1.05; the last
    step went to 0.94 (below the 1.0 it had nearly passed at) and the generation starved."""
    bracket, move, temperature = Bracket(), 0.0, 1.0
    for result in (GateResult(False, [COVERAGE]), GateResult(False, [too_far(1.52)]),
                   GateResult(False, [COVERAGE, too_far(1.279)])):
        step = remediation_step(result, at(temperature), 0, RemediationBounds(), move, NO_LEVERS, bracket)
        assert step.retry
        bracket, move, temperature = bracket.after(temperature, step.temperature), step.temperature - temperature, \
            step.temperature
    assert temperature == pytest.approx(1.025)
    unbracketed = remediation_step(GateResult(False, [COVERAGE, too_far(1.279)]), at(1.05), 2, RemediationBounds(),
                                   -0.05, NO_LEVERS)
    assert unbracketed.temperature == pytest.approx(0.9396, abs=1e-3)


class ScriptedGate:
    """A gate whose decisions are given in order (one per ``evaluate``)."""

    def __init__(self, *results: GateResult):
        self.results = list(results)

    def evaluate(self, texts, reference, previous=None, *, embedder=None) -> GateResult:
        return self.results.pop(0)


def test_the_run_keeps_its_bracket_across_retries_and_a_restart_and_clears_it_on_a_pass():
    gate = ScriptedGate(GateResult(False, [COVERAGE]), GateResult(False, [too_far(1.52)]),
                        GateResult(False, [COVERAGE, too_far(1.279)]), GateResult(True, []))
    controller = GateController(gate, ["real"] * 10, None, None, RemediationBounds(), window=2)
    controller.bind_levers(lambda current, new: False, few_shot=False)
    texts, temperature = ["a", "b"], 1.0
    for _ in range(2):
        outcome = controller.check(texts, at(temperature))
        temperature = outcome.check["remediation"]["temperature"]
    assert (controller.state.bracket_low, controller.state.bracket_high) == (1.0, 1.1)
    restarted = GateController(gate, ["real"] * 10, None, None, RemediationBounds(), window=2)
    restarted.bind_levers(lambda current, new: False, few_shot=False)
    restarted.state = GateState(**controller.state.to_dict())  # what a resumed run loads from its checkpoint
    third = restarted.check(texts, at(temperature))
    assert third.check["remediation"]["temperature"] == pytest.approx(1.025)
    assert restarted.check(texts, at(1.025)).passed
    assert restarted.state.bracket_low is None and restarted.state.bracket_high is None


def test_a_failure_of_the_previous_generation_rules_alone_does_not_bound_other_temperatures():
    """Previous-generation rules apply only at the sampling the previous batch was accepted at, so a batch they
    refused at 1.0 may still pass below it (the benchmark's seed 0, generation 1, T = 1 starved at 1.025 when
    that refusal bounded the bracket; it passes at 0.91)."""
    vendi = {"metric": "vendi", "against": "previous", "status": "fail", "blocking": True,
             "reason": "vendi 71.56 < threshold 72.62"}
    first = remediation_step(GateResult(False, [vendi]), at(1.0), 0, RemediationBounds(), 0.0, NO_LEVERS)
    assert first.retry and first.temperature == pytest.approx(1.1) and not first.anchored
    bracket = Bracket().after(1.0, first.temperature, first.anchored)
    assert bracket == Bracket()
    second = remediation_step(GateResult(False, [too_far(1.51)]), at(1.1), 1, RemediationBounds(), 0.1, NO_LEVERS,
                              bracket)
    assert second.anchored and second.temperature == pytest.approx(1.05)
    bracket = bracket.after(1.1, second.temperature, second.anchored)
    third = remediation_step(GateResult(False, [too_far(1.374)]), at(1.05), 2, RemediationBounds(), -0.05,
                             NO_LEVERS, bracket)
    assert third.temperature < 0.95  # a whole step: nothing failed below
