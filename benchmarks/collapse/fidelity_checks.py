"""The fidelity gate's checks (issue 16), each PASS / FAIL like the literature's in :mod:`.checks`.

- gated at T = 1 with a 0.5 cap: held-out perplexity ratio ≤ ``capped_0.2``'s + 0.01;
- the fidelity rule rejects ≥ 90 % of ``replace`` batches from generation 3 on at T = 1, and passes ≥ 95 %
  of real-vs-real batches (false alarms ≤ 5 %);
- gated at T = 0.7: on average ≤ 2 attempts per generation, no starved generation;
- rare-type recall of the gated regime ≥ 0.95× the generation-0 model's T = 1 sample, at both temperatures;
- reported (INFO): the diversity gate's false-alarm rate on the same real-vs-real batches (the other half of
  the test split as the previous batch), by rule;
- reported (INFO): the held-out perplexity rise after generation 1, per capped and gated regime: the drift a
  regime lets accumulate, apart from the one-off cost of its first synthetic share;
- reported (INFO): the synthetic share the gated regime's mixer measured (``mix.measure_share``) against the
  share its cap offered, per temperature.
"""

from __future__ import annotations

import numpy as np

from .checks import check, fmt, ratio, select, series, skipped

ISSUE = "issue 16"


def fidelity_checks(rows: list[dict]) -> list[dict]:
    c = [r for r in rows if r["module"] == "C"]
    if not c:
        return []
    last = max(r["generation"] for r in c)
    return (gated_vs_cap02(c, last) + replace_rejected(c) + real_vs_real(rows) + diversity_real_vs_real(rows)
            + gated_attempts(c)
            + gated_rare(c, last) + drift_after_first(c, last) + measured_share(c))


def gated_vs_cap02(c: list[dict], last: int) -> list[dict]:
    gated, cap = select(c, "C", "gated", 1.0), select(c, "C", "capped_0.2", 1.0)
    if not gated or not cap:
        return [skipped("C-gated-T1-vs-cap0.2", "the gate adds the protection of a 0.2 cap at a 0.5 cap",
                        "ppl ratio ≤ capped_0.2's + 0.01", ISSUE)]
    g, c2 = ratio(gated, "heldout_ppl", last), ratio(cap, "heldout_ppl", last)
    starved = sum(r["gate"]["starved"] for r in gated)  # a starved generation adds no synthetic data: shown
    return [check("C-gated-T1-vs-cap0.2", "the gate adds the protection of a 0.2 cap at a 0.5 cap",
                  f"ppl ratio (gen {last}) ≤ capped_0.2's + 0.01",
                  f"{fmt(g)}× vs capped_0.2 {np.mean(c2):.3g}×; starved {starved}/{len(gated)} generations",
                  bool(np.mean(g) <= np.mean(c2) + 0.01), ISSUE)]


def replace_rejected(c: list[dict]) -> list[dict]:
    rows = [r for r in select(c, "C", "replace", 1.0) if r.get("fidelity")]
    if not rows:
        return [skipped("C-fidelity-replace-T1", "the fidelity rule catches replace collapse",
                        "rejects ≥ 90% of replace batches from gen 3 at T = 1", ISSUE)]
    by_gen = {g: [not r["fidelity"]["passed"] for r in rows if r["generation"] == g]
              for g in sorted({r["generation"] for r in rows})}
    late = [x for g, v in by_gen.items() if g >= 3 for x in v]
    if not late:
        return [skipped("C-fidelity-replace-T1", "the fidelity rule catches replace collapse",
                        "rejects ≥ 90% of replace batches from gen 3 at T = 1 (the run has fewer generations)", ISSUE)]
    shown = "; ".join(f"gen {g}: {np.mean(v):.0%}" for g, v in by_gen.items() if g <= 3)
    ratios = [r["fidelity"]["perplexity_ratio"] for r in rows
              if r["generation"] == 3 and r["fidelity"]["perplexity_ratio"]]
    measured = f"{np.mean(late):.0%} of {len(late)} batches (gens ≥ 3) rejected; {shown}" + (
        f"; median perplexity at gen 3 {fmt(ratios)}× real" if ratios else "")
    return [check("C-fidelity-replace-T1", "the fidelity rule catches replace collapse",
                  "rejects ≥ 90% of replace batches from gen 3 at T = 1", measured,
                  bool(late) and float(np.mean(late)) >= 0.9, ISSUE)]


def real_vs_real(rows: list[dict]) -> list[dict]:
    real = [r for r in rows if r["module"] == "R"]
    if not real:
        return [skipped("C-fidelity-real-vs-real", "real batches pass the fidelity rule",
                        "passes ≥ 95% of real-vs-real batches", ISSUE)]
    passed = [r["passed"] for r in real]
    failed = sorted({f for r in real for f in r["failed"]})
    ppl = [r["perplexity_ratio"] for r in real if r["perplexity_ratio"]]
    return [check("C-fidelity-real-vs-real", "real batches pass the fidelity rule (false alarms ≤ 5%)",
                  "passes ≥ 95% of real-vs-real batches (half the test split each)",
                  f"{np.mean(passed):.0%} of {len(passed)} passed (failed: {', '.join(failed) or 'none'}); "
                  f"median perplexity {min(ppl):.3g}–{max(ppl):.3g}× real", bool(np.mean(passed) >= 0.95), ISSUE)]


