"""report.md sections on speed: where the time went (per stage, backend vs stage) and forecast vs outcome."""

from __future__ import annotations

from typing import Any


def timing_section(report: dict[str, Any]) -> list[str]:
    """Per stage: its wall seconds, the part spent waiting on the backend, the backend's own working time
    (with read-ahead it overlaps other stages, so it can exceed the wait) and the stage's own time."""
    stages = report.get("stages") or []
    if not stages:
        return []
    t = report["throughput"]
    mode = "pipelined (read-ahead %s batch)" % t.get("prefetch") if t.get("pipelined") else "sequential"
    if t.get("sequential_because"):
        mode += f": {t['sequential_because']}"
    lines = ["", "## Time per stage", "", f"Runner: {mode}; wall {report['timings']['wall_seconds']} s"
             + (f", backend busy {t['backend_busy_seconds']} s" if "backend_busy_seconds" in t else "")
             + (f", {t['records_per_s']} records/s, {t['candidates_per_s']} candidates/s" if "records_per_s" in t else ""),
             "", "| stage | seconds | waiting on backend | backend working | own |", "|---|---:|---:|---:|---:|"]
    timings = report["timings"]
    if "backend_seconds" in timings:
        lines.append(f"| backend (every LLM call) | | {timings['generate_seconds']:.2f} "
                     f"| {timings['backend_seconds']:.2f} | |")
    for s in stages:
        wait, work = s.get("llm_seconds", 0.0), s.get("backend_seconds", 0.0)
        own = max(s.get("seconds", 0.0) - wait, 0.0)
        lines.append(f"| {s['stage']} | {s.get('seconds', 0.0):.2f} | {wait:.2f} | {work:.2f} | {own:.2f} |")
    return lines


def forecast_section(report: dict[str, Any]) -> list[str]:
    """The pilot's forecast (``synthgen plan --out``) beside what the run needed: both count candidates
    until the same record (the last one collected, or the target's), and both rates are records kept
    per first-step candidate (the acceptance rate when a candidate makes one record)."""
    fc = report.get("forecast")
    if not fc:
        return []
    predicted, outcome = fc["predicted"], fc["outcome"]
    collect = predicted.get("collect", predicted["target"])
    what = "target" if collect == predicted["target"] else \
        f"{collect} records collected (for target {predicted['target']}: a selection pool or the gate's window)"
    rate_label, rate_cell, outcome_rate = _rate_cells(predicted, outcome)
    return ["", "## Forecast vs outcome", "", "| | forecast (pilot) | outcome |", "|---|---:|---:|",
            f"| candidates to reach the {what} | {_candidates_cell(predicted)} "
            f"| {outcome.get('candidates_to_target', 'not reached')} |",
            f"| {rate_label} | {rate_cell} | {outcome_rate} |",
            f"| generation seconds | {_or_na(predicted.get('generation_seconds'))} "
            f"| {report['timings']['generate_seconds']} |",
            "", f"Within the interval: {_or_na(fc['within_interval'])}; error of the point forecast: "
            + ("n/a" if fc["error"] is None else f"{fc['error']:+.1%}")]


def _candidates_cell(predicted: dict[str, Any]) -> str:
    """``46 (35-66)``; ``unreachable (≥31)`` when the pilot kept nothing; an open end is ``∞``."""
    low, high = predicted["candidates_interval"]
    if predicted.get("candidates_needed") is None:
        return f"unreachable (≥{low})" if low else "unreachable"
    return f"{predicted['candidates_needed']} ({_or_na(low)}-{'∞' if high is None else high})"


def _rate_cells(predicted: dict[str, Any], outcome: dict[str, Any]) -> tuple[str, str, str]:
    """The same rate on both sides: kept ÷ first-step candidates, as a share or (fan-out) records per candidate."""
    low, high = predicted.get("yield_interval") or predicted["acceptance_interval"]
    value = outcome.get("yield_per_candidate", outcome.get("acceptance_rate"))
    if predicted.get("fan_out", 1) == 1:
        return "acceptance rate (kept ÷ candidates)", f"{low:.1%}-{high:.1%}", _pct(value)
    return ("records kept per first-step candidate", f"{low:.2f}-{high:.2f}",
            "n/a" if value is None else f"{value:.2f}")


def _or_na(value: Any) -> str:
    return "n/a" if value is None else str(value)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"
