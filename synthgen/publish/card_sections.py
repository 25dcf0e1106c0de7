"""The dataset card's body sections, one function each. Every value taken from a run is escaped with ``md``."""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Any

from ..report.facts import decision_verdict, format_value, lineage_lines
from ..fidelity.report import fidelity_markdown
from ..mix.measured import describe_measurement
from .card_facts import (labelled_checks_summary, labelled_decisions, override_text, rebuilt_mix_note, sampling_lines,
                         small_model_name)
from .licensing import NO_LICENSE_NAME
from .toml_text import to_toml

if TYPE_CHECKING:
    from .card import CardInputs

WARNS = " (a warning: on_not_computed = 'warn', so it does not fail the gate)"


def md(value: Any) -> str:
    """Run text made safe for a Markdown line or table cell: HTML-escaped, one line, pipes escaped."""
    return html.escape(" ".join(str(value).split()), quote=False).replace("|", "&#124;")


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(md(c) for c in row) + " |" for row in rows])


def forced_notice(inputs: "CardInputs") -> str:
    problems = inputs.files.problems
    if not (inputs.forced and problems):
        return ""
    lines = ["> [!WARNING]", "> **Published with `--force`.** This run did not meet synthgen's bar for "
             "publishing:", ">"]
    return "\n".join(lines + [f"> - {md(p)}" for p in problems] + [">", "> Read the gates and limitations "
                                                                       "below before training on it."])


def share_phrase(inputs: "CardInputs") -> str:
    mix = inputs.mix
    if inputs.n_mix is None or not isinstance(mix, dict):
        return "100% synthetic (the default config holds only generated records; no real data is mixed in)"
    return (f"the default config is 100% synthetic; the `mix` config holds {mix.get('n_real')} real + "
            f"{mix.get('n_synthetic')} synthetic rows, a synthetic share of {format_value(mix.get('synthetic_share'))}"
            f" (cap {format_value(mix.get('cap'))})")


def recipe_section(inputs: "CardInputs") -> str:
    manifest, report = inputs.files.manifest, inputs.files.report
    overrides = ", ".join(manifest.get("overrides") or []) or "none"
    seeds = manifest.get("seeds") or {}
    lines = ["## Recipe", "", f"- name: {md(report.name)}", f"- recipe hash: {md(report.recipe_hash)}",
             f"- recipe file: {md(manifest.get('recipe_source', 'unknown'))}", f"- overrides: {md(overrides)}",
             f"- seeds: {seeds.get('count', 'n/a')} (hash {md(seeds.get('hash', 'n/a'))})"]
    if isinstance(manifest.get("recipe"), dict):
        toml = to_toml(manifest["recipe"])
        fence = _fence(toml)
        lines += ["", "<details><summary>The resolved recipe (TOML, defaults filled in)</summary>", "",
                  f"{fence}toml", toml.rstrip(), fence, "", "</details>"]
    return "\n".join(lines)


def model_section(inputs: "CardInputs") -> str:
    manifest = inputs.files.manifest
    backend = manifest.get("backend") or {}
    lines = ["## Model and backend", ""]
    lines.append(_table(["key", "value"], [[k, format_value(v)] for k, v in backend.items()])
                 if backend else "The backend was not recorded (manifest.json has no `backend`).")
    lines += [f"\n{md(line)}" for line in sampling_lines(manifest, inputs.files.report.final_sampling)]
    versions = manifest.get("versions") or {}
    if versions:
        lines += ["", "Software: " + md(", ".join(f"{k} {v}" for k, v in versions.items() if k != "platform"))]
    return "\n".join(lines)


