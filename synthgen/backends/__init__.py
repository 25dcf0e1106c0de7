"""Generation backends: vLLM offline, OpenAI-compatible HTTP, replay and a scripted test backend.

``build_backend`` maps a recipe's ``[generation.backend]`` table to an instance; adapters are imported
only when chosen, so ``import synthgen`` stays light.
"""

from __future__ import annotations

from typing import Any

from .base import Backend


def build_backend(loaded: Any) -> Backend:
    """The backend a loaded recipe asks for (not yet loaded: call ``load()``)."""
    recipe = loaded.recipe
    config = recipe.generation.backend
    mode, system = recipe.prompt.mode, recipe.prompt.system
    if config.type == "vllm":
        from .vllm_offline import VllmBackend

        return VllmBackend(config, mode=mode, system=system, seed=recipe.recipe.seed)
    if config.type == "openai":
        from .openai_http import OpenAIBackend

        return OpenAIBackend(config, mode=mode, system=system)
    if config.type == "replay":
        from .replay import ReplayBackend

        return ReplayBackend(loaded.resolve(config.path), config.field)
    from .testing import ScriptedBackend

    return ScriptedBackend(config)


__all__ = ["Backend", "build_backend"]
