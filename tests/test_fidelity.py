"""Fidelity: the Kneser-Ney estimator against hand-computed values, the perplexity rule's false-alarm rate
on real-vs-real splits, its two sides, the rare-type functions, and remediation direction per failing side."""

from __future__ import annotations

import math
import random
import re

import numpy as np
import pytest

from synthgen.diversity.remediate import RemediationBounds, remediation_step
from synthgen.fidelity.gate import FidelityGate
from synthgen.fidelity.ngram import EOS, KneserNeyLM, estimate_discount
from synthgen.fidelity.rare import rare_mask, rare_share, rare_type_support, rare_types
from synthgen.fidelity.rules import TOO_FAR, TOO_TYPICAL, calibrate, shift_bound
from synthgen.fidelity.scorers import NgramScorer


def real_sentences() -> list[str]:
    """Varied real English sentences (CPython's pydoc topics), shuffled once."""
    from pydoc_data.topics import topics

    text = " ".join(topics[key] for key in sorted(topics))
    found = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if 6 <= len(s.split()) <= 40]
    found = list(dict.fromkeys(found))
    random.Random(0).shuffle(found)
    return found


REAL = real_sentences()


# --- the estimator, by hand ---------------------------------------------------------------------------
# Docs "a b", "a c", "b a"; bigram model, D = 0.5. Framed: <s> a b </s> | <s> a c </s> | <s> b a </s>.
# Continuation counts N1+(• w): a {<s>, b} = 2, b {a, <s>} = 2, c {a} = 1, </s> {b, c, a} = 3; total 8,
# 4 types, |V| = 4 types + <unk> = 5. P1(w) = (N1+(•w) − 0.5)/8 + 0.5·4/8 · 1/5.
HAND = KneserNeyLM(order=2, discount=0.5).fit(["a b", "a c", "b a"])


def test_counts_by_hand():
    assert HAND.counts_[1] == {("a",): 2, ("b",): 2, ("c",): 1, (EOS,): 3}
    assert HAND.counts_[2][("<s>", "a")] == 2 and HAND.totals_[2][("a",)] == 3 and HAND.types_[2][("<s>",)] == 2


def test_unigram_level_by_hand():
    unseen = ("zz",)  # an unseen context backs off to the unigram level entirely
    assert HAND.prob("a", unseen) == pytest.approx(1.5 / 8 + 0.05)        # 0.2375
    assert HAND.prob("c", unseen) == pytest.approx(0.5 / 8 + 0.05)        # 0.1125
    assert HAND.prob(EOS, unseen) == pytest.approx(2.5 / 8 + 0.05)        # 0.3625
    assert HAND.prob("never-seen", unseen) == pytest.approx(0.05)          # the uniform share of <unk>


def test_bigram_level_by_hand():
    # context a: c(a b) = c(a c) = c(a </s>) = 1, total 3, 3 types: (1 − .5)/3 + .5·3/3·P1(b)
    assert HAND.prob("b", ("a",)) == pytest.approx(0.5 / 3 + 0.5 * 0.2375)
    # context <s>: c(<s> a) = 2, c(<s> b) = 1, total 3, 2 types
    assert HAND.prob("a") == pytest.approx(1.5 / 3 + 0.5 * 2 / 3 * 0.2375)
    assert HAND.prob("c") == pytest.approx(0.5 * 2 / 3 * 0.1125)           # unseen after <s>: only backoff
    logprob, n = HAND.doc_logprob(["a", "b"])
    expected = math.log(1.5 / 3 + 0.5 * 2 / 3 * 0.2375) + math.log(0.5 / 3 + 0.5 * 0.2375) + \
        math.log(0.5 / 2 + 0.5 * 2 / 2 * 0.3625)
    assert n == 3 and logprob == pytest.approx(expected)


@pytest.mark.parametrize("context", [(), ("the",), ("of", "the"), ("zz", "qq"), ("the", "zz")])
def test_trigram_probabilities_sum_to_one(context):
    lm = KneserNeyLM(order=3).fit(REAL[:300])
    total = sum(lm.prob(w, context) for w in lm.vocab_) + lm.prob("<never seen>", context)
    assert total == pytest.approx(1.0, abs=1e-9)


