"""``synthgen plan``'s text output: the pilot's measurements, then the forecast.

Candidates are first-step completions (the unit of ``max_candidates``); where a later step fans out, one
candidate becomes several records, so the pilot line names both, and acceptance is always kept ÷ records.
"""

from __future__ import annotations

from typing import Any


def render_plan(result: dict[str, Any]) -> str:
    pilot, fc = result["pilot"], result["forecast"]
    tps = pilot["tokens_per_s"]
    lines = [_pilot_line(pilot),
             f"  backend: {'n/a' if tps is None else f'{tps:.1f}'} tokens/s, "
             f"{pilot['backend_seconds_per_candidate'] * 1000:.1f} ms/candidate; stages "
             f"{pilot['stage_seconds_per_candidate'] * 1000:.1f} ms/candidate",
             f"  duplicate rate: {pilot['duplicate_rate']:.1%} of records", "  stages:"]
    lines += [_stage_line(stage) for stage in pilot["stages"]]
    gate = pilot.get("gate")
    if gate:
        lines.append(f"  quality gate (diversity and fidelity) on the pilot's records: {_gate_verdict(gate)}")
    lines += _forecast_lines(fc)
    if result.get("saved"):
        lines.append(f"saved: {result['saved']} (the run's report compares it with the outcome)")
    return "\n".join(lines)


def _pilot_line(pilot: dict[str, Any]) -> str:
    made = pilot.get("records", pilot["candidates"])
    if made == pilot["candidates"] and pilot.get("fan_out", 1) == 1:
        return (f"pilot: {pilot['requests']} prompts -> {pilot['candidates']} candidates, {pilot['kept']} kept "
                f"({pilot['acceptance_rate']:.1%}) in {pilot['wall_seconds']} s")
    return (f"pilot: {pilot['requests']} prompts -> {pilot['candidates']} first-step candidates -> {made} records, "
            f"{pilot['kept']} kept ({pilot['acceptance_rate']:.1%} of records, "
            f"{pilot['yield_per_candidate']:.2f} per candidate) in {pilot['wall_seconds']} s")


def _stage_line(stage: dict[str, Any]) -> str:
    share = "-" if stage["acceptance"] is None else f"{stage['acceptance']:.1%}"
    reasons = ", ".join(f"{k} {v}" for k, v in stage["reasons"].items())
    made = stage.get("made", stage["seen"])
    came = f"  (from {stage['seen']} records)" if made != stage["seen"] else ""
    return f"    {stage['stage']:<22} {stage['kept']:>5}/{made:<5} kept {share:>6}  {reasons}{came}".rstrip()


def _gate_verdict(gate: dict[str, Any]) -> str:
    if not gate["checked"]:
        return f"not checked: {gate['why']}"
    if gate["passed"]:
        return "passes"
    if not gate.get("retry", True):
        return f"FAILS, and the remediation budget is spent: the run stops at its first window ({gate['summary']})"
    return f"FAILS (the run revokes its first window: +1 window): {gate['summary']}"


def _forecast_lines(fc: dict[str, Any]) -> list[str]:
    low, high = fc["candidates_interval"]
    if fc["candidates_needed"] is None:
        return [f"forecast: nothing was kept in the pilot: target {fc['target']} looks unreachable "
                f"({_rate_phrase(fc, upper_only=True)} at 95%)"]
    return [_forecast_header(fc),
            f"  candidates needed: {fc['candidates_needed']} (95%: {low}-{high if high else 'inf'}; "
            f"{_rate_phrase(fc)})",
            f"  time: generation {fc['generation_seconds']} s; whole run ~{fc['sequential_seconds']} s sequential, "
            f"~{fc['pipelined_seconds']} s pipelined",
            _budget_line(fc)]


def _forecast_header(fc: dict[str, Any]) -> str:
    collect = fc.get("collect", fc["target"])
    pool = (f" (the run collects {collect} records, for diverse selection or the quality gate's smallest "
            f"window, and keeps {fc['target']}: the forecast is for the {collect})"
            if collect != fc["target"] else "")
    extra = f" (+{fc['revoked_window']} for the window the gate revokes)" if fc.get("revoked_window") else ""
    return f"forecast for target {fc['target']}{pool}{extra}:"


def _rate_phrase(fc: dict[str, Any], upper_only: bool = False) -> str:
    """Acceptance as a share when one candidate makes one record; records per candidate when it fans out."""
    lo, hi = fc.get("yield_interval") or fc["acceptance_interval"]
    if fc.get("fan_out", 1) == 1:
        return f"acceptance below {hi:.1%}" if upper_only else f"acceptance {lo:.1%}-{hi:.1%}"
    unit = f"records kept per candidate (a candidate makes up to {fc['fan_out']})"
    return f"below {hi:.2f} {unit}" if upper_only else f"{lo:.2f}-{hi:.2f} {unit}"


def _budget_line(fc: dict[str, Any]) -> str:
    if fc.get("gate_stops_run"):
        return (f"  max_candidates {fc['max_candidates']}: not reached: the gate fails the first window and "
                "may not retry (raise diversity.remediation.budget, or fix what fails)")
    capacity = fc.get("capacity")
    source = (f" (the replay file can answer {capacity} candidates: {fc['usable_candidates']} usable)"
              if capacity is not None and capacity < fc["max_candidates"] else "")
    return (f"  max_candidates {fc['max_candidates']}{source}: {fc['budget_enough']} enough "
            f"(P = {fc['budget_enough_probability']:.0%})")
