"""Generation backends: vLLM offline, OpenAI-compatible HTTP, replay, a scripted test backend, and
third-party backends registered under the ``synthgen.backends`` entry point group.

``build_backend`` maps a recipe's ``[generation.backend]`` table to an instance; adapters are imported
only when chosen, so ``import synthgen`` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from .base import DEFAULT_KEY, Backend
from .plugins import ENTRY_POINT_GROUP, installed_backends, load_plugin


def build_backend(config: Any, context: Any = None, mode: str = "auto", system: str | None = None,
                  key: str | None = None) -> Backend:
    """The backend a validated backend table asks for (not yet loaded: call ``load()``); ``context``
    (a RecipeContext) resolves a replay file's path and gives the engine seed.

    ``key`` is the table's recipe key when it is not ``[generation.backend]`` (a judge's ``verify.0.backend``,
    a step's ``steps.1.backend``): hints then name that table's settings and errors start with its
    ``file:key`` location. Without it, the caller names the location (``api.load_backend`` does)."""
    where = context.where(key) if key and hasattr(context, "where") else None
    return backend_from_config(config, mode=mode, system=system, seed=getattr(context, "seed", 0),
                               resolve=getattr(context, "resolve", None), key=key or DEFAULT_KEY, where=where)


def backend_from_config(config: Any, *, mode: str = "auto", system: str | None = None, seed: int = 0,
                        resolve: Callable[[Any], Path] | None = None, key: str = DEFAULT_KEY,
                        where: str | None = None) -> Backend:
    """A backend for one validated backend table; ``resolve`` turns a recipe-relative path into a real one.
    ``key`` (the table's recipe key) goes into hints, ``where`` (``file:key``) in front of errors."""
    if config.type == "vllm":
        from .vllm_offline import VllmBackend

        return VllmBackend(config, mode=mode, system=system, seed=seed)
    if config.type == "openai":
        from .openai_http import OpenAIBackend

        return OpenAIBackend(config, mode=mode, system=system, key=key, where=where)
    if config.type == "replay":
        from .replay import ReplayBackend

        return ReplayBackend(resolve(config.path) if resolve else Path(config.path), config.field, key)
    if config.type == "plugin":
        return load_plugin(config.name, config.options, mode=mode, system=system, seed=seed, key=key)
    from .testing import ScriptedBackend

    return ScriptedBackend(config)


__all__ = ["Backend", "ENTRY_POINT_GROUP", "backend_from_config", "build_backend", "installed_backends"]
