"""[[verify]] tables: the union of every verifier's config model, selected by ``type``.

Each config lives beside its verifier (``synthgen/verify/*.py``, the class's ``Config``); this module
builds the recipe's union from those classes and from ``synthgen.verifiers`` plugins, so adding a verifier
takes no edit here. Every check a config can make without files or models happens in its model (regexes
compile, schemas are valid, thresholds lie inside their scale), so a misconfigured verifier is a
validation error that names its key.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field

from ..verify.checks import check_json_schema, validate_backend_table
from ..verify.consistency import SelfConsistencyConfig
from ..verify.execution import CodeExecutionVerifierConfig
from ..verify.fields import RequiredFieldsVerifierConfig
from ..verify.judge import JudgeVerifierConfig
from ..verify.registry import BUILTIN
from ..verify.rules import (BlocklistVerifierConfig, LengthVerifierConfig, NonEmptyVerifierConfig,
                            RegexVerifierConfig)
from ..verify.structured import JsonSchemaVerifierConfig
from ..verify.text_stats import RepetitionVerifierConfig, ScriptVerifierConfig

BUILTIN_VERIFIER_CONFIGS = tuple(cls.Config for cls in BUILTIN.values())
BUILTIN_VERIFIERS = frozenset(BUILTIN)


def _verifier_union() -> Any:
    """The [[verify]] union: the built-in configs and every ``synthgen.verifiers`` plugin's ``Config``."""
    from ..plugins import verifier_plugins

    plugins = tuple(cls.Config for cls in verifier_plugins(BUILTIN_VERIFIERS).values())
    return Annotated[Union[BUILTIN_VERIFIER_CONFIGS + plugins], Field(discriminator="type")]


VerifierConfig = _verifier_union()

__all__ = ["BUILTIN_VERIFIERS", "BUILTIN_VERIFIER_CONFIGS", "BlocklistVerifierConfig", "CodeExecutionVerifierConfig",
           "JsonSchemaVerifierConfig", "JudgeVerifierConfig", "LengthVerifierConfig", "NonEmptyVerifierConfig",
           "RegexVerifierConfig", "RepetitionVerifierConfig", "RequiredFieldsVerifierConfig", "ScriptVerifierConfig",
           "SelfConsistencyConfig", "VerifierConfig", "check_json_schema", "validate_backend_table"]
