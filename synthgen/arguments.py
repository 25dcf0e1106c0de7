"""``run_recipe``'s arguments, checked as the CLI checks its options: one :class:`ArgumentError` naming the
argument, before any file is read or written."""

from __future__ import annotations

import numbers
import os
from pathlib import Path
from typing import Any

from .errors import ArgumentError, SynthgenError
from .outpaths import check_out_dir
from .recipe.load import LoadedRecipe

BACKEND_METHODS = ("load", "generate", "describe", "close")


def check_run_arguments(recipe: Any, overrides: Any, out: Any, limit: Any, backend: Any) -> None:
    """``run_recipe``'s arguments, checked as the CLI checks its options: one ArgumentError naming the
    argument, before any file is read or written."""
    if not isinstance(recipe, str | os.PathLike | LoadedRecipe):
        raise ArgumentError(f"recipe={recipe!r}: expected a recipe path or a LoadedRecipe",
                            hint="pass the .toml file's path, or synthgen.load_recipe(path)")
    check_overrides_argument(overrides)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, numbers.Integral) or limit < 1):
        raise ArgumentError(f"limit={limit!r}: must be a whole number >= 1",
                            hint="limit=N stops at N records; leave it None for the recipe's generation.target")
    if out is not None:
        check_out_argument(out)
    check_backend_argument(backend)


def check_overrides_argument(overrides: Any) -> None:
    if isinstance(overrides, str | bytes) or not isinstance(overrides, list | tuple):
        raise ArgumentError(f"overrides={overrides!r}: must be a list of KEY=VALUE strings",
                            hint="pass a list, even for one override: overrides=['generation.target=10']")
    for item in overrides:
        if not isinstance(item, str) or "=" not in item:
            raise ArgumentError(f"overrides: {item!r} is not a KEY=VALUE string",
                                hint="e.g. overrides=['generation.target=10', 'generation.sampling.temperature=0.7']")


def check_out_argument(out: Any) -> None:
    if not isinstance(out, str | os.PathLike):
        raise ArgumentError(f"out={out!r}: expected a folder path (str or Path)", hint="e.g. out='runs/my-run'")
    try:
        check_out_dir(Path(out), option="out=")
    except SynthgenError as exc:
        raise ArgumentError(exc.message, exc.hint) from None


def check_backend_argument(backend: Any) -> None:
    """``backend`` is None (the recipe's) or an object with the Backend methods; a string is a common slip."""
    missing = [name for name in BACKEND_METHODS if not callable(getattr(backend, name, None))]
    if backend is None or not missing:
        return
    if isinstance(backend, str):
        override = f"overrides=['generation.backend.type={backend}']"
        raise ArgumentError(f"backend={backend!r}: expected a Backend object, not a string",
                            hint="backend= takes an object such as synthgen.backends.testing.ScriptedBackend(); "
                                 f"to choose the recipe's backend type, pass {override}")
    methods = ", ".join(f"{name}()" for name in missing)
    raise ArgumentError(f"backend={backend!r}: not a Backend: it has no {methods}",
                        hint="pass None, or an object with load(), generate(requests, sampling), describe(), close()")