def gates_section(inputs: "CardInputs") -> str:
    report, document = inputs.files.report, inputs.report_document
    lines = ["## Quality gates and measured values", "", "Every candidate passes these steps in order; each drop "
             "is kept with its reason in the run's `rejected.parquet`.", ""]
    reasons = report.top_reasons
    lines.append(_table(["step", "kept", "dropped", "top reasons"],
                        [[s.get("step"), s.get("count"), s.get("dropped", ""), _reasons(reasons.get(s.get("step")))]
                         for s in report.funnel]))
    if report.stages:
        lines += ["", _table(["stage", "seen", "kept", "dropped", "reasons", "seconds"],
                             [[s.stage, s.seen, s.kept, s.dropped, _reasons(s.reasons), s.seconds]
                              for s in report.stages])]
    steps = {s.get("step") for s in report.funnel}
    lines += [f"\nDropped after the stages ({md(stage)}, kept in `rejected.parquet`): {md(_reasons(counts))}"
              for stage, counts in reasons.items() if stage not in steps]
    lines += ["", _decisions_text(labelled_decisions(document))]
    lines += [f"\n{md(line)}." for line in labelled_checks_summary(document)]
    lines += fidelity_markdown(document)
    return "\n".join(lines)


def _reasons(counts: Any) -> str:
    return ", ".join(f"{r} ({n})" for r, n in counts.items()) if isinstance(counts, dict) else ""


def _decisions_text(decisions: list[dict[str, Any]]) -> str:
    if not decisions:
        return "No batch-level gate (diversity, mix cap) ran for this recipe: only the per-record steps above."
    checked = any(d.get("check") for d in decisions)
    rows = [[d["gate"], *([d.get("check") or ""] if checked else []), d["metric"], d.get("against") or "",
             format_value(d["value"]), format_value(d["threshold"]), d.get("rule") or "", decision_verdict(d),
             d.get("reason") or ""] for d in decisions]
    header = ["gate", *(["check"] if checked else []), "metric", "against", "value", "threshold", "rule", "result",
              "note"]
    return "Batch gates, each metric against its threshold:\n\n" + _table(header, rows)


def share_section(inputs: "CardInputs") -> str:
    mix = inputs.mix
    phrase = share_phrase(inputs)
    lines = ["## Synthetic share", "", phrase[0].upper() + phrase[1:] + "."]
    if inputs.n_mix is not None and isinstance(mix, dict):
        lines += ["", f"- cap: {format_value(mix.get('cap'))} (default for this depth: "
                      f"{format_value(mix.get('default_cap'))}); strategy: {md(mix.get('strategy'))}",
                  f"- override reason: {md(override_text(mix))}",
                  f"- synthetic rows left out of the mix: {md(_reasons(mix.get('dropped')) or 'none')}"]
        measured = describe_measurement(mix.get("measured"))
        lines += [f"- {md(measured)}"] if measured else []
        lines += [f"- warning: {md(w)}" for w in mix.get("warnings") or []]
        rebuilt = rebuilt_mix_note(mix, inputs.files.report.mix)
        lines += [f"- note: {md(rebuilt)}"] if rebuilt else []
    else:
        lines += ["", "Mix it with real data before training: keep all the real data and cap the synthetic share "
                      "(`synthgen mix`; 0.5 by default, lower when models train on their own outputs)."]
    return "\n".join(lines)


def lineage_section(inputs: "CardInputs") -> str:
    lines = lineage_lines(inputs.files.report.to_dict(), inputs.files.manifest, inputs.lineage_rows)
    return "\n".join(["## Lineage", "", *(f"- {md(line)}" for line in lines)])


def limitations_section(inputs: "CardInputs") -> str:
    fixed = [
        "Every record was written by a language model. It can be wrong, biased or repetitive in ways the "
        "verifiers do not catch: they are automatic checks (rules, schemas, execution, dedup, an optional LLM "
        "judge), not human review.",
        "Small base models (synthgen's default is a 270M-parameter model) write simpler, less accurate text "
        "than large ones; check the model above before relying on the content.",
        "Diversity metrics measure spread, not correctness: noise can look diverse.",
        "Training models on their own outputs over generations degrades them (model collapse): keep the real "
        "data and cap the synthetic share.",
    ]
    return "\n".join(["## Known limitations", "", *(f"- {line}" for line in fixed + generated_notes(inputs))])


