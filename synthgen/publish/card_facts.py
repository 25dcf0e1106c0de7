"""Facts the dataset card states that are read across report.json and manifest.json: each batch gate's
decisions by kind, the sampling each step really used, the small default model, the mix cap's reason."""

from __future__ import annotations

from typing import Any

from ..report.facts import format_value, gate_checks_summary, gate_decisions

GATE_KINDS = ("diversity", "fidelity")  # the run's `gates` holds both; a fidelity decision says gate = "fidelity"
MIX_FACTS = ("n_real", "n_synthetic", "cap")


# --- gate decisions, labelled by kind ---------------------------------------------------------------


def labelled_decisions(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each gate's deciding check (``gate_decisions(latest_only=True)``), the decisions under the run's
    ``gates`` named by their kind (diversity, fidelity) rather than by that key."""
    rows = []
    for kind in GATE_KINDS:
        part = {"gates": _of_kind(report.get("gates"), kind)}
        rows += [{**d, "gate": kind} for d in gate_decisions(part, latest_only=True)]
    rest = {key: value for key, value in report.items() if key != "gates"}
    return rows + gate_decisions(rest, latest_only=True)


def labelled_checks_summary(report: dict[str, Any]) -> list[str]:
    """``gate_checks_summary`` with the ``gates`` line named by the kinds of gate that ran."""
    kinds = [k for k in GATE_KINDS if gate_decisions({"gates": _of_kind(report.get("gates"), k)})]
    label = " and ".join(kinds or ["batch"]) + (" gates" if len(kinds) > 1 else " gate")
    return [f"{label}:{line[len('gates:'):]}" if line.startswith("gates:") else line
            for line in gate_checks_summary(report)]


def _of_kind(value: Any, kind: str) -> Any:
    """The gate entry (a check, a list of checks, or bare decisions) with only the decisions of ``kind``."""
    if isinstance(value, list):
        return [kept for kept in (_of_kind(item, kind) for item in value) if kept is not None]
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("decisions"), list):
        return {**value, "decisions": [d for d in value["decisions"] if _kind(d) == kind]}
    return value if _kind(value) == kind else None


def _kind(decision: Any) -> str:
    gate = decision.get("gate") if isinstance(decision, dict) else None
    return gate if gate in GATE_KINDS else "diversity"


# --- sampling --------------------------------------------------------------------------------------


def sampling_lines(manifest: dict[str, Any], final_sampling: dict[str, Any] | None) -> list[str]:
    """The sampling the run used: per LLM step for a ``[[steps]]`` recipe (each step's own keys over
    ``[generation.sampling]``), else ``[generation.sampling]``; then the gate's remediation, when it
    changed the sampling."""
    samplings = step_samplings(manifest.get("recipe") or {})
    if not samplings:
        return []
    if list(samplings) == [""]:
        lines = [f"Sampling: {_values(samplings[''])}"]
    else:
        lines = [f"Sampling of step {name}: {_values(values)}" for name, values in samplings.items()]
    return lines + remediation_lines(samplings, final_sampling)


def step_samplings(recipe: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Step name → the sampling it ran with; ``{"": [generation.sampling]}`` for a ``[prompt]`` recipe.
    As the run plan does, a step's unset keys fall back to ``[generation.sampling]`` and its ``n`` is 1."""
    base = (recipe.get("generation") or {}).get("sampling") or {}
    steps = [s for s in recipe.get("steps") or [] if isinstance(s, dict) and isinstance(s.get("sampling"), dict)]
    if not steps:
        return {"": dict(base)} if base else {}
    return {str(s.get("name")): {**base, "n": 1, **{k: v for k, v in s["sampling"].items() if v is not None}}
            for s in steps}


def remediation_lines(samplings: dict[str, dict[str, Any]], final: dict[str, Any] | None) -> list[str]:
    """The sampling the diversity gate's remediation left its step at, when it differs from the recipe's."""
    if not isinstance(final, dict):
        return []
    step = str(final.get("step") or "")
    planned = samplings.get(step) or (samplings.get("") if len(samplings) == 1 else None) or {}
    changed = {k: v for k, v in final.items() if k != "step" and v is not None and planned.get(k) != v}
    if not changed:
        return []
    where = f" of step {step}" if step and "" not in samplings else ""
    return [f"The diversity gate's remediation changed the sampling{where}: the run ended at {_values(changed)}; "
            "the records written after each change were sampled with it."]


def _values(sampling: dict[str, Any]) -> str:
    return ", ".join(f"{k}={format_value(v)}" for k, v in sampling.items() if v is not None)


# --- the model and the mix -------------------------------------------------------------------------


def small_model_name(model: str) -> str | None:
    """How to name the model when it is a small one: synthgen's default model (recorded by its alias
    ``embedded``, or by name) or another 270M model; None otherwise."""
    from ..models.registry import DEFAULT_MODEL, find_spec

    spec = find_spec(model) if model.strip() else None
    if spec is not None and spec.name == DEFAULT_MODEL:
        return spec.name if model.strip().lower() == spec.name else f"{spec.name}, synthgen's {model} default model"
    return model if "270m" in model.lower() else None


def override_text(mix: dict[str, Any]) -> str:
    """Why the mix's cap is what it is: the override reason of a raised cap, else which cap applies."""
    if mix.get("override_reason"):
        return str(mix["override_reason"])
    cap, default = mix.get("cap"), mix.get("default_cap")
    if isinstance(cap, (int, float)) and isinstance(default, (int, float)) and cap < default:
        return (f"none needed (the cap set for this mix, {format_value(cap)}, is below the default "
                f"{format_value(default)}: that lower cap applies)")
    return "none (the default cap applies)"


def rebuilt_mix_note(published: Any, reported: Any) -> str | None:
    """A note when the published mix is not the one report.json describes (``synthgen mix`` rebuilt it)."""
    if not isinstance(published, dict) or not isinstance(reported, dict):
        return None
    if all(published.get(k) == reported.get(k) for k in MIX_FACTS):
        return None
    earlier = (f"{reported.get('n_real')} real + {reported.get('n_synthetic')} synthetic rows, cap "
               f"{format_value(reported.get('cap'))}" if reported.get("n_real") is not None else "no written mix")
    return (f"the mix was rebuilt after the run (`synthgen mix`); these figures are the published mix's "
            f"(mix/summary.json), while the run's report.json describes {earlier}")
