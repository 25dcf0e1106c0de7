"""``synthgen plan``'s text output: the pilot's measurements, then the forecast."""

from __future__ import annotations

from typing import Any


def render_plan(result: dict[str, Any]) -> str:
    pilot, fc = result["pilot"], result["forecast"]
    tps = pilot["tokens_per_s"]
    lines = [f"pilot: {pilot['requests']} prompts -> {pilot['candidates']} candidates, {pilot['kept']} kept "
             f"({pilot['acceptance_rate']:.1%}) in {pilot['wall_seconds']} s",
             f"  backend: {'n/a' if tps is None else f'{tps:.1f}'} tokens/s, "
             f"{pilot['backend_seconds_per_candidate'] * 1000:.1f} ms/candidate; stages "
             f"{pilot['stage_seconds_per_candidate'] * 1000:.1f} ms/candidate",
             f"  duplicate rate: {pilot['duplicate_rate']:.1%}", "  stages:"]
    for stage in pilot["stages"]:
        share = "-" if stage["acceptance"] is None else f"{stage['acceptance']:.1%}"
        reasons = ", ".join(f"{k} {v}" for k, v in stage["reasons"].items())
        lines.append(f"    {stage['stage']:<22} {stage['kept']:>5}/{stage['seen']:<5} kept {share:>6}  {reasons}")
    gate = pilot.get("gate")
    if gate:
        verdict = ("passes" if gate["passed"] else "FAILS (the run revokes its first window: +1 window)")\
            if gate["checked"] else f"not checked: {gate['why']}"
        lines.append(f"  diversity gate on the pilot's records: {verdict}")
    lines += _forecast_lines(fc)
    if result.get("saved"):
        lines.append(f"saved: {result['saved']} (the run's report compares it with the outcome)")
    return "\n".join(lines)


def _forecast_lines(fc: dict[str, Any]) -> list[str]:
    low, high = fc["candidates_interval"]
    acc_lo, acc_hi = fc["acceptance_interval"]
    if fc["candidates_needed"] is None:
        return [f"forecast: nothing was kept in the pilot: target {fc['target']} looks unreachable "
                f"(acceptance below {acc_hi:.1%} at 95%)"]
    extra = f" (+{fc['revoked_window']} for the window the gate revokes)" if fc.get("revoked_window") else ""
    return [f"forecast for target {fc['target']}{extra}:",
            f"  candidates needed: {fc['candidates_needed']} (95%: {low}-{high if high else 'inf'}; "
            f"acceptance {acc_lo:.1%}-{acc_hi:.1%})",
            f"  time: generation {fc['generation_seconds']} s; whole run ~{fc['sequential_seconds']} s sequential, "
            f"~{fc['pipelined_seconds']} s pipelined",
            f"  max_candidates {fc['max_candidates']}: {fc['budget_enough']} enough "
            f"(P = {fc['budget_enough_probability']:.0%})"]
