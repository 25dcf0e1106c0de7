"""The real data behind a run, for the card's ``source_datasets`` and License section.

Every input the run read is in the manifest's ``inputs`` (recipe key → absolute path, recorded by
``generate``), so the sources are found wherever ``publish`` runs. A source is real data the run
published (``mix.real``), learned from (seeds, every few-shot table) or compared against (dedup and
diversity references). Data saved with ``datasets`` carries a ``dataset_info.json``: its name becomes a
``source_datasets`` entry and its license is listed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

# recipe key of an input → what the run did with it (a step's few-shot names the step)
ROLES = ((re.compile(r"seeds\.path"), "seed data"),
         (re.compile(r"prompt\.few_shot\.path"), "few-shot examples"),
         (re.compile(r"steps\.(\d+)\.few_shot\.path"), "few-shot examples of step {step}"),
         (re.compile(r"mix\.real"), "real rows published in the `mix` config"),
         (re.compile(r"dedup\.against_real\.\d+\.path"), "dedup reference (not published)"),
         (re.compile(r"diversity\.reference"), "diversity reference (not published)"))


def data_sources(manifest: dict[str, Any], mix_published: bool = True) -> list[dict[str, Any]]:
    """``{"name", "license", "path", "roles"}`` per real-data input, one entry per file or folder
    (``mix.real`` only when the mix is published: otherwise none of its rows are).

    ``path`` is the value the recipe wrote (the card's recipe shows the same); the file is read at the
    absolute path the manifest's ``inputs`` recorded. A manifest from before ``inputs`` gives only the
    recipe's absolute paths to read; its relative ones are listed unread."""
    recipe = manifest.get("recipe") or {}
    recorded = manifest.get("inputs") if isinstance(manifest.get("inputs"), dict) else {}
    found: dict[str, dict[str, Any]] = {}
    for key, written in _dotted_values(recipe):
        role = source_role(key, recipe)
        if role is None or (key == "mix.real" and not mix_published):
            continue
        where = _location(recorded.get(key), written)
        entry = found.setdefault(str(where or written), _describe(where, written))
        entry["roles"].append(role)
    return list(found.values())


def source_role(key: str, recipe: dict[str, Any]) -> str | None:
    """What the run did with the input at recipe ``key``; None when it is not real data (a schema, a history)."""
    for pattern, role in ROLES:
        match = pattern.fullmatch(key)
        if match:
            return role.format(step=_step_name(recipe, int(match.group(1))) if match.groups() else "")
    return None


def _step_name(recipe: dict[str, Any], index: int) -> str:
    steps = recipe.get("steps") or []
    step = steps[index] if index < len(steps) and isinstance(steps[index], dict) else {}
    return str(step.get("name") or index)


def _location(entry: Any, written: str) -> Path | None:
    """The absolute path ``generate`` recorded; else the recipe's own value when that is absolute."""
    if isinstance(entry, dict) and entry.get("path"):
        return Path(entry["path"])
    return Path(written) if Path(written).is_absolute() else None


def _describe(where: Path | None, written: str) -> dict[str, Any]:
    info = _dataset_info(where) if where is not None else None
    return {"name": str((info or {}).get("dataset_name") or (info or {}).get("builder_name") or ""),
            "license": str((info or {}).get("license") or ""), "path": written, "roles": []}


def _dotted_values(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(dotted key, value) for every string under ``node`` (``dedup.against_real.0.path``)."""
    if isinstance(node, str):
        yield key, node
    elif isinstance(node, dict):
        for name, item in node.items():
            yield from _dotted_values(item, f"{key}.{name}" if key else str(name))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _dotted_values(item, f"{key}.{i}")


def _dataset_info(path: Path) -> dict[str, Any] | None:
    candidates = [path / "dataset_info.json", *sorted(path.glob("*/dataset_info.json"))] if path.is_dir() else []
    for candidate in candidates:
        try:
            info = json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(info, dict):
            return info
    return None


def source_dataset_ids(sources: list[dict[str, Any]]) -> list[str]:
    """Hub-style ``source_datasets`` values: the named sources, ``original`` when there are none."""
    names = sorted({s["name"] for s in sources if s.get("name")})
    return [f"extended|{name}" for name in names] or ["original"]
