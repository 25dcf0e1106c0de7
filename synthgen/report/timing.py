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
    """The pilot's forecast (``synthgen plan --out``) beside what the run needed."""
    fc = report.get("forecast")
    if not fc:
        return []
    predicted, outcome = fc["predicted"], fc["outcome"]
    low, high = predicted["candidates_interval"]
    acc_lo, acc_hi = predicted["acceptance_interval"]
    return ["", "## Forecast vs outcome", "", "| | forecast (pilot) | outcome |", "|---|---:|---:|",
            f"| candidates to reach the target | {predicted['candidates_needed']} ({low}-{high}) "
            f"| {outcome.get('candidates_to_target', 'not reached')} |",
            f"| acceptance rate | {acc_lo:.1%}-{acc_hi:.1%} | {_pct(outcome.get('acceptance_rate'))} |",
            f"| generation seconds | {predicted['generation_seconds']} | {report['timings']['generate_seconds']} |",
            "", f"Within the interval: {fc['within_interval']}; error of the point forecast: "
            + ("n/a" if fc["error"] is None else f"{fc['error']:+.1%}")]


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"
