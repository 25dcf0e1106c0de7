"""``report.html``: one self-contained page (inline CSS, plots as base64 PNG) with the funnel, every gate
metric against its threshold, per-generation lines, and samples of kept and rejected records.

Every piece of run text goes through ``html.escape``; the page loads nothing from anywhere else.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from ..formats import dataset_text, record_text
from ..fidelity.report import fidelity_html
from ..mix.measured import describe_measurement
from . import plots
from .build import acceptance_line, generation_phrase, rejected_phrase, render_markdown
from .data import read_table, require_data_files, schema_names
from .facts import (decision_verdict, format_value, gate_checks_summary, gate_decisions, gate_failures,
                    generation_series, informational_metrics, verdict)
from .timing import Section, forecast_data, resume_note, timing_data

N_KEPT_SAMPLES, PER_REASON, MAX_REJECT_SAMPLES, TEXT_CHARS = 8, 3, 40, 600
N_MD_SAMPLES = 5  # report.md shows the first 5 of each

_CSS = """body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;width:100%}td,th{border:1px solid #ddd;padding:4px 8px;
text-align:left;vertical-align:top;font-size:14px}th{background:#f4f4f4}.num{text-align:right}
.pass{color:#2e7d32;font-weight:600}.fail{color:#c62828;font-weight:600}.na{color:#777}
.warn{background:#fff3e0;border-left:4px solid #ef6c00;padding:.5em 1em}img{max-width:100%}
.text{white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:13px}"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def write_html_report(run_dir: str | Path, report: Any) -> Path:
    """Write ``<run_dir>/report.html`` for ``report`` (a RunReport, or an evolve project's report document;
    samples are read from the run's parquet files)."""
    from ..rundir import RunDir

    run_dir = Path(run_dir)
    report = report.to_dict() if hasattr(report, "to_dict") else report
    kept, rejected = kept_samples(run_dir, main_field=_main_field(report)), rejected_samples(run_dir)
    RunDir(run_dir).write_text("report.html", render_html(report, kept, rejected, _manifest(run_dir)))
    return run_dir / "report.html"


def write_readable_reports(run_dir: str | Path, report: Any) -> Path:
    """Write ``report.md`` and ``report.html`` of a run's ``report`` (a RunReport), their samples read from
    the run's parquet files. ``synthgen generate`` and ``synthgen report`` both write them here, so a rebuild
    gives the same files. Returns the HTML path."""
    from ..rundir import RunDir

    run, data = RunDir(Path(run_dir)), report.to_dict()
    kept, rejected = kept_samples(run.path, main_field=_main_field(data)), rejected_samples(run.path)
    run.write_text("report.md", render_markdown(report, kept[:N_MD_SAMPLES], rejected[:N_MD_SAMPLES]))
    run.write_text("report.html", render_html(data, kept, rejected, _manifest(run.path)))
    return run.path / "report.html"


def rebuild_report(run_dir: str | Path) -> Path:
    """Rebuild ``report.md`` and ``report.html`` from ``report.json`` and the parquet files; returns the HTML path."""
    from ..rundir import RunDir

    from .model import report_from_json

    run = RunDir.open(run_dir)
    report = report_from_json(run.read_json(run.report_path), run.report_path)
    require_data_files(run.path)
    return write_readable_reports(run.path, report)


def _manifest(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def kept_samples(run_dir: Path, n: int = N_KEPT_SAMPLES, main_field: str | None = None) -> list[dict[str, Any]]:
    """The first ``n`` accepted records. A raw [[steps]] dataset has no ``text`` column: its rows get their
    ``main_field`` (the report's ``output.main_field``) as text, so the samples are not blank."""
    rows = _head(run_dir / "data.parquet", n)
    return [row if row.get("text") is not None else {**row, "text": dataset_text(row, main_field)} for row in rows]


def _main_field(report: dict[str, Any]) -> str | None:
    return (report.get("output") or {}).get("main_field")


def rejected_samples(run_dir: Path) -> list[dict[str, Any]]:
    """Up to ``PER_REASON`` rejects for every (stage, reason), so each reason shows."""
    rows = _head(run_dir / "rejected.parquet", None, ("stage", "reason", "score", "text"))
    seen: dict[tuple[Any, Any], int] = {}
    out = []
    for row in rows:
        key = (row.get("stage"), row.get("reason"))
        if seen.get(key, 0) < PER_REASON and len(out) < MAX_REJECT_SAMPLES:
            seen[key] = seen.get(key, 0) + 1
            out.append(row)
    return out


def _head(path: Path, n: int | None, columns: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    names = schema_names(path)
    table = read_table(path, [c for c in columns if c in names] if columns else None)
    return (table if n is None else table.slice(0, n)).to_pylist()


def render_html(report: dict[str, Any], kept: list[dict[str, Any]], rejected: list[dict[str, Any]],
                manifest: dict[str, Any] | None = None) -> str:
    """The whole page as a string."""
    parts = [_header(report, manifest or {}), _funnel(report), _gates(report), _diversity_info(report), _mix(report),
             _generations(report), _section(timing_data(report)), _section(forecast_data(report)),
             _samples_kept(kept), _samples_rejected(rejected)]
    parts.insert(3, fidelity_html(report))  # after the gates (synthgen.fidelity.report)
    title = esc(f"synthgen run: {report.get('name')}")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>"
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(p for p in parts if p) + "\n</body></html>\n")


def _img(png: str | None, alt: str) -> str:
    if png is None:
        return "<p class=\"na\">(plot not drawn: install matplotlib)</p>"
    return f"<img alt=\"{esc(alt)}\" src=\"data:image/png;base64,{png}\">"


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _header(report: dict[str, Any], manifest: dict[str, Any]) -> str:
    backend = manifest.get("backend") or {}
    items = [f"status: <b>{esc(report.get('status'))}</b> ({esc(report.get('stop_reason'))})",
             f"records: {esc(report.get('kept'))} of target {esc(report.get('target'))}; "
             f"rejected: {esc(rejected_phrase(report))}",
             f"acceptance rate: {esc(acceptance_line(report))}",
             f"recipe hash: <code>{esc(report.get('recipe_hash'))}</code>",
             f"model: {esc(backend.get('model', 'n/a'))} ({esc(backend.get('backend', 'unknown backend'))})",
             f"generation: {esc(generation_phrase(report))}"]
    items += [f"resumed: {esc(resumed)}"] if (resumed := resume_note(report)) is not None else []
    warn = "".join(f"<p class=\"warn\">Failed gate: {esc(f)}</p>" for f in gate_failures(report))
    return (f"<h1>{esc(report.get('name'))}</h1>{warn}<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>")


def _section(section: Section | None) -> str:
    """A report section computed once for report.md and report.html (synthgen.report.timing)."""
    if section is None:
        return ""
    rows = [[_num(cell) if i in section.numeric else esc(cell) for i, cell in enumerate(row)] for row in section.rows]
    notes = "".join(f"<p>{esc(note)}</p>" for note in section.notes)
    footer = "".join(f"<p>{esc(note)}</p>" for note in section.footer)
    return f"<h2>{esc(section.title)}</h2>{notes}" + _table(section.header, rows) + footer


def _funnel(report: dict[str, Any]) -> str:
    funnel, reasons = report.get("funnel") or [], report.get("top_reasons") or {}
    rows = [[esc(s.get("step")), _num(s.get("count")), _num(s.get("dropped", "")),
             esc(", ".join(f"{r} ({n})" for r, n in (reasons.get(s.get("step")) or {}).items()))] for s in funnel]
    steps = {s.get("step") for s in funnel}
    rows += [[esc(stage), "", _num(sum(c.values())), esc(", ".join(f"{r} ({n})" for r, n in c.items()))]
             for stage, c in reasons.items() if stage not in steps]
    return ("<h2>Funnel</h2>" + _img(plots.funnel_png(funnel), "funnel chart")
            + _table(["step", "kept", "dropped", "top reasons"], rows))


def _gates(report: dict[str, Any]) -> str:
    latest = gate_decisions(report, latest_only=True)
    if not latest:
        return "<h2>Gates</h2><p class=\"na\">No batch-level gate (diversity, mix cap) ran in this run.</p>"
    notes = "".join(f"<p>{esc(line)}.</p>" for line in gate_checks_summary(report))
    every = gate_decisions(report)
    history = (f"<details><summary>Every check ({len(every)} decisions)</summary>{_decision_table(every)}</details>"
               if len(every) > len(latest) else "")
    return ("<h2>Gates: each metric against its threshold</h2>" + _img(plots.gates_png(latest), "gate metrics")
            + notes + _decision_table(latest) + history)


def _decision_table(decisions: list[dict[str, Any]]) -> str:
    rows = [[esc(d["gate"]), esc(d.get("check") or ""), esc(d["metric"]), esc(d.get("against") or ""),
             _num(format_value(d["value"])), _num(format_value(d["threshold"])), esc(d.get("rule") or ""),
             _verdict(d["passed"], d), esc(d.get("reason") or "")] for d in decisions]
    return _table(["gate", "check", "metric", "against", "value", "threshold", "rule", "result", "note"], rows)


def _diversity_info(report: dict[str, Any]) -> str:
    """The final dataset's diversity metrics: measured against the reference, not gate decisions."""
    metrics = informational_metrics(report)
    if not metrics:
        return ""
    rows = [[esc(m["metric"]), _num(format_value(m.get("value"))), _num(format_value(m.get("reference"))),
             _num(format_value(m.get("ratio")))] for m in metrics]
    return ("<h2>Diversity of the dataset (informational, not a gate)</h2>"
            + _table(["metric", "value", "reference", "ratio"], rows))


def _mix(report: dict[str, Any]) -> str:
    mix = report.get("mix")
    if not isinstance(mix, dict):
        return ""
    items = [f"{esc(mix.get('n_real'))} real + {esc(mix.get('n_synthetic'))} synthetic rows: synthetic share "
             f"{esc(format_value(mix.get('synthetic_share')))}, cap {esc(format_value(mix.get('cap')))} "
             f"(default {esc(format_value(mix.get('default_cap')))}), strategy {esc(mix.get('strategy'))}",
             f"cap override reason: {esc(mix.get('override_reason') or 'none')}",
             "left out: " + esc(", ".join(f"{r} ({n})" for r, n in (mix.get("dropped") or {}).items()) or "none")]
    measured = describe_measurement(mix.get("measured"))
    items += [esc(measured)] if measured else []
    items += [f"warning: {esc(w)}" for w in mix.get("warnings") or []]
    return "<h2>Mix</h2><ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def _generations(report: dict[str, Any]) -> str:
    series = generation_series(report)
    if not series:
        return ""
    rows = [[esc(name), esc(", ".join(f"{format_value(x)}: {format_value(y)}" for x, y in points))]
            for name, points in series.items()]
    return ("<h2>Across generations</h2>" + _img(plots.generations_png(series), "per-generation metrics")
            + _table(["metric", "generation: value"], rows))


def _samples_kept(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<h2>Samples kept</h2><p class=\"na\">No records were kept.</p>"
    body = [[esc(r.get("id")), _text(record_text(r))] for r in rows]
    return "<h2>Samples kept</h2>" + _table(["id", "text"], body)


def _samples_rejected(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<h2>Samples rejected</h2><p class=\"na\">Nothing was rejected.</p>"
    body = [[esc(r.get("stage")), esc(r.get("reason")), _num(format_value(r.get("score"))), _text(r.get("text"))]
            for r in rows]
    return "<h2>Samples rejected, with reasons</h2>" + _table(["stage", "reason", "score", "text"], body)


def _text(value: Any) -> str:
    text = "" if value is None else str(value)
    cut = text[:TEXT_CHARS] + ("…" if len(text) > TEXT_CHARS else "")
    return f"<div class=\"text\">{esc(cut)}</div>"


def _num(value: Any) -> str:
    return f"<span class=\"num\">{esc(value)}</span>"


def _verdict(passed: Any, decision: dict[str, Any] | None = None) -> str:
    css = {True: "pass", False: "fail"}.get(passed, "na")
    text = decision_verdict(decision) if decision is not None else verdict(passed)
    return f"<span class=\"{css}\">{esc(text)}</span>"
