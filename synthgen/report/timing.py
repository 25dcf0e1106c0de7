"""Report sections on speed: where the time went (per stage, backend vs stage) and forecast vs outcome.

Each section is computed once, as a :class:`Section` of plain text (a title, notes, a table, a footer);
:func:`markdown` lays it out for report.md and ``synthgen.report.html`` for report.html, so the two files
always show the same figures.

A resumed run's figures come from two places: the per-stage seconds, tokens and counts are checkpointed
and add up every process, while the wall time and what the read-ahead thread measured belong to the last
process. The sections say so (:func:`resume_note`, the runner line).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STAGE_HEADER = ["stage", "seconds", "waiting on backend", "backend working", "own"]
WHOLE_RUN = "counts, tokens, generation seconds and the per-stage times add up every process"


@dataclass
class Section:
    """A titled table with notes before it and after it; cells and notes are plain text."""

    title: str
    header: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    footer: list[str] = field(default_factory=list)
    numeric: tuple[int, ...] = ()  # right-aligned columns


def markdown(section: Section | None) -> list[str]:
    """``section`` as report.md lines (none for no section)."""
    if section is None:
        return []
    lines = ["", f"## {section.title}", ""] + [line for note in section.notes for line in (note, "")]
    lines += [_md_row(section.header), "|" + "|".join("---:" if i in section.numeric else "---"
                                                      for i in range(len(section.header))) + "|"]
    return lines + [_md_row(row) for row in section.rows] + [line for note in section.footer for line in ("", note)]


def _md_row(cells: list[str]) -> str:
    return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"


def timing_section(report: dict[str, Any]) -> list[str]:
    return markdown(timing_data(report))


def forecast_section(report: dict[str, Any]) -> list[str]:
    return markdown(forecast_data(report))


def timing_data(report: dict[str, Any]) -> Section | None:
    """Per stage: its wall seconds, the part spent waiting on the backend (for another thread's call too),
    the backend's own working time on the stage's calls (with read-ahead it overlaps other stages, so it can
    exceed the wait) and the stage's own time."""
    stages, timings = report.get("stages") or [], report.get("timings")
    if not stages or timings is None:
        return None
    rows = [["backend (every LLM call)", "", f"{timings.get('generate_seconds', 0.0):.2f}",
             f"{timings['backend_seconds']:.2f}", ""]] if "backend_seconds" in timings else []
    rows += [_stage_row(s) for s in stages]
    notes = [runner_line(report)]
    if timings.get("process_resumed_after"):
        notes.append("The table adds up every process, the ones before the resume included.")
    return Section("Time per stage", STAGE_HEADER, rows, notes, numeric=(1, 2, 3, 4))


def _stage_row(s: dict[str, Any]) -> list[str]:
    wait, work, seconds = s.get("llm_seconds", 0.0), s.get("backend_seconds", 0.0), s.get("seconds", 0.0)
    return [str(s["stage"]), f"{seconds:.2f}", f"{wait:.2f}", f"{work:.2f}", f"{max(seconds - wait, 0.0):.2f}"]


def runner_line(report: dict[str, Any]) -> str:
    """``Runner: pipelined (read-ahead 1 batch); wall 3.3 s, …; backend busy 0.9 s on …``: what ran and
    what it measured, each figure with what it covers."""
    t, timings = report.get("throughput") or {}, report.get("timings") or {}
    mode = "pipelined (read-ahead %s batch)" % t.get("prefetch") if t.get("pipelined") else "sequential"
    if t.get("sequential_because"):
        mode += f": {t['sequential_because']}"
    resumed = timings.get("process_resumed_after")
    scope = f"the last process only (it resumed the run after {batches_phrase(resumed)}): " if resumed else ""
    line = f"Runner: {mode}; {scope}wall {timings.get('wall_seconds')} s"
    if "records_per_s" in t:
        line += f", {t['records_per_s']} records/s, {t['candidates_per_s']} candidates/s"
    if "backend_busy_seconds" in t:
        step = f" ({t['read_ahead_step']})" if t.get("read_ahead_step") else ""
        line += (f"; backend busy {t['backend_busy_seconds']} s on the calls of the read-ahead step{step}, "
                 "used or discarded (every LLM call: the backend row)")
    return line


def resume_note(report: dict[str, Any]) -> str | None:
    """How the run was resumed and what that means for its figures; None for a run made in one go."""
    restored = report.get("resumed_batches") or 0
    if not restored:
        return None
    batches = (report.get("throughput") or {}).get("batches")
    if batches is not None and restored >= batches:
        return (f"all {batches_phrase(restored)} were restored: the run had already finished, so nothing was "
                "generated again")
    return (f"the last process continued the run after {batches_phrase(restored)} (an earlier process stopped): "
            f"the wall time, backend busy and rates cover the last process only; {WHOLE_RUN}")


def batches_phrase(n: int) -> str:
    return f"{n} checkpointed batch" + ("" if n == 1 else "es")


def forecast_data(report: dict[str, Any]) -> Section | None:
    """The pilot's forecast (``synthgen plan --out``) beside what the run needed: both count candidates
    until the same record (the last one collected, or the target's), and both rates are records kept
    per first-step candidate (the acceptance rate when a candidate makes one record)."""
    fc = report.get("forecast")
    if not fc:
        return None
    predicted, outcome = fc["predicted"], fc["outcome"]
    collect = predicted.get("collect", predicted["target"])
    what = "target" if collect == predicted["target"] else \
        f"{collect} records collected (for target {predicted['target']}: a selection pool or the gate's window)"
    rate_label, rate_cell, outcome_rate = _rate_cells(predicted, outcome)
    rows = [[f"candidates to reach the {what}", _candidates_cell(predicted),
             str(outcome.get("candidates_to_target", "not reached"))],
            [rate_label, rate_cell, outcome_rate],
            ["generation seconds", _or_na(predicted.get("generation_seconds")),
             _or_na((report.get("timings") or {}).get("generate_seconds"))]]
    footer = [f"Within the interval: {_or_na(fc['within_interval'])}; error of the point forecast: "
              + ("n/a" if fc["error"] is None else f"{fc['error']:+.1%}")]
    return Section("Forecast vs outcome", ["", "forecast (pilot)", "outcome"], rows, footer=footer, numeric=(1, 2))


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
