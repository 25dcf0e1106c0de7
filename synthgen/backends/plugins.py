"""Third-party backends, found through the ``synthgen.backends`` entry point group.

A plugin package declares, in its ``pyproject.toml``::

    [project.entry-points."synthgen.backends"]
    echo = "synthgen_echo:EchoBackend"

and a recipe selects it with ``[generation.backend] type = "plugin"``, ``name = "echo"`` and a free
``options`` table. The entry point is a class or function called as ``factory(options, mode=..., system=...,
seed=...)`` (``options`` a dict); what it returns must keep the :class:`~synthgen.backends.base.Backend`
contract: ``name``, ``load()``, ``generate(requests, sampling)``, ``describe()``, ``close()``.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

from ..errors import BackendError
from .base import DEFAULT_KEY, Backend

ENTRY_POINT_GROUP = "synthgen.backends"


def installed_backends() -> dict[str, EntryPoint]:
    """Every backend plugin installed in this environment, by entry point name."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_plugin(name: str, options: dict[str, Any], *, mode: str, system: str | None, seed: int,
                key: str = DEFAULT_KEY) -> Backend:
    """The plugin backend ``name`` built with ``options``; a clear error when it is missing or broken
    (its hint names ``key``, the recipe key of the backend table)."""
    found = installed_backends()
    if name not in found:
        listed = ", ".join(sorted(found)) or "none"
        raise BackendError(f"no backend plugin named {name!r} (installed: {listed})",
                           hint=f"pip install the package that provides it (entry point group {ENTRY_POINT_GROUP})")
    try:
        factory = found[name].load()
        backend = factory(dict(options), mode=mode, system=system, seed=seed)
    except Exception as exc:  # a plugin's own failure, named with its origin
        raise BackendError(f"backend plugin {name!r} ({found[name].value}) failed to start: "
                           f"{type(exc).__name__}: {exc}", hint=f"check {key}.options") from exc
    if not isinstance(backend, Backend):
        raise BackendError(f"backend plugin {name!r} ({found[name].value}) returned {type(backend).__name__}, "
                           "which lacks the Backend methods (name, load, generate, describe, close)")
    return backend
