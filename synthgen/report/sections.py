"""Optional report.md sections: the diversity gate's decisions, the training mix, structured output."""

from __future__ import annotations

from typing import Any

from ..mix.measured import describe_measurement
from .model import RunReport


def gate_section(report: RunReport) -> list[str]:
    """Every gate check: window, outcome, and each metric against its threshold and reference."""
    checks = report.gates or []
    if not checks:
        return []
    lines = ["", "## Diversity gate", ""]
    if report.gate_failure:
        lines += [f"**Failed:** {report.gate_failure}", ""]
    for i, check in enumerate(checks, 1):
        start, end = check["window"]
        outcome = "pass" if check["passed"] else "FAIL"
        lines += [f"Check {i} (records {start}-{end}, attempt {check['attempt']}): **{outcome}**", "",
                  "| metric | against | value | threshold | reference | status |", "|---|---|---:|---:|---:|---|"]
        lines += [f"| {d['metric']} | {d.get('against', '')} | {_num(d.get('value'))} | {_num(d.get('threshold'))} "
                  f"| {_num(d.get('reference'))} | {_status(d)} |" for d in check["decisions"]]
        remedy = (check.get("remediation") or {}).get("message")
        lines += ["", f"Remediation: {remedy}", ""] if remedy else [""]
    return lines


def _status(decision: dict[str, Any]) -> str:
    """The decision's status; one that did not pass but does not block the gate is marked a warning."""
    from .facts import is_warning

    status = decision.get("status", "")
    return f"{status} (warning)" if is_warning(decision) else status


def diversity_section(report: RunReport) -> list[str]:
    """Every diversity metric of the final dataset against the real reference (computed once at the end)."""
    rows = report.diversity or []
    if not rows:
        return []
    lines = ["", "## Diversity of the dataset", "", "| metric | dataset | real | ratio | note |", "|---|---:|---:|---:|---|"]
    lines += [f"| {r['metric']} | {_num(r.get('value'))} | {_num(r.get('reference'))} | {_num(r.get('ratio'))} | "
              f"{r.get('reason') or ''} |" for r in rows]
    return lines


def sandbox_section(report: RunReport) -> list[str]:
    """How executed code was isolated, and which reward-hack guards were off and why."""
    facts = report.verification or {}
    if not facts:
        return []
    lines = ["", "## Code execution sandbox", "", "| verifier | isolation | audit hook | guards on | guards off (reason) |",
             "|---|---|---|---|---|"]
    for key, fact in facts.items():
        off = "; ".join(f"{name} ({why})" for name, why in (fact.get("guards_off") or {}).items()) or "none"
        lines.append(f"| {key} | {fact.get('isolation')} | {fact.get('audit_hook')} | "
                     f"{', '.join(fact.get('guards_on') or []) or 'none'} | {off} |")
    return lines


def mix_section(report: RunReport) -> list[str]:
    mix = report.mix
    if not mix:
        return []
    lines = ["", "## Training mix", "",
             f"- {mix['n_real']} real + {mix['n_synthetic']} synthetic records: synthetic share "
             f"{mix['synthetic_share']:.3f} (cap {mix['cap']:.3f}, default {mix.get('default_cap', mix['cap']):.3f}), "
             f"strategy {mix.get('strategy', 'random')}"]
    if mix.get("override_reason"):
        lines.append(f"- cap raised above the default because: {mix['override_reason']}")
    measured = describe_measurement(mix.get("measured"))
    lines += [f"- {measured}"] if measured else []
    error = mix.get("error")
    failed = f"the mix was not written: {error}"
    lines += [f"- warning: {w}" for w in mix.get("warnings") or [] if not error or w != failed]
    return lines + (failed_mix_lines(error) if error else [])


def failed_mix_lines(error: str) -> list[str]:
    """A failed mix's error as a quoted block of its own (a long message, or one line per recipe problem,
    stays readable), after the list."""
    quoted = "\n>\n".join(f"> {line}" for line in str(error).splitlines() if line.strip())
    return ["- warning: the mix was not written:", "", quoted]


def structured_section(report: RunReport) -> list[str]:
    rows = report.structured or []
    if not rows:
        return []
    lines = ["", "## Structured output", "", "| stage | constrained decoding | invalid JSON | schema mismatch |",
             "|---|---|---:|---:|"]
    lines += [f"| {r['stage']} | {r['constrained']} | {_pct(r['invalid_json_rate'])} | "
              f"{_pct(r['schema_mismatch_rate'])} |" for r in rows]
    return lines


def _num(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
