"""Executors: where a run's work happens. ``local`` (the default) is this process and needs no Ray;
``ray`` keeps the run's batch loop, checkpoints and diversity gate on the driver and spreads each batch's
work over a Ray cluster (engine replicas for generation, CPU workers for the verifiers).

Only this light module is imported by :func:`synthgen.api.run_recipe`; Ray is imported when chosen.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import SynthgenError, option

EXECUTORS = ("local", "ray")


def resolve_execution(recipe: Any, executor: str | None = None, address: str | None = None) -> Any:
    """The recipe's [execution] table (defaults when absent) with ``--executor`` / ``--address`` applied.
    The cluster address: ``--address``, else ``RAY_ADDRESS``, else the recipe's, else none (a local cluster)."""
    from ..recipe.execution_schema import ExecutionConfig

    config = recipe.execution or ExecutionConfig()
    if executor is not None and executor not in EXECUTORS:
        raise SynthgenError(f"unknown executor {executor!r}", hint=f"choose one of: {', '.join(EXECUTORS)}")
    update = {key: value for key, value in (("executor", executor), ("address", address)) if value is not None}
    config = config.model_copy(update=update) if update else config
    if address is not None and config.executor != "ray":
        given = option("address given").format(address)
        raise SynthgenError(f"{given} names a Ray cluster, but the executor is {config.executor!r}",
                            hint=f"{option('executor ray')} (or set [execution] executor = 'ray')")
    if address is None and config.executor == "ray" and os.environ.get("RAY_ADDRESS"):
        config = config.model_copy(update={"address": os.environ["RAY_ADDRESS"]})
    return config


def run_with_executor(loaded: Any, execution: Any, **kwargs: Any) -> Any:
    """Run ``loaded`` on the executor ``execution`` names (the Ray one; the local one is api's own)."""
    from .ray_executor import run_on_ray

    return run_on_ray(loaded, execution, **kwargs)


__all__ = ["EXECUTORS", "resolve_execution", "run_with_executor"]
