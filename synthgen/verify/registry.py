"""The verifiers a recipe can name: the built-in classes and every ``synthgen.verifiers`` plugin.

A verifier is one file: its class and, beside it, its config model (``Config``, whose ``type`` literal
is the name a recipe uses). The recipe's ``[[verify]]`` union and :func:`verifier_class` are both built
from these classes, so adding a verifier is one new class in one file, listed here once.
"""

from __future__ import annotations

from typing import Any, get_args

from .consistency import SelfConsistencyStage
from .execution import CodeExecutionVerifier
from .fields import RequiredFieldsVerifier
from .judge import JudgeVerifier
from .rules import BlocklistVerifier, LengthVerifier, NonEmptyVerifier, RegexVerifier
from .structured import JsonSchemaVerifier
from .text_stats import RepetitionVerifier, ScriptVerifier

BUILTIN_CLASSES = (NonEmptyVerifier, LengthVerifier, RegexVerifier, BlocklistVerifier, RepetitionVerifier,
                   ScriptVerifier, RequiredFieldsVerifier, JsonSchemaVerifier, CodeExecutionVerifier,
                   JudgeVerifier, SelfConsistencyStage)


def type_name(cls: Any) -> str:
    """The ``type`` a recipe writes for a verifier class (its config's literal)."""
    return get_args(cls.Config.model_fields["type"].annotation)[0]


BUILTIN = {type_name(cls): cls for cls in BUILTIN_CLASSES}


def verifier_class(name: str) -> Any:
    """The built-in or plugin verifier class a recipe's ``type = name`` selects."""
    if name in BUILTIN:
        return BUILTIN[name]
    from ..plugins import verifier_plugins

    return verifier_plugins(frozenset(BUILTIN))[name]


def build_from_config(config: Any, context: Any, where: str) -> Any:
    """A verifier (or, for self-consistency, a stage) from its validated table; a plugin without
    ``from_config`` is called with the table's fields."""
    from .base import config_params

    cls = verifier_class(config.type)
    factory = getattr(cls, "from_config", None)
    return factory(config, context, where) if factory is not None else cls(**config_params(config))