def diversity_real_vs_real(rows: list[dict]) -> list[dict]:
    real = [r for r in rows if r["module"] == "R" and r.get("diversity")]
    if not real:
        return []
    passed = [r["diversity"]["passed"] for r in real]
    by_rule: dict[str, list[float | None]] = {}
    for r in real:
        for f in r["diversity"]["failed"]:
            measured = f["value"] is not None and f["threshold"]
            by_rule.setdefault(f["rule"], []).append(f["value"] / f["threshold"] if measured else None)
    failed = "; ".join(f"{rule} {len(v)}× ({_span(v)})" for rule, v in sorted(by_rule.items())) or "none"
    return [check("C-diversity-real-vs-real", "how often the diversity gate's default rules refuse real text",
                  "reported: real-vs-real batches (half the test split; the other half as the previous batch)",
                  f"{np.mean(passed):.0%} of {len(passed)} passed; failing rules: {failed}", None, ISSUE)]


def _span(values: list[float | None]) -> str:
    measured = [v for v in values if v is not None]
    span = f"value {min(measured):.3g}–{max(measured):.3g}× its threshold" if measured else ""
    missing = len(values) - len(measured)
    return ", ".join(part for part in (span, f"{missing} not computed" if missing else "") if part)


def gated_attempts(c: list[dict]) -> list[dict]:
    rows = select(c, "C", "gated", 0.7)
    if not rows:
        return []
    attempts = [r["gate"]["n_attempts"] for r in rows]
    starved = sum(r["gate"]["starved"] for r in rows)
    per_gen = [np.mean(v) for _, v in sorted(series([dict(r, n=r["gate"]["n_attempts"]) for r in rows], "n").items())]
    skipped_prev = sum(bool(a.get("previous_skipped")) for r in rows for a in r["gate"]["attempts"])
    return [check("C-gated-T0.7-attempts", "no ratchet: the gate settles instead of burning its budget",
                  "on average ≤ 2 attempts per generation, no starved generation",
                  f"{np.mean(attempts):.2f} attempts/gen (by gen: {', '.join(f'{a:.1f}' for a in per_gen)}); "
                  f"starved {starved}/{len(rows)}; previous-generation rules skipped (not like with like) on "
                  f"{skipped_prev} attempts", bool(np.mean(attempts) <= 2 and starved == 0), ISSUE)]


def gated_rare(c: list[dict], last: int) -> list[dict]:
    out = []
    for t in (1.0, 0.7):
        rows = select(c, "C", "gated", t)
        if not rows:
            continue
        recall = [r for r in rows if r["generation"] == last]
        values = [r["rare_recall_ratio"] for r in recall if r.get("rare_recall_ratio") is not None]
        lowest = min(np.mean(v) for v in series(rows, "rare_recall_ratio").values())
        out.append(check(f"C-gated-rare-T{t:g}", "the gated regime keeps the real data's tail",
                         f"rare-type recall (gen {last}) ≥ 0.95× the gen-0 model's T=1 sample",
                         f"{fmt(values)}× (lowest generation mean {lowest:.3g}×)",
                         bool(values) and float(np.mean(values)) >= 0.95, ISSUE))
    return out


DRIFT_REGIMES = ("gated", "capped_0.5", "capped_0.2")


def drift_after_first(c: list[dict], last: int) -> list[dict]:
    """Mean held-out perplexity ratio at generation 1 and at the last, per regime and temperature."""
    parts = []
    for temperature in sorted({r["temperature"] for r in c}, reverse=True):
        cells = []
        for name in DRIFT_REGIMES:
            rows = select(c, "C", name, temperature)
            first, final = ratio(rows, "heldout_ppl", 1), ratio(rows, "heldout_ppl", last)
            if first and final:
                cells.append(f"{name} {np.mean(first):.3f} → {np.mean(final):.3f} "
                             f"({np.mean(final) - np.mean(first):+.3f})")
        if cells:
            parts.append(f"T = {temperature:g}: " + ", ".join(cells))
    if not parts or last < 2:
        return []
    return [check("C-drift-after-gen1", "what a regime lets accumulate after its first synthetic share",
                  f"reported: held-out ppl ratio at gen 1 → gen {last}", "; ".join(parts), None, ISSUE)]


def measured_share(c: list[dict]) -> list[dict]:
    """The gated regime's measured synthetic share per temperature: mean, range, and the cap's offer."""
    parts, mixes = [], 0
    for temperature in sorted({r["temperature"] for r in c}, reverse=True):
        measured = [r["mix"]["measured"] for r in select(c, "C", "gated", temperature)
                    if (r.get("mix") or {}).get("measured")]
        mixes += len(measured)
        if measured:
            shares, offered = [m["share"] for m in measured], [m["offered_share"] for m in measured]
            rises = [m["perplexity_ratio"] for m in measured]
            parts.append(f"T = {temperature:g}: share {np.mean(shares):.3f} ({min(shares):.3f}–{max(shares):.3f}) "
                         f"of {np.mean(offered):.3f} offered, validation perplexity ×{np.mean(rises):.3f} at the "
                         "kept share")
    if not parts:
        return []
    return [check("C-gated-measured-share", "how much synthetic data the real data was measured to carry",
                  "reported: mix.measure_share (≤ 5% held-out perplexity rise on validation text no model saw)",
                  "; ".join(parts) + f" ({mixes} mixes)",
                  None, ISSUE)]