def test_discount_estimate_by_hand():
    assert estimate_discount([1, 1, 1, 2, 3]) == pytest.approx(3 / (3 + 2 * 1))
    assert estimate_discount([5, 7]) == 0.75  # no count of 1 or 2: the default


# --- the perplexity rule -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fitted():
    reference, fresh = REAL[:1600], REAL[1600:]
    return FidelityGate(NgramScorer(3), perplexity_tolerance=1.0 + 1e-9, rare_type_recall_ratio_min=None,
                        seed=0).fit(reference), fresh


def test_calibrated_false_alarm_rate_on_real_vs_real_splits(fitted):
    """With no effect-size tolerance the bound is the calibrated noise alone; real batches the gate never
    saw fail at about α = 5% (≤ 10% over 100 draws), and the calibration measured ≤ α on its own draws."""
    gate, fresh = fitted
    assert len(fresh) >= 600
    rng = np.random.default_rng(1)
    failed = [not gate.evaluate([fresh[i] for i in rng.choice(len(fresh), 150, replace=False)]).passed
              for _ in range(100)]
    assert np.mean(failed) <= 0.10
    assert gate.calibration_.false_alarm_rate() <= 0.05 + 1e-9


def test_the_rule_is_two_sided(fitted):
    gate, fresh = fitted
    rng = random.Random(2)
    scrambled = [" ".join(rng.sample(s.split(), len(s.split()))) for s in fresh[:200]]  # real words, no order
    far = gate.evaluate(scrambled).decisions[0]
    assert far["status"] == "fail" and far["side"] == TOO_FAR and far["ratio"] > 1.25
    common = "the value of the object is the value of the default ."
    typical = gate.evaluate([common] * 200).decisions[0]
    assert typical["status"] == "fail" and typical["side"] == TOO_TYPICAL and typical["ratio"] < 0.8


def test_tolerance_widens_the_bound_and_the_noise_bound_shrinks_with_n():
    cal = calibrate(np.random.default_rng(0).normal(size=400))
    assert shift_bound(cal, 100, 400, 1.25) == pytest.approx(max(cal.scale * math.sqrt(1 / 100 + 1 / 400),
                                                                 math.log(1.25)))
    assert shift_bound(cal, 10_000, 10_000, 1.0) < shift_bound(cal, 100, 100, 1.0)


def test_too_few_records_is_reported_not_blocking(fitted):
    gate, fresh = fitted
    result = gate.evaluate(fresh[:5])
    assert result.decisions[0]["status"] == "not_computed" and result.passed


# --- rare types ----------------------------------------------------------------------------------------

def test_rare_functions_by_hand():
    mask = rare_mask(np.array([0, 0, 1, 2, 3, 1]), max_count=2, exclude=[0, 1])
    assert mask.tolist() == [False, False, True, True, False, True]
    assert rare_share(np.array([2, 2, 4]), mask) == pytest.approx(1 / 3)
    assert rare_share(np.array([False, False, True, True, True, False]), mask) == pytest.approx(2 / 3)
    rare = rare_types(["a a a b", "c b"], max_count=2)
    assert rare == {"b", "c"} and rare_type_support(["c d"], rare) == 0.5


# --- remediation per side ------------------------------------------------------------------------------

class Result:
    def __init__(self, *decisions):
        self.decisions, self.passed = list(decisions), False


def failing(metric: str, side: str | None) -> dict:
    return {"metric": metric, "against": "real", "status": "fail", "side": side, "reason": f"{metric} failed"}


def test_too_typical_raises_temperature_and_widens_seeds():
    step = remediation_step(Result(failing("perplexity_shift", TOO_TYPICAL)), {"temperature": 0.7, "top_p": 0.9}, 0)
    assert step.retry and step.temperature == pytest.approx(0.8) and step.top_p == pytest.approx(0.95)
    assert step.seed_widening == 2 and not step.more_few_shot and step.sides == (TOO_TYPICAL,)


