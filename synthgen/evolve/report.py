"""The collapse report of an evolve project: per-generation table and plot, in JSON and Markdown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..atomic import write_json_atomic

COLUMNS = ("kept", "acceptance_rate", "duplicate_rate", "synthetic_share")


def write_collapse_report(project: Path, result: Any) -> None:
    data = {"project": str(project), "generations": result.generations, "stop_reason": result.stop_reason,
            "best": result.best, "noise_floor": result.noise, "noise_floor_notes": result.noise_notes}
    write_json_atomic(project / "report.json", data)
    plot = plot_measures(result.generations, project / "collapse.png")
    (project / "report.md").write_text(render(data, plot), encoding="utf-8")
    write_html(project, data)


def write_html(project: Path, data: dict[str, Any]) -> None:
    """report.html for the project: the per-generation lines (and the stop reason) in one page."""
    from ..report import write_html_report

    slim = [{k: v for k, v in g.items() if k not in ("metrics", "run_dir")} for g in data["generations"]]
    status = "stopped" if data["stop_reason"] else "complete"
    write_html_report(project, {"name": f"evolve: {project.name}", "status": status,
                                "stop_reason": data["stop_reason"] or "all generations ran",
                                "kept": sum(g["kept"] for g in slim), "generations": slim})


def render(data: dict[str, Any], plot: Path | None) -> str:
    generations = data["generations"]
    measures = list(generations[0]["measures"]) if generations else []
    head = ["generation", *COLUMNS, *[f"{m} (×real)" for m in measures], "gate", "stop rule"]
    lines = ["# synthgen evolve: collapse report", "",
             f"- generations run: {len(generations)}",
             f"- stopped: {data['stop_reason'] or 'no (all generations ran)'}",
             f"- best generation: {data['best']}", "",
             "Measures are ratios to held-out real data, oriented so that higher is healthier and capped at 1.0 "
             "(= as diverse as real data). " + floor_line(data), *floor_notes(data), "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for g in generations:
        cells = [g["id"], *[_fmt(g.get(c)) for c in COLUMNS], *[_fmt(g["measures"].get(m)) for m in measures],
                 _gate(g), _stop(g)]
        lines.append("| " + " | ".join(cells) + " |")
    if plot is not None:
        lines += ["", f"![measures per generation]({plot.name})"]
    return "\n".join(lines) + "\n"


def floor_line(data: dict[str, Any]) -> str:
    """The noise floors, ``n/a`` where one could not be measured (never 0: that would claim real data does
    not stray at all)."""
    floors = data["noise_floor"].items()
    text = ", ".join(f"{k} {'n/a' if v is None else f'{v:.3f}'}" for k, v in floors) or "-"
    return f"Noise floor (how far real data itself strays at this sample size): {text}."


def floor_notes(data: dict[str, Any]) -> list[str]:
    """How each floor was measured, or why it was not; a measure without one is not judged by the stop rule."""
    notes = data.get("noise_floor_notes") or {}
    lines = [f"- {name}: {note}" for name, note in notes.items()]
    if any(v is None for v in data["noise_floor"].values()):
        lines.append("- the stop rule does not judge a measure whose noise floor is n/a")
    return ["", *lines] if lines else []


def plot_measures(generations: list[dict[str, Any]], out: Path) -> Path | None:
    """One line per measure across generations; None when there is nothing to draw."""
    if not generations:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    xs = [g["generation"] for g in generations]
    for metric in generations[0]["measures"]:
        ax.plot(xs, [g["measures"].get(metric) for g in generations], marker="o", label=metric)
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set(xlabel="generation", ylabel="ratio to real (higher = healthier)", title="Diversity across generations")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def _stop(g: dict[str, Any]) -> str:
    if g.get("stop"):
        return g["stop"]
    unjudged = g.get("unjudged") or []
    return f"not judged (noise floor n/a): {', '.join(unjudged)}" if unjudged else ""


def _gate(g: dict[str, Any]) -> str:
    if g.get("gates_passed") is None:
        return "-"
    return "pass" if g["gates_passed"] else f"FAIL: {g.get('gate_failure') or ''}"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)
