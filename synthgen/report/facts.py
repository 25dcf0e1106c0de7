"""Facts read out of a report.json for people: gate decisions (generic over every gate), the mix share,
per-generation series and lineage. Shared by report.html and the Hub dataset card.

A decision is ``{gate, check, metric, against, value, threshold, passed, rule, reason}``. Gates write
them under ``report["gates"]`` and ``report["diversity"]``: a list of decisions, one result
``{"passed", "decisions", ...}``, or a list of such results (one per check); the mix cap is one more
decision (``synthetic_share <= cap``).
"""

from __future__ import annotations

from typing import Any

GATE_KEYS = ("gates", "diversity")


def gate_decisions(report: dict[str, Any], latest_only: bool = False) -> list[dict[str, Any]]:
    """Every metric-against-threshold decision in ``report``, the mix cap last. A gate that ran several
    checks (one per window of records, retried after remediation) labels each decision with its ``check``;
    ``latest_only`` keeps each gate's last check, the one that decided."""
    rows = []
    for key in GATE_KEYS:
        checks = _checks(report.get(key))
        for i, check in enumerate(checks):
            if latest_only and i < len(checks) - 1:
                continue
            label = _check_label(check, i, len(checks))
            rows += [_normalize(key, d, label) for d in check["decisions"] if isinstance(d, dict)]
    mix = mix_decision(report)
    return rows + ([mix] if mix else [])


def gate_checks_summary(report: dict[str, Any]) -> list[str]:
    """One line per gate that ran several checks: how many, and how many failed."""
    lines = []
    for key in GATE_KEYS:
        checks = _checks(report.get(key))
        if len(checks) > 1:
            failed = sum(1 for c in checks if c.get("passed") is False)
            lines.append(f"{key}: {len(checks)} checks ran and {failed} failed (a failed window is regenerated "
                         "after remediation while the budget lasts); the last check decided")
    return lines


def _checks(value: Any) -> list[dict[str, Any]]:
    """A gate's report entry as a list of checks, each with a ``decisions`` list."""
    if isinstance(value, dict):
        if isinstance(value.get("decisions"), list):
            return [value]
        return [{"decisions": [value]}] if is_decision(value) else []
    if not isinstance(value, list):
        return []
    checks = [v for v in value if isinstance(v, dict) and isinstance(v.get("decisions"), list)]
    bare = [v for v in value if isinstance(v, dict) and is_decision(v) and "decisions" not in v]
    return checks + ([{"decisions": bare}] if bare else [])


DECISION_KEYS = ("passed", "status", "threshold", "rule", "op")


def is_decision(entry: dict[str, Any]) -> bool:
    """A metric judged against a threshold. The final dataset's diversity metrics (``report["diversity"]``:
    metric, value, reference, ratio) are measured, not judged: informational rows, not gate decisions."""
    return "metric" in entry and any(entry.get(key) is not None for key in DECISION_KEYS)


