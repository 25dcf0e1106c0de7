"""Generation backends: vLLM offline, OpenAI-compatible HTTP, replay and a scripted test backend.

``build_backend`` maps a recipe's ``[generation.backend]`` table to an instance; adapters are imported
only when chosen, so ``import synthgen`` stays light.
"""

from __future__ import annotations

from typing import Any

from .base import Backend


def build_backend(config: Any, context: Any = None, mode: str = "auto", system: str | None = None) -> Backend:
    """The backend a validated backend table asks for (not yet loaded: call ``load()``); ``context``
    (a RecipeContext) resolves a replay file's path and gives the engine seed."""
    if config.type == "vllm":
        from .vllm_offline import VllmBackend

        return VllmBackend(config, mode=mode, system=system, seed=getattr(context, "seed", 0))
    if config.type == "openai":
        from .openai_http import OpenAIBackend

        return OpenAIBackend(config, mode=mode, system=system)
    if config.type == "replay":
        from .replay import ReplayBackend

        path = context.resolve(config.path) if context is not None else config.path
        return ReplayBackend(path, config.field)
    from .testing import ScriptedBackend

    return ScriptedBackend(config)


__all__ = ["Backend", "build_backend"]