def test_too_far_lowers_temperature_and_asks_for_more_real_examples():
    step = remediation_step(Result(failing("perplexity_shift", TOO_FAR)), {"temperature": 1.0, "top_p": 1.0}, 0)
    assert step.retry and step.temperature == pytest.approx(0.9) and step.top_p == 1.0
    assert step.more_few_shot and step.rotate_few_shot and step.seed_widening == 1
    floor = remediation_step(Result(failing("perplexity_shift", TOO_FAR)), {"temperature": 0.15, "top_p": 1.0}, 0,
                             RemediationBounds(min_temperature=0.1))
    assert floor.temperature == pytest.approx(0.1)


def test_rare_types_missing_is_the_typical_side():
    step = remediation_step(Result(failing("rare_type_recall", TOO_TYPICAL)), {"temperature": 1.0, "top_p": 1.0}, 0)
    assert step.temperature == pytest.approx(1.1) and step.seed_widening == 2


def test_conflicting_sides_follow_the_measured_repetition_and_add_real_examples():
    result = Result(failing("distinct_2", None), failing("perplexity_shift", TOO_FAR))
    step = remediation_step(result, {"temperature": 0.7, "top_p": 1.0}, 0)
    assert step.temperature == pytest.approx(0.8) and step.more_few_shot and "conflicting" in step.message



def shifted(side: str, ratio: float) -> dict:
    return {**failing("perplexity_shift", side), "ratio": ratio, "factor": 1.25}


@pytest.mark.parametrize("side,ratio,temperature,expected", [
    (TOO_TYPICAL, 0.31, 0.7, 1.0),    # 5.2 tolerances below: capped at 3 steps
    (TOO_TYPICAL, 0.7, 0.7, 0.86),    # 1.6 tolerances: 1.6 steps
    (TOO_TYPICAL, 0.8, 0.9, 1.0),     # just outside the band: one step
    (TOO_FAR, 1.8, 1.0, 0.737),       # 2.63 tolerances above: 2.63 steps down
])
def test_the_step_grows_with_the_measured_perplexity_shift(side, ratio, temperature, expected):
    step = remediation_step(Result(shifted(side, ratio)), {"temperature": temperature, "top_p": 1.0}, 0)
    assert step.temperature == pytest.approx(expected, abs=0.002)
    one = remediation_step(Result(shifted(side, ratio)), {"temperature": temperature, "top_p": 1.0}, 0,
                           RemediationBounds(max_step_multiple=1))
    assert one.temperature == pytest.approx(temperature + (0.1 if side == TOO_TYPICAL else -0.1))


def test_a_flipped_direction_still_bisects_the_last_move():
    step = remediation_step(Result(shifted(TOO_FAR, 1.8)), {"temperature": 1.0, "top_p": 1.0}, 1, previous_move=0.3)
    assert step.temperature == pytest.approx(0.85)

# --- like with like: the previous generation ------------------------------------------------------------

def test_previous_generation_is_compared_only_at_its_accepted_sampling():
    from synthgen.diversity.gate import DiversityGate
    from synthgen.gating import GateController

    gate = DiversityGate(vendi_ratio_min=None, coverage_ratio_min=None, mean_cosine_margin=None)
    controller = GateController(gate, REAL[:400], REAL[400:600], None, RemediationBounds(), window=100,
                                previous_sampling={"temperature": 1.0, "top_p": 1.0})
    same = controller.check(REAL[600:700], {"temperature": 1.0, "top_p": 1.0}).check
    assert any(d["against"] == "previous" for d in same["decisions"]) and "previous_skipped" not in same
    other = controller.check(REAL[700:800], {"temperature": 0.7, "top_p": 1.0}).check
    assert not any(d["against"] == "previous" for d in other["decisions"])
    assert "accepted at temperature 1" in other["previous_skipped"]


