"""Build the run report from the runner's state: funnel, stop reason, timings and throughput."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from ..formats import record_text
from .model import RunReport, StageReport, Throughput, Timings
from ..fidelity.report import fidelity_markdown
from .sections import diversity_section, gate_section, mix_section, sandbox_section, structured_section
from .timing import forecast_section, resume_note, timing_section

NOT_RECORDED = "not recorded (an older report.json)"
UNRECORDED_COUNT = "an unrecorded number of candidates (an older report.json)"
TARGET_STAGE, OVER_TARGET = "target", "over_target"  # the rejects' stage and reason for records over the target
# (finalize writes them; defined here because finalize imports the report, not the other way round)


def build_report(*, name: str, recipe_hash: str, target: int, budget: int, stop_reason: str,
                 counters: dict[str, Any], stages: list[dict[str, Any]], n_kept: int, n_rejected: int,
                 rejected_rows: list[dict[str, Any]], wall_seconds: float, resumed_batches: int) -> RunReport:
    """The run's report. ``funnel`` starts at generated candidates and ends at the dataset."""
    gen_s = counters.get("generate_seconds", 0.0) or 0.0
    candidates = counters.get("candidates", 0)
    tokens = None if counters.get("tokens_unknown") else counters.get("completion_tokens", 0)
    made = candidate_records(n_kept, n_rejected, stages)
    reasons = _top_reasons(rejected_rows)
    accepted = n_kept + over_target_records(reasons)  # cut over the target, they passed every stage
    throughput = Throughput(
        requests=counters.get("next_request", 0), candidates=candidates, batches=counters.get("batches", 0),
        prompt_tokens=counters.get("prompt_tokens", 0), completion_tokens=tokens,
        samples_per_s=round(candidates / gen_s, 3) if gen_s else None,
        tokens_per_s=round(tokens / gen_s, 3) if gen_s and tokens is not None else None)
    return RunReport(
        name=name, recipe_hash=recipe_hash, status="complete" if stop_reason == "target_reached" else "incomplete",
        stop_reason=stop_reason, target=target, max_candidates=budget, kept=n_kept, rejected=n_rejected,
        funnel=_funnel(candidates, stages, n_kept), stages=[StageReport.from_dict(s) for s in stages],
        top_reasons=reasons, acceptance_rate=round(accepted / made, 4) if made else None, candidate_records=made,
        timings=Timings(round(wall_seconds, 3), round(gen_s, 3), process_resumed_after=resumed_batches or None),
        throughput=throughput,
        resumed_batches=resumed_batches)


def candidate_records(n_kept: int, n_rejected: int, stages: list[dict[str, Any]]) -> int:
    """Every candidate record the run made: the first step's candidates plus the children fan-out steps
    created (``n = 3`` responses per instruction). Each ends kept, rejected (with a reason) or merged into
    another record (a preference pair's rejected response), so this counts them where they ended; adding
    every step's ``created`` to the first-step candidates would count the first step's children twice."""
    return n_kept + n_rejected + merged_records(stages)


def merged_records(stages: list[dict[str, Any]]) -> int:
    """Records merged into another record (a preference pair holds its rejected response)."""
    return sum(int(s.get("merged", 0) or 0) for s in stages)


def over_target_records(top_reasons: dict[str, dict[str, int]]) -> int:
    """Records that passed every stage and were cut only because the target was already reached."""
    return int((top_reasons.get(TARGET_STAGE) or {}).get(OVER_TARGET, 0))


def acceptance_phrase(rate: float | None, made: int | None, kept: int | None = None, over_target: int = 0) -> str:
    """The acceptance rate with what it counts, for report.md, report.html and the dataset card. Records
    cut over the target passed every stage, so they count as accepted (as in the forecast's outcome)."""
    if rate is None:
        return "n/a"
    if made is None or kept is None:
        return f"{rate:.1%}"
    cut = f"; {over_target} of them cut over the target" if over_target else ""
    return f"{rate:.1%} ({kept + over_target} of {made} candidate records passed every stage{cut})"


def candidates_phrase(first_step: int | None, made: int | None, merged: int = 0) -> str:
    """What "rejected: R of N" counts against: every candidate record (fan-out children included), since
    rejects include children; an older report without ``candidate_records`` falls back to first-step ones,
    and one without either says so. The console's end-of-run line uses the same words, so the two agree."""
    if made is None and first_step is None:
        return NOT_RECORDED
    if first_step is None:
        return f"{made} candidate records"
    if made is None or (made == first_step and not merged):
        return f"{first_step} candidates"
    children = made - (first_step or 0)
    parts = [f"{first_step} first-step candidates + {children} fan-out children"] if children > 0 else []
    parts += [f"{merged} merged into preference pairs"] if merged else []
    return f"{made} candidate records" + (f" ({'; '.join(parts)})" if parts else "")


def rejected_phrase(report: dict[str, Any]) -> str:
    """``8 of 16 candidate records (4 first-step candidates + 12 fan-out children; …)`` for a report.json
    document: the header's "rejected" figure."""
    made = _made_phrase(report)
    return f"{report.get('rejected')} of {UNRECORDED_COUNT if made == NOT_RECORDED else made}"


def tokens_phrase(tokens: int | None) -> str:
    """``123 tokens``, or what is known when the backend sent no token counts (a server without usage)."""
    return f"{tokens} tokens" if tokens is not None else "unknown tokens (the server sent no usage counts)"


