"""Report plots as base64 PNG strings, drawn with matplotlib's Agg canvas (no pyplot, no display needed).

Each function returns None when there is nothing to draw or matplotlib is not installed, so a run's
report is still written without plots.
"""

from __future__ import annotations

import base64
import io
from typing import Any

PASS_COLOR, FAIL_COLOR, NA_COLOR, BAR_COLOR = "#2e7d32", "#c62828", "#9e9e9e", "#3b6ea8"
MAX_SERIES = 12


def _figure(width: float, height: float):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _label(text: Any) -> str:
    """Plain text for matplotlib: '$' would start mathtext."""
    return str(text).replace("$", r"\$")


def funnel_png(funnel: list[dict[str, Any]]) -> str | None:
    """Horizontal bars: how many records remain after each step, the first step on top."""
    fig = _figure(7, 0.45 * len(funnel) + 1.0) if funnel else None
    if fig is None:
        return None
    ax = fig.subplots()
    labels = [_label(step["step"]) for step in funnel][::-1]
    counts = [step.get("count") or 0 for step in funnel][::-1]
    bars = ax.barh(labels, counts, color=BAR_COLOR)
    ax.bar_label(bars, labels=[str(c) for c in counts], padding=3)
    ax.set_xlabel("records")
    ax.set_title("Funnel: records remaining after each step")
    ax.margins(x=0.12)
    return _png(fig)


def gates_png(decisions: list[dict[str, Any]]) -> str | None:
    """One small panel per decision: the measured value as a bar, the threshold as a dashed line."""
    fig = _figure(7, 0.75 * len(decisions) + 0.6) if decisions else None
    if fig is None:
        return None
    axes = fig.subplots(len(decisions), 1, squeeze=False)[:, 0]
    for ax, decision in zip(axes, decisions):
        _gate_panel(ax, decision)
    fig.suptitle("Each metric against its threshold (dashed)")
    return _png(fig)


def _gate_panel(ax, d: dict[str, Any]) -> None:
    value, threshold = d.get("value"), d.get("threshold")
    color = {True: PASS_COLOR, False: FAIL_COLOR}.get(d.get("passed"), NA_COLOR)
    name = _label(f"{d['metric']} ({d['against']})" if d.get("against") else d["metric"])
    numbers = [v for v in (value, threshold) if isinstance(v, (int, float))]
    ax.barh([name], [value if isinstance(value, (int, float)) else 0], color=color, height=0.6)
    if isinstance(threshold, (int, float)):
        ax.axvline(threshold, color="black", linestyle="--", linewidth=1.2)
    low, high = min([0, *numbers]), max([0, *numbers])
    ax.set_xlim(low * 1.2, high * 1.7 if high > 0 else 1.0)
    ax.annotate(_verdict_text(d), xy=(high, 0), xytext=(6, 0), textcoords="offset points", va="center", fontsize=8)
    ax.tick_params(axis="both", labelsize=8)
    if not numbers:
        ax.set_xticks([])


def _verdict_text(d: dict[str, Any]) -> str:
    from .facts import format_value, verdict

    return f" {format_value(d.get('value'))} vs {format_value(d.get('threshold'))}: {verdict(d.get('passed'))}"


def generations_png(series: dict[str, list[tuple[float, float]]]) -> str | None:
    """One small line plot per metric across generations (the first ``MAX_SERIES`` metrics)."""
    names = list(series)[:MAX_SERIES]
    cols = min(3, len(names)) or 1
    rows = -(-len(names) // cols)
    fig = _figure(3.2 * cols, 2.4 * rows) if names else None
    if fig is None:
        return None
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, name in zip(axes, names):
        xs, ys = zip(*series[name])
        ax.plot(xs, ys, marker="o", color=BAR_COLOR)
        ax.set_title(_label(name), fontsize=9)
        ax.set_xlabel("generation", fontsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.tick_params(labelsize=8)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    return _png(fig)
