"""The lineage as a text tree for people (``synthgen lineage``).

A generation with several parents is drawn under its first parent and named under the others
("→ see gen-3"), so the picture stays a tree while the ledger stays a DAG.
"""

from __future__ import annotations

from .entry import LineageEntry

BEST_MARK = "★ best"


def describe(entry: LineageEntry, best_id: str | None) -> str:
    """One line: id, depth, model, recipe hash, counts and metrics."""
    parts = [entry.id, "real data" if entry.is_real else f"depth {entry.depth}"]
    if entry.model:
        parts.append(f"model={entry.model}")
    if entry.recipe_hash:
        parts.append(f"recipe={entry.recipe_hash[:8]}")
    parts += [f"{name}={value}" for name, value in entry.counts.items()]
    parts += [f"{name}={_number(value)}" for name, value in entry.metrics.items()]
    if entry.id == best_id:
        parts.append(BEST_MARK)
    return "  ".join(parts)


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def render_tree(entries: list[LineageEntry], best_id: str | None = None, where: str = "") -> str:
    if not entries:
        return f"(no generations recorded{' in ' + where if where else ''})"
    children: dict[str, list[LineageEntry]] = {e.id: [] for e in entries}
    for entry in entries:
        for parent in entry.parents:
            children[parent].append(entry)
    lines: list[str] = []
    for root in (e for e in entries if not e.parents):
        lines.append(describe(root, best_id))
        _render_children(root, children, best_id, "", lines)
    return "\n".join(lines)


def _render_children(node: LineageEntry, children: dict[str, list[LineageEntry]], best_id: str | None,
                     prefix: str, lines: list[str]) -> None:
    kids = children[node.id]
    for i, child in enumerate(kids):
        last = i == len(kids) - 1
        branch, indent = ("└── ", "    ") if last else ("├── ", "│   ")
        if child.parents[0] != node.id:
            lines.append(f"{prefix}{branch}{child.id} → see under {child.parents[0]}")
            continue
        lines.append(f"{prefix}{branch}{describe(child, best_id)}")
        _render_children(child, children, best_id, prefix + indent, lines)
