"""The fidelity gate in report.md, report.html and the dataset card: fragments built from the gate checks a
run stores under ``report["gates"]`` (each check's decisions with ``gate = "fidelity"``).

The report files belong to the run core; they call :func:`fidelity_markdown` / :func:`fidelity_html` with
the report dict and append what comes back (nothing when no fidelity rule ran).
"""

from __future__ import annotations

import html
from typing import Any

QUANTILES = ("p10", "p50", "p90")


def fidelity_decisions(report: dict[str, Any]) -> list[tuple[int, dict[str, Any], dict[str, Any]]]:
    """(check number, check, decision) for every fidelity decision of every gate check."""
    checks = report.get("gates") or []
    return [(i, check, d) for i, check in enumerate(checks, 1) if isinstance(check, dict)
            for d in check.get("decisions") or [] if d.get("gate") == "fidelity"]


def summary_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The last check's fidelity metrics: per-record perplexity quantiles, the bound, rare-type recall."""
    found = fidelity_decisions(report)
    if not found:
        return [], []
    last = max(i for i, _, _ in found)
    rows: list[list[str]] = []
    for _, _, d in (f for f in found if f[0] == last):
        details = d.get("details") or {}
        if d["metric"] == "perplexity_shift":
            for q, pair in (details.get("quantiles") or {}).items():
                rows.append([f"per-record perplexity {q}", _num(pair.get("value")), _num(pair.get("reference")),
                             "", ""])
            bound = f"{_num(details.get('low'))} – {_num(details.get('high'))}" if "low" in details else "-"
            rate = details.get("false_alarm_rate")
            label = f"median perplexity (two-sided; calibrated false-alarm rate {_pct(rate)})"
            rows.append([label, _num(d.get("value")), _num(d.get("reference")), bound, _result(d)])
        else:
            rows.append([d["metric"], _num(d.get("value")), _num(d.get("reference")), _num(d.get("threshold")),
                         _result(d)])
    return ["metric", "batch", "real", "passes within", "result"], rows


def history_lines(report: dict[str, Any]) -> list[str]:
    """One line per check where a fidelity rule failed: which side, and what remediation did."""
    lines = []
    for i, check, d in fidelity_decisions(report):
        if d.get("status") == "fail":
            remedy = (check.get("remediation") or {}).get("message") or "no retry"
            lines.append(f"check {i}: {d['metric']} failed ({(d.get('side') or '').replace('_', ' ')}): "
                         f"{d.get('reason')}; remediation: {remedy}")
    return lines


def fidelity_markdown(report: dict[str, Any]) -> list[str]:
    """Lines for report.md / the dataset card (empty when the run had no fidelity gate)."""
    header, rows = summary_rows(report)
    if not rows:
        return []
    lines = ["", "## Fidelity gate", "",
             "Per-record perplexity under a frozen reference model of the real data, against held-out real "
             "records, and rare-type recall (last check):", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    history = history_lines(report)
    return lines + (["", "Failed fidelity checks:", ""] + [f"- {h}" for h in history] if history else [])


def fidelity_html(report: dict[str, Any]) -> str:
    """An HTML section for report.html ("" when the run had no fidelity gate)."""
    header, rows = summary_rows(report)
    if not rows:
        return ""
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    history = "".join(f"<li>{esc(h)}</li>" for h in history_lines(report))
    return ("<h2>Fidelity gate</h2><p>Per-record perplexity under a frozen reference model of the real data, "
            "against held-out real records, and rare-type recall (last check).</p>"
            f"<table><tr>{head}</tr>{body}</table>" + (f"<p>Failed fidelity checks:</p><ul>{history}</ul>"
                                                       if history else ""))


def _result(d: dict[str, Any]) -> str:
    if d.get("status") == "not_computed":
        return "not computed"
    side = f" ({d['side'].replace('_', ' ')})" if d.get("side") else ""
    return ("pass" if d.get("passed") else "FAIL") + side


def _num(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, (int, float)) else str(value)


def _pct(value: Any) -> str:
    return "-" if value is None else f"{value:.1%}"
