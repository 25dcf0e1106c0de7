"""The fidelity rules: the batch's per-record perplexity distribution against the real data's, two-sided,
with a bound calibrated on real-vs-real draws; and rare-type recall against real.

Perplexity rule. x = the batch's per-record log-perplexities, y = those of held-out real records (the
reference model never saw them), Δ = median(x) − median(y). Collapse moves Δ *up* under unbiased sampling
(error accumulation: too far from real text) and *down* under T < 1 (over-typical text), so the rule is
two-sided: it fails when |Δ| > bound(n, m) = max(c · √(1/n + 1/m), log(tolerance)). c is the (1 − α)
quantile of |Δ_AB| / √(1/|A| + 1/|B|) over ``draws`` random splits of the real records into halves A, B: the
noise bound at the batch's own sizes, so a real batch fails with probability ≤ α (the measured share of the
calibration draws beyond the bound is kept as ``false_alarm_rate``). ``tolerance`` (a perplexity ratio) is
the effect size that matters, so a huge batch is not failed for a negligible shift.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

TOO_TYPICAL, TOO_FAR = "too_typical", "too_far"
PASS, FAIL, NOT_COMPUTED = "pass", "fail", "not_computed"


@dataclass(frozen=True)
class Calibration:
    """c and the evidence behind it: real records, draws, α, and the measured false-alarm rate."""

    scale: float
    alpha: float
    draws: int
    real_records: int
    null_z: tuple[float, ...] = ()

    def false_alarm_rate(self, tolerance: float = 1.0) -> float:
        """Share of the real-vs-real draws (halves of the pool) the rule would fail."""
        half = self.real_records // 2
        bound = max(self.scale, math.log(tolerance) / math.sqrt(1 / half + 1 / (self.real_records - half)))
        return float(np.mean(np.abs(self.null_z) > bound)) if self.null_z else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "null_z"}


def calibrate(real_scores: np.ndarray, alpha: float = 0.05, draws: int = 200, seed: int = 0) -> Calibration:
    """c = the (1 − α) quantile of |median(A) − median(B)| / √(1/|A| + 1/|B|) over random halves A, B."""
    y = _finite(real_scores)
    if len(y) < 4:
        raise ValueError(f"calibration needs at least 4 real records, got {len(y)}")
    rng = np.random.default_rng(seed)
    half = len(y) // 2
    z = np.empty(draws)
    for i in range(draws):
        order = rng.permutation(len(y))
        a, b = y[order[:half]], y[order[half:]]
        z[i] = (np.median(a) - np.median(b)) / math.sqrt(1 / len(a) + 1 / len(b))
    return Calibration(float(np.quantile(np.abs(z), 1 - alpha)), alpha, draws, len(y), tuple(float(v) for v in z))


def shift_bound(calibration: Calibration, n: int, m: int, tolerance: float) -> float:
    """max(c · √(1/n + 1/m), log tolerance): the largest |Δ median log-perplexity| that passes."""
    return max(calibration.scale * math.sqrt(1 / n + 1 / m), math.log(tolerance))


def perplexity_decision(batch_scores: np.ndarray, real_scores: np.ndarray, calibration: Calibration,
                        tolerance: float = 1.25, min_records: int = 20) -> dict[str, Any]:
    """The two-sided rule's decision; ``side`` says which way a failing batch went."""
    x, y = _finite(batch_scores), _finite(real_scores)
    base = _base(tolerance)
    if len(x) < min_records:
        return not_computed(tolerance, f"{len(x)} scored records; the perplexity rule needs at least {min_records}")
    delta, bound = float(np.median(x) - np.median(y)), shift_bound(calibration, len(x), len(y), tolerance)
    value, reference = math.exp(np.median(x)), math.exp(np.median(y))
    side = None if abs(delta) <= bound else (TOO_FAR if delta > 0 else TOO_TYPICAL)
    details = {"delta_log": delta, "bound_log": bound, "low": reference * math.exp(-bound),
               "high": reference * math.exp(bound), "records": len(x), "real_records": len(y),
               "quantiles": quantile_table(x, y), "calibration": calibration.to_dict(),
               "false_alarm_rate": calibration.false_alarm_rate(tolerance)}
    threshold = details["low"] if side == TOO_TYPICAL else details["high"]
    reason = None if side is None else (
        f"perplexity_shift: median per-record perplexity {value:.4g} {'<' if delta < 0 else '>'} "
        f"{threshold:.4g} ({value / reference:.2f}× real's {reference:.4g}; {side.replace('_', ' ')})")
    return {**base, "value": value, "threshold": threshold, "reference": reference, "ratio": value / reference,
            "passed": side is None, "status": PASS if side is None else FAIL, "side": side, "details": details,
            "reason": reason}


def _base(tolerance: float) -> dict[str, Any]:
    return {"metric": "perplexity_shift", "against": "real", "gate": "fidelity", "factor": tolerance,
            "rule": f"median per-record perplexity within ÷/× max({tolerance:g}, calibrated noise) of real's"}


def not_computed(tolerance: float, reason: str) -> dict[str, Any]:
    return {**_base(tolerance), "value": None, "threshold": None, "reference": None, "ratio": None, "passed": None,
            "status": NOT_COMPUTED, "side": None, "details": {}, "reason": reason}


def quantile_table(x: np.ndarray, y: np.ndarray, qs: tuple[float, ...] = (0.1, 0.5, 0.9)) -> dict[str, Any]:
    """Per-record perplexity at each quantile, batch and real."""
    return {f"p{int(q * 100):02d}": {"value": math.exp(np.quantile(x, q)), "reference": math.exp(np.quantile(y, q))}
            for q in qs}


def rare_decision(row: Any, ratio_min: float) -> dict[str, Any]:
    """Rare-type recall ≥ ``ratio_min`` × real's at an equal word budget (a diversity ``Comparison`` row)."""
    base = {"metric": "rare_type_recall", "against": "real", "gate": "fidelity", "factor": ratio_min,
            "rule": f">= {ratio_min:g}× real", "value": row.value, "reference": row.reference,
            "ratio": row.ratio, "details": row.details}
    if row.value is None or row.reference is None:
        return {**base, "threshold": None, "passed": None, "status": NOT_COMPUTED, "side": None,
                "reason": row.reason or "rare-type recall not computed"}
    threshold = ratio_min * row.reference
    ok = row.value >= threshold
    reason = None if ok else (f"rare_type_recall {row.value:.4g} < threshold {threshold:.4g} (>= {ratio_min:g}× "
                              f"real, {row.ratio:.2f}× real; too typical: the real data's tail is missing)")
    return {**base, "threshold": threshold, "passed": ok, "status": PASS if ok else FAIL,
            "side": None if ok else TOO_TYPICAL, "reason": reason}


def _finite(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return v[np.isfinite(v)]