def informational_metrics(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The final dataset's measured metrics that no gate judged (shown apart from the gates)."""
    value = report.get("diversity")
    entries = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
    return [e for e in entries if isinstance(e, dict) and "metric" in e and not is_decision(e)]


def _check_label(check: dict[str, Any], index: int, n_checks: int) -> str | None:
    window = check.get("window")
    parts = [f"records {window[0]}-{window[1]}"] if isinstance(window, list) and len(window) == 2 else []
    parts += [f"attempt {check['attempt']}"] if "attempt" in check else []
    if parts:
        return ", ".join(parts)
    return f"check {index + 1}" if n_checks > 1 else None


def _normalize(gate: str, d: dict[str, Any], check: str | None = None) -> dict[str, Any]:
    passed = d.get("passed")
    if passed is None and d.get("status") in ("pass", "fail"):
        passed = d["status"] == "pass"
    return {"gate": gate, "check": check, "metric": str(d.get("metric") or d.get("name") or "?"),
            "against": d.get("against"), "value": d.get("value"), "threshold": d.get("threshold"), "passed": passed,
            "rule": d.get("rule") or d.get("op"), "reason": d.get("reason"), "warning": is_warning(d)}


def is_warning(d: dict[str, Any]) -> bool:
    """A decision that did not pass but does not block its gate (``blocking: False``: a metric not computed
    under ``on_not_computed = "warn"``)."""
    return d.get("blocking") is False and d.get("status", "pass") != "pass" and d.get("passed") is not True


def decision_verdict(d: dict[str, Any]) -> str:
    """pass, FAIL, not computed, or "warning: not computed" for a decision that only warns."""
    return f"warning: {verdict(d.get('passed'))}" if d.get("warning") else verdict(d.get("passed"))


def gate_failures(report: dict[str, Any]) -> list[str]:
    """Failed gates, named as well as the report allows (gate results, ``gate_failure``, ``gates_passed``)."""
    failures = [f"{key}: {', '.join(map(str, result.get('failed') or [])) or 'did not pass'}"
                for key in GATE_KEYS if isinstance(result := report.get(key), dict) and result.get("passed") is False]
    if not failures and (report.get("gates_passed") is False or report.get("status") == "failed_gate"):
        failures.append(str(report.get("gate_failure") or report.get("stop_reason") or "the gates did not pass"))
    return failures


def mix_decision(report: dict[str, Any]) -> dict[str, Any] | None:
    """The mix as a decision: the synthetic share against its cap (and why a raised cap was allowed)."""
    mix = report.get("mix")
    if not isinstance(mix, dict) or mix.get("synthetic_share") is None or mix.get("cap") is None:
        return None
    share, cap = mix["synthetic_share"], mix["cap"]
    reason = f"cap raised above the default {mix.get('default_cap')}: {mix['override_reason']}" \
        if mix.get("override") and mix.get("override_reason") else None
    return {"gate": "mix", "check": None, "metric": "synthetic_share", "against": "cap", "value": share, "threshold": cap,
            "passed": share <= cap + 1e-9, "rule": "<= cap", "reason": reason}


def format_value(value: Any) -> str:
    """Numbers to 4 significant digits, None as 'n/a'."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def verdict(passed: Any) -> str:
    return {True: "pass", False: "FAIL"}.get(passed, "not computed")


def generation_series(report: dict[str, Any]) -> dict[str, list[tuple[float, float]]]:
    """``report["generations"]`` (one dict per generation) as metric → [(generation, value)], numbers only."""
    series: dict[str, list[tuple[float, float]]] = {}
    for i, row in enumerate(report.get("generations") or []):
        if not isinstance(row, dict):
            continue
        x = row.get("generation", i)
        for key, value in _flat_numbers(row).items():
            if key != "generation" and isinstance(x, (int, float)):
                series.setdefault(key, []).append((x, value))
    return series


def _flat_numbers(row: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat_numbers(value, f"{name}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = float(value)
    return out


def lineage_lines(report: dict[str, Any], manifest: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    """The lineage as lines: the report's or manifest's ``lineage`` when there is one, else the rows'
    generation and depth from human data."""
    lineage = report.get("lineage") or manifest.get("lineage")
    if isinstance(lineage, dict):
        return [f"{key}: {_plain(value)}" for key, value in lineage.items()]
    if isinstance(lineage, list):
        return [_plain(item) for item in lineage]
    if lineage:
        return [str(lineage)]
    return [_row_lineage(rows)]


def _row_lineage(rows: list[dict[str, Any]]) -> str:
    gens = sorted({r.get("generation") for r in rows if r.get("generation") is not None})
    depths = sorted({r.get("depth") for r in rows if r.get("depth") is not None})
    if not gens and not depths:
        return "no lineage recorded"
    join = lambda values: ", ".join(map(str, values)) or "unknown"  # noqa: E731
    return f"generation {join(gens)}, depth {join(depths)} from human data"


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_plain(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    return format_value(value)
