"""Outputs: ``results.jsonl`` (one row per module, regime, temperature, seed, generation), ``summary.json``,
the PASS / FAIL table on stdout, and ``collapse.md`` with tables and plots (``docs/`` for the full run).

The markdown is regenerated on every run; the text between the notes markers is kept, so the analysis
written by people survives a re-run.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import SCHEMA_VERSION
from .checks import all_checks, select, series
from .plots import plot_all

NOTES_START = "<!-- notes: written by people, kept when the report is regenerated -->"
NOTES_END = "<!-- /notes -->"
KEYS = ("module", "regime", "temperature", "seed", "generation")
ROW_SCHEMA = {
    "A": ("fitted_mean", "fitted_variance", "synthetic_share"),
    "B": ("test_loglik", "min_cov_eig", "min_weight", "synthetic_share"),
    "C": ("corpus", "heldout_ppl", "heldout_ppl_ratio", "vocab_size", "rare_support", "batch_docs", "mean_length",
          "budget_tokens", "distinct_1", "distinct_2", "gzip_ratio", "rare_recall", "rare_recall_ratio", "vendi",
          "mean_cosine", "gen0_ppl_median", "gen0_ppl_p95", "synthetic_share", "train_docs", "gate", "mix",
          "fidelity", "seconds"),
    "R": ("docs", "passed", "failed", "sides", "perplexity_ratio", "rare_ratio", "diversity"),
}
GATE_SCHEMA = ("fired", "first_failed", "attempts", "n_attempts", "accepted", "final_temperature", "starved")


def versions() -> dict[str, str]:
    import datasketch
    import sklearn

    return {"python": platform.python_version(), "numpy": np.__version__, "scikit-learn": sklearn.__version__,
            "datasketch": datasketch.__version__, "cpus": str(os.cpu_count()), "machine": platform.machine()}


def summarize(rows: list[dict], plan: dict, timings: dict, reference: dict | None, contexts: dict | None) -> dict:
    ref_recall = {str(s): ctx.ref_recall for s, ctx in (contexts or {}).items()}
    return {"schema": SCHEMA_VERSION, "created": time.strftime("%Y-%m-%d %H:%M:%S"), "plan": plan,
            "timings": timings, "versions": versions(), "real_reference": reference,
            "gen0_T1_rare_recall": ref_recall, "checks": all_checks(rows)}


def write_results(rows: list[dict], summary: dict, out: Path) -> None:
    rows = sorted(rows, key=lambda r: tuple(r[k] for k in KEYS))
    with open(out / "results.jsonl", "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, sort_keys=True, default=float) + "\n")
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float) + "\n", encoding="utf-8")


def checks_table(checks: list[dict]) -> str:
    """The stdout table: result, check, criterion, measured."""
    header = ("result", "check", "criterion", "measured")
    body = [(c["result"], c["id"], c["criterion"], c["measured"]) for c in checks]
    widths = [max(len(str(r[i])) for r in [header, *body]) for i in range(3)]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(r[:3], widths)) + "  " + r[3] for r in [header, *body]]
    passed = sum(c["result"] == "PASS" for c in checks)
    failed = sum(c["result"] == "FAIL" for c in checks)
    return "\n".join(["", *lines, "", f"{passed} PASS, {failed} FAIL, {len(checks) - passed - failed} INFO/SKIP", ""])


def md_table(header: list[str], body: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(v) for v in row) + " |" for row in body])


def num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "—"
    if abs(value) >= 10_000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def mean_at(rows: list[dict], key: str, generation: int, how=np.mean) -> float | None:
    values = series(rows, key).get(generation)
    return float(how(values)) if values else None


def arrow(rows: list[dict], key: str, last: int, digits: int = 3) -> str:
    return f"{num(mean_at(rows, key, 0), digits)} → {num(mean_at(rows, key, last), digits)}"


# --- sections --------------------------------------------------------------------------------------

def section_checks(checks: list[dict]) -> str:
    body = [[f"**{c['result']}**", c["id"], c["prediction"], c["criterion"], c["measured"], c["source"]]
            for c in checks]
    return md_table(["result", "check", "prediction", "criterion", "measured", "source"], body)


def section_a(rows: list[dict]) -> str:
    regimes = [r for r in ("replace", "accumulate", "mix10", "cap50") if select(rows, "A", r)]
    gens = sorted({r["generation"] for r in rows if r["module"] == "A"})
    body = []
    for regime in regimes:
        s = series(select(rows, "A", regime), "fitted_variance")
        body.append([regime, len(s[0])] + [_median_band(s[g]) if g in s else "" for g in gens])
    return md_table(["regime", "seeds"] + [f"gen {g}" for g in gens], body)


def _median_band(values: list[float]) -> str:
    lo, mid, hi = np.percentile(values, [10, 50, 90])
    return f"{num(mid, 2)} [{num(lo, 2)}–{num(hi, 2)}]"


def section_b(rows: list[dict]) -> str:
    body = []
    for regime in ("replace", "accumulate", "mix10", "cap50"):
        sel = select(rows, "B", regime)
        if sel:
            last = max(r["generation"] for r in sel)
            marks = [g for g in (0, 10, 20, last) if g <= last]
            body.append([regime, len({r["seed"] for r in sel})]
                        + [" / ".join(num(mean_at(sel, k, g, np.median), 4) for g in marks)
                           for k in ("test_loglik", "min_cov_eig", "min_weight")])
    return md_table(["regime", "seeds", "test log-lik/pt (gen 0 / 10 / 20 / last)", "smallest cov. eigenvalue",
                     "smallest weight"], body)


C_COLUMNS = (("heldout_ppl", "held-out ppl", 4), ("heldout_ppl_ratio", "ppl ratio", 3), ("vocab_size", "vocab", 5),
             ("rare_support", "rare support", 2), ("rare_recall_ratio", "rare recall / gen-0 T=1", 2),
             ("distinct_1", "distinct-1", 2), ("distinct_2", "distinct-2", 2), ("gzip_ratio", "gzip", 3),
             ("vendi", "Vendi", 3), ("mean_cosine", "mean cos", 2), ("gen0_ppl_median", "gen-0 ppl median", 3),
             ("gen0_ppl_p95", "gen-0 ppl p95", 3), ("synthetic_share", "synthetic share", 2))


def section_c(rows: list[dict], temperature: float) -> str:
    c = [r for r in rows if r["module"] == "C" and r["temperature"] == temperature]
    last = max(r["generation"] for r in c)
    body = []
    for regime in dict.fromkeys(r["regime"] for r in sorted(c, key=lambda r: _order(r["regime"]))):
        sel = select(c, "C", regime)
        body.append([regime, len({r["seed"] for r in sel})] + [arrow(sel, k, last, d) for k, _, d in C_COLUMNS])
    return md_table(["regime", "seeds"] + [label for _, label, _ in C_COLUMNS], body)


def _order(regime: str) -> int:
    known = ["replace", "accumulate", "accumulate_subsample", "capped_0.5", "capped_0.2", "gated"]
    return known.index(regime) if regime in known else len(known)


def section_reference(summary: dict) -> str:
    ref = summary.get("real_reference") or {}
    keys = [k for k, _, _ in C_COLUMNS if k in ref]
    return md_table([label for k, label, _ in C_COLUMNS if k in ref], [[num(ref[k]) for k in keys]])


def section_gate(rows: list[dict], temperature: float) -> str:
    gated = sorted(select(rows, "C", "gated", temperature), key=lambda r: (r["generation"], r["seed"]))
    body = []
    for g in sorted({r["generation"] for r in gated}):
        at = [r for r in gated if r["generation"] == g]
        fails = sorted({f for r in at for f in r["gate"]["first_failed"]})
        body.append([g, sum(r["gate"]["fired"] for r in at), num(np.mean([r["gate"]["n_attempts"] for r in at]), 2),
                     ", ".join(f"{t:g}" for t in sorted({r["gate"]["final_temperature"] for r in at})),
                     ", ".join(fails) or "—", int(np.mean([r["gate"]["accepted"] for r in at])),
                     sum(r["gate"]["starved"] for r in at), _drops(at[0]["gate"]["attempts"][-1])])
    return md_table(["gen", "fired (seeds)", "attempts (mean)", "accepted at T", "first-attempt failures",
                     "accepted docs (mean)", "starved", "funnel drops (seed 0, last attempt)"], body)


def _drops(attempt: dict) -> str:
    return "; ".join(f"{stage}: " + ", ".join(f"{k} {v}" for k, v in reasons.items())
                     for stage, reasons in attempt["dropped"].items()) or "—"


def gate_example(rows: list[dict], temperature: float) -> str:
    first = [r for r in select(rows, "C", "gated", temperature) if r["generation"] == 0 and r["seed"] == 0]
    if not first:
        return ""
    lines = []
    for i, a in enumerate(first[0]["gate"]["attempts"]):
        verdict = "passed" if a["passed"] else "failed: " + "; ".join(a["reasons"])
        lines.append(f"{i + 1}. T = {a['temperature']:g}, {a['kept']} of {a['candidates']} candidates kept; "
                     f"gate {verdict}"
                     + (f"\n   → remediation: {a['remediation']}" if a["remediation"] else ""))
    return "\n".join(lines)


def section_timings(summary: dict) -> str:
    t = summary["timings"]
    body = [[name, f"{sec:.1f}"] for name, sec in sorted(t["tasks"].items(), key=lambda kv: -kv[1])]
    head = f"Wall time {t['total']:.0f} s (setup {t['setup']:.1f} s) on {summary['plan']['jobs']} process(es). " \
           f"Versions: " + ", ".join(f"{k} {v}" for k, v in summary["versions"].items()) + "."
    return head + "\n\n" + md_table(["task", "seconds"], body)


# --- the document ----------------------------------------------------------------------------------

def kept_notes(path: Path) -> str:
    """The people-written notes of an earlier report (between the markers), or a placeholder."""
    if path.exists():
        text = path.read_text(encoding="utf-8")
        if NOTES_START in text and NOTES_END in text:
            return text.split(NOTES_START, 1)[1].split(NOTES_END, 1)[0].strip("\n")
    return "_No analysis written yet: add it here; it is kept when the report is regenerated._"


def write_markdown(summary: dict, rows: list[dict], docs: Path) -> Path:
    """``docs/collapse.md`` and its figures under ``docs/collapse/``."""
    docs.mkdir(parents=True, exist_ok=True)
    path = docs / "collapse.md"
    figures = plot_all(rows, docs / "collapse")
    parts = [header(summary), "## Predictions\n\n" + section_checks(summary["checks"]),
             "## What the results say\n\n" + NOTES_START + "\n" + kept_notes(path) + "\n" + NOTES_END]
    parts += module_sections(summary, rows, {f.name: f"collapse/{f.name}" for f in figures})
    parts.append("## Timings\n\n" + section_timings(summary))
    path.write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    return path


def header(summary: dict) -> str:
    plan = summary["plan"]
    return (f"# Collapse benchmark ({plan['mode']} run)\n\n"
            f"Generated by `python -m benchmarks.collapse --{plan['mode']}` on {summary['created']} "
            f"(`benchmarks/collapse/`; design: collapse-literature.md §5; issue 7). Module C: corpus "
            f"`{plan['corpus']}`, {plan['seeds']} seed(s), {plan['generations']} generations, T ∈ "
            f"{{{', '.join(f'{t:g}' for t in plan['temperatures'])}}}; module B: {plan['b_seeds']} seeds, "
            f"{plan['b_generations']} generations. Every number below comes from the run's `results.jsonl` "
            f"(`runs/collapse-{plan['mode']}/` by default, not committed; `summary.json` beside it); module C "
            "figures are means over seeds (A and B: medians), `a → b` is generation 0 → the last generation.")


def module_sections(summary: dict, rows: list[dict], figures: dict[str, str]) -> list[str]:
    out = []
    if any(r["module"] == "A" for r in rows):
        out.append("## Module A: 1-D Gaussian\n\nMedian fitted variance [p10–p90] over seeds.\n\n" + section_a(rows)
                   + _figure(figures, "module_a_variance.png"))
    if any(r["module"] == "B" for r in rows):
        out.append("## Module B: 2-D Gaussian mixture\n\nMedians over seeds.\n\n" + section_b(rows)
                   + _figure(figures, "module_b_gmm.png"))
    temps = sorted({r["temperature"] for r in rows if r["module"] == "C"}, reverse=True)
    if temps:
        out.append("## Module C: word-bigram LM on real text\n\nReal reference (the training documents, same "
                   "budgets and embedder):\n\n" + section_reference(summary))
    for t in temps:
        text = f"### T = {t:g}\n\n" + section_c(rows, t) + _figure(figures, f"module_c_T{t:g}.png")
        if select(rows, "C", "gated", t):
            text += (f"\n\n#### The gated regime at T = {t:g}\n\n" + section_gate(rows, t)
                     + "\n\nSeed 0, generation 0, attempt by attempt:\n\n" + gate_example(rows, t))
        out.append(text)
    return out


def _figure(figures: dict[str, str], name: str) -> str:
    return f"\n\n![{name}]({figures[name]})" if name in figures else ""
