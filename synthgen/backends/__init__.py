"""Generation backends: vLLM offline, OpenAI-compatible HTTP, replay, a scripted test backend, and
third-party backends registered under the ``synthgen.backends`` entry point group.

``build_backend`` maps a recipe's ``[generation.backend]`` table to an instance; adapters are imported
only when chosen, so ``import synthgen`` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from .base import Backend
from .plugins import ENTRY_POINT_GROUP, installed_backends, load_plugin


def build_backend(config: Any, context: Any = None, mode: str = "auto", system: str | None = None) -> Backend:
    """The backend a validated backend table asks for (not yet loaded: call ``load()``); ``context``
    (a RecipeContext) resolves a replay file's path and gives the engine seed."""
    return backend_from_config(config, mode=mode, system=system, seed=getattr(context, "seed", 0),
                               resolve=getattr(context, "resolve", None))


def backend_from_config(config: Any, *, mode: str = "auto", system: str | None = None, seed: int = 0,
                        resolve: Callable[[Any], Path] | None = None) -> Backend:
    """A backend for one validated backend table; ``resolve`` turns a recipe-relative path into a real one."""
    if config.type == "vllm":
        from .vllm_offline import VllmBackend

        return VllmBackend(config, mode=mode, system=system, seed=seed)
    if config.type == "openai":
        from .openai_http import OpenAIBackend

        return OpenAIBackend(config, mode=mode, system=system)
    if config.type == "replay":
        from .replay import ReplayBackend

        return ReplayBackend(resolve(config.path) if resolve else Path(config.path), config.field)
    if config.type == "plugin":
        return load_plugin(config.name, config.options, mode=mode, system=system, seed=seed)
    from .testing import ScriptedBackend

    return ScriptedBackend(config)


__all__ = ["Backend", "ENTRY_POINT_GROUP", "backend_from_config", "build_backend", "installed_backends"]
