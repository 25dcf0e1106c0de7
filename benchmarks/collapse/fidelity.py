"""synthgen's fidelity gate in the collapse benchmark (issue 16): its verdict on a batch of any regime, and
its false-alarm rate on real-vs-real batches (module ``R`` rows), and the diversity gate's on the same
batches (its thresholds are fixed factors of the real value, not calibrated on real-vs-real draws).

A batch is screened like the gated regime's verifiers would (5–80 tokens) and a seeded sample of at most
``sample`` documents goes to the gate, which was fitted once per seed on the real training texts
(:func:`benchmarks.collapse.measures.build_context`). Real-vs-real batches are draws of half the held-out
test split: real text the gate's reference model never saw.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MIN_TOKENS, MAX_TOKENS = 5, 80


def verdict(result: Any) -> dict[str, Any]:
    """The compact evidence of one fidelity evaluation."""
    by = {d["metric"]: d for d in result.decisions}
    shift, rare = by.get("perplexity_shift", {}), by.get("rare_type_recall", {})
    return {"passed": result.passed, "failed": [d["metric"] for d in result.decisions if d["status"] == "fail"],
            "sides": sorted({d["side"] for d in result.decisions if d.get("side")}),
            "perplexity_ratio": shift.get("ratio"), "rare_ratio": rare.get("ratio")}


def batch_fidelity(docs: list[np.ndarray], ctx: Any, sample: int, seed: int) -> dict[str, Any] | None:
    """The fidelity gate's verdict on a regime's batch (None when the context has no gate)."""
    if ctx.fidelity is None:
        return None
    screened = [d for d in docs if MIN_TOKENS <= len(d) <= MAX_TOKENS]
    rng = np.random.default_rng([seed, 4242])
    if len(screened) > sample:
        screened = [screened[i] for i in np.sort(rng.choice(len(screened), size=sample, replace=False))]
    return verdict(ctx.fidelity.evaluate(ctx.corpus.texts(screened)))


def real_vs_real(ctx: Any, seed: int, draws: int = 20, gate_sample: int = 1000) -> list[dict[str, Any]]:
    """``draws`` batches of half the test split through the fidelity gate, and through the gated regime's
    diversity gate with the other half as the previous batch: each should pass both."""
    from .gated import diversity_parts

    gate, embedder, reference = diversity_parts(ctx.corpus, seed, gate_sample)
    test = ctx.corpus.texts(ctx.corpus.test)
    rng = np.random.default_rng([seed, 777])
    rows = []
    for i in range(draws):
        pick = np.zeros(len(test), bool)
        pick[rng.choice(len(test), size=len(test) // 2, replace=False)] = True
        batch = [t for t, p in zip(test, pick) if p]
        other = [t for t, p in zip(test, pick) if not p]
        out = verdict(ctx.fidelity.evaluate(batch))
        diversity = gate.evaluate(batch, reference, other, embedder=embedder)
        rows.append({"module": "R", "regime": "real_vs_real", "temperature": 1.0, "seed": seed, "generation": i,
                     "synthetic_share": 0.0, "docs": len(batch), **out, "diversity": diversity_verdict(diversity)})
    return rows


def diversity_verdict(result: Any) -> dict[str, Any]:
    """Whether the diversity gate passed, and each failing rule with its value / threshold."""
    return {"passed": result.passed, "failed": [
        {"rule": f"{d['metric']}@{d['against']}", "value": d["value"], "threshold": d["threshold"]}
        for d in result.failures]}