def generated_notes(inputs: "CardInputs") -> list[str]:
    """Limitations specific to this run, as plain sentences (escaped)."""
    report, notes = inputs.files.report, []
    if report.stop_reason != "target_reached":
        notes.append(f"Target not reached: {report.kept} of {report.target} records "
                     f"(stop reason {report.stop_reason}).")
    model = str((inputs.files.manifest.get("backend") or {}).get("model", ""))
    if model == "scripted":
        notes.append("Written by synthgen's scripted test backend, not a model: test data only.")
    elif small_model_name(model):
        notes.append(f"Generated by a small model ({small_model_name(model)}).")
    if inputs.n_rows < 1000:
        notes.append(f"Small dataset ({inputs.n_rows} records): metrics measured on it are noisy.")
    notes += [f"Gate {d['metric']} ({d['gate']}) was not computed{WARNS if d.get('warning') else ''}: "
              f"{d.get('reason') or 'no reason given'}."
              for d in labelled_decisions(inputs.report_document) if d["passed"] is None]
    notes += [f"Published with --force despite: {p}" for p in inputs.files.problems if inputs.forced]
    return [md(note) for note in notes]


def license_section(inputs: "CardInputs") -> str:
    info = inputs.license_info
    if info.license == "other" and (info.link or info.name != NO_LICENSE_NAME):
        head = f"`other` ({md(info.name)}): {md(info.why)}."
    elif info.license == "other":
        head = ("`other`: no license was chosen when publishing (pass `--license`, e.g. `cc-by-4.0`). "
                "The generating model's terms of use and the licenses of the seed and few-shot data apply.")
    else:
        head = f"{md(info.license)}: {md(info.why)}."
    return "\n".join(["## License", "", head, *(source_line(s) for s in inputs.sources)])


def source_line(source: dict[str, Any]) -> str:
    """One real-data source: its name (or path), its license, and what the run did with it."""
    named = f" (`{md(source['path'])}`)" if source.get("name") else ""
    return (f"- source data {md(source.get('name') or source['path'])}: license "
            f"{md(source.get('license') or 'not stated')}{named}; {md(', '.join(source['roles']))}")


COLUMN_NOTES = {
    "id": "content hash", "generation": "the generation that wrote it",
    "depth": "generations from human data", "recipe_hash": "hash of the recipe", "model": "generating model",
    "backend": "generating backend", "sampling": "sampling parameters", "sampling_hash": "hash of `sampling`",
    "seed_index": "row of the seed data", "prompt": "the rendered prompt", "prompt_hash": "hash of the prompt",
    "parent_ids": "few-shot sources", "parent_id": "the record a fan-out step made this one from",
    "candidate_index": "position among the candidates", "n_tokens": "tokens generated",
    "finish_reason": "why generation stopped", "scores": "verifier scores", "created_at": "creation time",
    "source": "`real` or `synthetic`",
}


def column_note(name: str) -> str:
    """What a column holds, for the card's column list."""
    if name in COLUMN_NOTES:
        return COLUMN_NOTES[name]
    return "seed field" if name.startswith("seed_") else "written by a recipe step"


def _mix_note(name: str) -> str:
    if name == "text":
        return "the record: a real row's text, or a synthetic row's main field"
    return COLUMN_NOTES.get(name) or "a column of the real data"


def columns_section(inputs: "CardInputs") -> str:
    """The columns that are really in the published files, the record's own column first."""
    columns, main = inputs.columns, inputs.main_field
    head = (f"`{md(main)}` is the record (the run's main field)." if main else
            "The published file has no `text` column and names no main field: the record is spread over the "
            "columns below.")
    lines = ["## Columns", "", head, ""]
    lines += [f"- `{md(name)}`: {md(column_note(name))}" for name in columns if name != main]
    extra = [name for name in inputs.mix_columns if name not in columns]
    if extra:
        lines += ["", "The `mix` config also has " + ", ".join(f"`{md(name)}` ({md(_mix_note(name))})"
                                                            for name in extra) + "."]
    return "\n".join(lines)
