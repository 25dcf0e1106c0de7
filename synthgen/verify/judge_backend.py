"""The judge's model: its own ``[verify.backend]`` table when given, else the generator's backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import RecipeError


def build_judge_backend(config: Any, resolve: Any = Path, mode: str = "auto", system: str | None = None,
                        key: str = "generation.backend") -> Any:
    """A backend (not yet loaded) for a validated backend table; relative paths resolve like the recipe's;
    ``key`` is the table's recipe key, named in the backend's hints."""
    from ..backends import backend_from_config

    return backend_from_config(config, mode=mode, system=system, resolve=resolve, key=key)


def judge_backend(config: Any, context: Any, where: str = "verify") -> Any:
    """The judge's own backend, else the generator's from ``context`` (None when building stages only to
    validate a recipe; the judge then fails on first use with :func:`no_backend_error`). ``where`` is the
    judge's ``file:verify.N``: its hints name ``verify.N.backend`` (the judge puts the location in front)."""
    if config.backend is not None:
        return build_judge_backend(config.backend, getattr(context, "resolve", Path), config.prompt_mode, config.system,
                                   key=f"{where.rsplit(':', 1)[-1]}.backend")
    return getattr(context, "backend", None)


def no_backend_error() -> RecipeError:
    return RecipeError("the judge has no model: its recipe has no backend to share",
                       hint="give the judge its own [verify.backend] table")
