"""synthgen: synthetic training data that must earn its way into a training set.

The public API is light: importing synthgen loads no vllm, torch, datasets or scikit-learn.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0.dev0"

_LAZY = {
    "run_recipe": ("synthgen.api", "run_recipe"),
    "RunResult": ("synthgen.api", "RunResult"),
    "load_recipe": ("synthgen.recipe", "load_recipe"),
    "Recipe": ("synthgen.recipe", "Recipe"),
    "SynthgenError": ("synthgen.errors", "SynthgenError"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'synthgen' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]
