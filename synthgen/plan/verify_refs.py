"""What a verifier renders per candidate (a judge's rubric, a test program) and the columns it reads (a
pairwise judge's ``reference``) must exist when it runs: checked while the plan is built, as step templates
are, so a typo is one error at ``synthgen validate`` instead of every candidate rejected after generation.

A verifier runs after the step that writes its field (or its ``after`` step), so it sees the seed fields,
the columns of that step and the ones before it, the columns earlier verifiers add, ``{prompt}``,
``{generation_prompt}``, ``{text}`` and the placeholders it fills itself. A verifier that may add any
column (a json verifier with ``columns = "all"``, a plugin) leaves the later ones' names unchecked.
"""

from __future__ import annotations

from typing import Any

from ..prompts import check_placeholders
from .model import RecipeContext
from .pipeline import anchor_step, check_template_fields, unknown_column

ALWAYS = frozenset({"prompt", "generation_prompt", "text"})


def check_verify_references(recipe: Any, context: RecipeContext, writers: dict[str, int],
                            seed_fields: frozenset[str], main_field: str) -> None:
    """Raise a RecipeError naming ``verify.<i>.<key>`` for a placeholder or column no candidate has."""
    from .parts import step_columns

    steps = recipe.step_configs()
    anchors = [anchor_step(getattr(c, "field", None) or main_field, getattr(c, "after", None), writers, steps,
                       context.where(f"verify.{i}"), seed_fields) for i, c in enumerate(recipe.verify)]
    for i, config in enumerate(recipe.verify):
        columns = {c for s in steps[: anchors[i] + 1] for c in step_columns(s)}
        earlier = _earlier_columns(recipe.verify, anchors, i)
        available = None if earlier is None else set(seed_fields) | columns | earlier | ALWAYS
        _check_config(config, available, steps[anchors[i] + 1:], context.where(f"verify.{i}"))


def _check_config(config: Any, available: set[str] | None, later: list[Any], where: str) -> None:
    """Every template and column key of one table (names left unchecked when ``available`` is None)."""
    from ..verify.registry import verifier_class

    cls = verifier_class(config.type)
    templates = getattr(cls, "templates", lambda _: {})(config)
    for key, (template, own) in templates.items():
        if available is None:
            check_placeholders(template, f"{where}.{key}")
        else:
            check_template_fields(template, available | own, later, where=f"{where}.{key}")
    for key, name in getattr(cls, "references", lambda _: {})(config).items():
        if available is not None and name not in available:
            raise unknown_column(name, available, later, f"{where}.{key}")


def _earlier_columns(configs: list[Any], anchors: list[int], i: int) -> set[str] | None:
    """Columns the verifiers that run before verifier ``i`` add; None when one may add any column."""
    return verifier_columns([config for j, config in enumerate(configs)
                             if anchors[j] < anchors[i] or (anchors[j] == anchors[i] and j < i)])


def verifier_columns(configs: list[Any]) -> set[str] | None:
    """Columns the verifiers ``configs`` add; None when one may add any (a plugin, json columns='all')."""
    out: set[str] = set()
    for config in configs:
        added = verifier_added_columns(config)
        if added is None:
            return None
        out |= added
    return out


def verifier_added_columns(config: Any) -> set[str] | None:
    """What a verifier says it adds; built-ins that say nothing add nothing, plugins may add anything."""
    from ..verify.registry import BUILTIN, verifier_class

    cls = verifier_class(config.type)
    method = getattr(cls, "added_columns", None)
    if method is not None:
        return method(config)
    return set() if config.type in BUILTIN else None