def test_the_previous_sampling_is_read_from_the_provenance_column(tmp_path):
    import json
    from types import SimpleNamespace

    from synthgen.diversity.build import previous_sampling

    rows = [{"text": "x", "sampling": json.dumps({"temperature": t, "top_p": 0.95})} for t in (0.7, 0.9)]
    (tmp_path / "prev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    from synthgen.plan.model import RecipeContext

    config = SimpleNamespace(previous="prev.jsonl", previous_field="text")
    assert previous_sampling(config, RecipeContext("r.toml", tmp_path)) == {"temperature": 0.9, "top_p": 0.95}


# --- synthgen metrics ----------------------------------------------------------------------------------

def test_metrics_cli_lists_the_fidelity_metrics_with_reference_values(tmp_path):
    import json

    from click.testing import CliRunner

    from synthgen.diversity.cli import metrics_command

    def write(name, texts):
        (tmp_path / name).write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
        return str(tmp_path / name)

    real, batch = write("real.jsonl", REAL[:1000]), write("batch.jsonl", REAL[1000:1400])
    out = CliRunner().invoke(metrics_command, [batch, "--reference", real, "--embedder", "none", "--json"])
    assert out.exit_code == 0, out.output
    rows = {r["metric"]: r for r in json.loads(out.output)["fidelity"]}
    assert {"perplexity_shift", "perplexity_p10", "perplexity_p50", "perplexity_p90", "rare_type_recall",
            "rare_type_support"} <= set(rows)
    assert all(r["value"] is not None and r["reference"] is not None for r in rows.values())
    assert rows["perplexity_shift"]["status"] == "pass" and 0.8 < rows["perplexity_shift"]["ratio"] < 1.25
    table = CliRunner().invoke(metrics_command, [batch, "--reference", real, "--embedder", "none"]).output
    assert "perplexity_shift" in table and "fidelity" in table


def test_bunched_but_too_far_is_cooled_and_its_seeds_widened():
    result = Result(failing("mean_pairwise_cosine", None), failing("perplexity_shift", TOO_FAR))
    step = remediation_step(result, {"temperature": 1.0, "top_p": 1.0}, 0)
    assert step.temperature == pytest.approx(0.9) and step.seed_widening == 2 and step.more_few_shot


def test_a_flipped_direction_bisects_the_last_move():
    up = remediation_step(Result(failing("perplexity_shift", TOO_TYPICAL)), {"temperature": 0.9, "top_p": 1.0}, 0)
    assert up.temperature == pytest.approx(1.0)
    down = remediation_step(Result(failing("perplexity_shift", TOO_FAR)), {"temperature": 1.0, "top_p": 1.0}, 1,
                            previous_move=0.1)
    assert down.temperature == pytest.approx(0.95)
    again = remediation_step(Result(failing("perplexity_shift", TOO_FAR)), {"temperature": 0.95, "top_p": 1.0}, 2,
                             previous_move=-0.05)
    assert again.temperature == pytest.approx(0.85)  # same direction: the full step


def test_a_reference_of_too_few_distinct_texts_is_one_clear_reason_and_metrics_keep_the_rest():
    from synthgen.errors import SynthgenError
    from synthgen.fidelity.metrics import fidelity_rows

    with pytest.raises(SynthgenError, match=r"the fidelity reference has 1 distinct non-blank text\(s\)"):
        FidelityGate(NgramScorer(3)).fit(["the same sentence every time"] * 50)
    rows = fidelity_rows(["a text to measure here"] * 5, ["the same sentence every time"] * 50)
    assert [r["metric"] for r in rows] == ["perplexity_shift", "rare_type_recall", "rare_type_support"]
    assert all(r["value"] is None and "1 distinct non-blank text" in r["reason"] for r in rows)


def test_an_empty_batch_has_no_rare_type_support_value():
    from synthgen.fidelity.metrics import support_row

    reference = [f"text number {i} with a rare word{i}" for i in range(40)]
    row = support_row([], reference, 2, 0)
    assert row["value"] is None and row["reference"] is None and row["reason"] == "no text to measure"
