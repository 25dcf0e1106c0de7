"""Third-party verifiers, the Python way: a package registers a verifier class under the
``synthgen.verifiers`` entry point group and recipes use it by the entry point's name::

    # the plugin's pyproject.toml
    [project.entry-points."synthgen.verifiers"]
    shout = "synthgen_shout:ShoutVerifier"

    # a recipe
    [[verify]]
    type = "shout"
    min_marks = 2

The class follows the verifier contract (params-only constructor, ``check(candidate) -> Verdict``,
``check_batch`` optional) and carries its config model beside it as ``Config``: a pydantic model (best a
subclass of ``synthgen.recipe.base.Strict``, so typos are errors) whose ``type`` field is
``Literal["<name>"]`` and whose other fields are the constructor's params. The recipe's [[verify]] union
includes every plugin's ``Config``, so its table is validated like a built-in one. A plugin that fails to
load, or reuses a built-in name, is skipped with one warning line.
"""

from __future__ import annotations

import logging
import typing
from typing import Any

log = logging.getLogger(__name__)
VERIFIERS_GROUP = "synthgen.verifiers"
_loaded: dict[str, dict[str, type]] = {}


def verifier_plugins(reserved: frozenset[str] = frozenset()) -> dict[str, type]:
    """``{name: verifier class}`` for every loadable ``synthgen.verifiers`` entry point (loaded once per
    process); names in ``reserved`` (the built-in verifiers) are refused."""
    if "verifiers" not in _loaded:
        _loaded["verifiers"] = _load(reserved)
    return _loaded["verifiers"]


def _load(reserved: frozenset[str]) -> dict[str, type]:
    from importlib.metadata import entry_points

    found: dict[str, type] = {}
    for point in entry_points(group=VERIFIERS_GROUP):
        try:
            if point.name in reserved:
                raise ValueError("the name of a built-in verifier")
            cls = point.load()
            check_plugin(point.name, cls)
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break every recipe
            log.warning("verifier plugin %r (%s) not loaded: %s", point.name, point.value, exc)
            continue
        found[point.name] = cls
    return found


def check_plugin(name: str, cls: Any) -> None:
    """Raise TypeError unless ``cls`` is a verifier class whose ``Config.type`` is ``Literal[name]``."""
    config = getattr(cls, "Config", None)
    field = (getattr(config, "model_fields", None) or {}).get("type")
    if field is None or typing.get_args(field.annotation) != (name,):
        raise TypeError(f"{getattr(cls, '__name__', cls)!r} needs a pydantic `Config` with "
                        f"`type: Literal[{name!r}]`")
    if not callable(getattr(cls, "check", None)):
        raise TypeError(f"{cls.__name__} has no check(candidate) method")