def generation_phrase(report: dict[str, Any]) -> str:
    """The header's generation figures of a report.json document: ``1230 tokens in 33.0 s (37.2 tokens/s,
    1.24 samples/s)``; what an older report did not record says so."""
    t, timings = report.get("throughput"), report.get("timings")
    if t is None:
        return NOT_RECORDED
    seconds = f"{timings.get('generate_seconds')} s" if timings is not None else f"a time {NOT_RECORDED}"
    tokens = t.get("completion_tokens")
    per_s = _or_na(t.get("tokens_per_s")) if tokens is not None else "unknown"
    return f"{tokens_phrase(tokens)} in {seconds} ({per_s} tokens/s, {_or_na(t.get('samples_per_s'))} samples/s)"


def status_phrase(report: dict[str, Any]) -> str:
    """``complete (target_reached): 12 / 12 records, 16 candidates of a budget of 64``."""
    candidates = (report.get("throughput") or {}).get("candidates")
    made = f"{candidates} candidates" if candidates is not None else UNRECORDED_COUNT
    return (f"**{report.get('status')}** ({report.get('stop_reason')}): {report.get('kept')} / {report.get('target')} "
            f"records, {made} of a budget of {report.get('max_candidates')}")


def summary_counts(report: RunReport) -> str:
    """The console's end-of-run counts, in the words of the report's header (so the two agree):
    ``4 records (target_reached), 8 rejected of 16 candidate records (…)``."""
    return f"{report.kept} records ({report.stop_reason}), {report.rejected} rejected of {_made_phrase(report.to_dict())}"


def _made_phrase(report: dict[str, Any]) -> str:
    first = (report.get("throughput") or {}).get("candidates")
    return candidates_phrase(first, report.get("candidate_records"), merged_records(report.get("stages") or []))


def acceptance_line(report: dict[str, Any]) -> str:
    """The header's acceptance rate of a report.json document, with what it counts."""
    return acceptance_phrase(report.get("acceptance_rate"), report.get("candidate_records"), report.get("kept"),
                             over_target_records(report.get("top_reasons") or {}))


def _funnel(candidates: int, stages: list[dict[str, Any]], n_kept: int) -> list[dict[str, Any]]:
    funnel = [{"step": "generated", "count": candidates}]
    funnel += [{"step": s["stage"], "count": s["kept"], "dropped": s["dropped"]} for s in stages]
    funnel.append({"step": "dataset", "count": n_kept})
    return funnel


def _top_reasons(rejected_rows: list[dict[str, Any]], k: int = 5) -> dict[str, dict[str, int]]:
    by_stage: dict[str, Counter] = {}
    for row in rejected_rows:
        by_stage.setdefault(row["stage"], Counter())[row["reason"]] += 1
    return {stage: dict(counts.most_common(k)) for stage, counts in by_stage.items()}


def render_markdown(report: RunReport, samples: list[dict[str, Any]] | None = None,
                    rejects: list[dict[str, Any]] | None = None) -> str:
    """``report.md``: the same facts as report.json, laid out for people."""
    data = report.to_dict()
    lines = [f"# synthgen run: {report.name}", "", f"- status: {status_phrase(data)}",
             f"- rejected: {rejected_phrase(data)}", f"- recipe hash: `{report.recipe_hash}`",
             f"- acceptance rate: {acceptance_line(data)}", f"- generation: {generation_phrase(data)}"]
    if (resumed := resume_note(data)) is not None:
        lines.append(f"- resumed: {resumed}")
    if report.output:
        lines.append(f"- dataset format: `{report.output.get('format')}`")
    lines += ["", "## Funnel", "", "| step | kept | dropped | top reasons |", "|---|---:|---:|---|"]
    for step in report.funnel:
        reasons = ", ".join(f"{r} ({n})" for r, n in report.top_reasons.get(step["step"], {}).items())
        lines.append(f"| {step['step']} | {step['count']} | {step.get('dropped', '')} | {reasons} |")
    if "target" in report.top_reasons and report.stage("target") is None:
        extra = ", ".join(f"{r} ({n})" for r, n in report.top_reasons["target"].items())
        lines.append(f"\nOver the target (kept in rejected.parquet): {extra}")
    lines += gate_section(report) + diversity_section(report) + fidelity_markdown(data) + mix_section(report)
    lines += structured_section(report) + sandbox_section(report)
    lines += timing_section(data) + forecast_section(data)
    lines += _sample_section("Samples kept", samples, "text")
    lines += _sample_section("Samples rejected", rejects, "reason")
    return "\n".join(lines) + "\n"


def _sample_section(title: str, rows: list[dict[str, Any]] | None, key: str) -> list[str]:
    if not rows:
        return []
    out = ["", f"## {title}", ""]
    for row in rows:
        text = visible_controls(" ".join(record_text(row).split())[:200])
        prefix = f"[{row['stage']}: {row['reason']}] " if key == "reason" else ""
        out.append(f"- {prefix}{text}")
    return out


def visible_controls(text: str) -> str:
    """Control characters as ``\\xNN`` escapes: model text holding a NUL made ``grep`` call report.md binary,
    and an escape sequence would drive the terminal that prints the file."""
    return CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _or_na(value: Any) -> str:
    return "n/a" if value is None else str(value)
