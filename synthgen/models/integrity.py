"""The ``synthgen-model.json`` manifest of a provisioned model folder, and its verification.

The manifest lists every file with its size and sha256. The fast check compares sizes (a truncated or
partial copy is caught in milliseconds); the full check rehashes every byte (a few seconds for 0.5 GB).
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

MANIFEST_NAME = "synthgen-model.json"
MANIFEST_FORMAT = 1
_BLOCK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def scan_files(folder: Path) -> dict[str, dict[str, Any]]:
    """``{relative posix path: {size, sha256}}`` for every file under ``folder`` except the manifest."""
    files: dict[str, dict[str, Any]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel != MANIFEST_NAME:
            files[rel] = {"size": path.stat().st_size, "sha256": sha256_file(path)}
    return files


def write_manifest(folder: Path, **fields: Any) -> dict[str, Any]:
    """Hash every file in ``folder`` and write the manifest (atomically) with ``fields`` merged in."""
    manifest = {
        "format": MANIFEST_FORMAT,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **fields,
        "files": scan_files(folder),
    }
    manifest["fingerprint"] = fingerprint(manifest)
    tmp = folder / f".{MANIFEST_NAME}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, folder / MANIFEST_NAME)
    return manifest


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest, or None when it is missing or unreadable."""
    try:
        manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and isinstance(manifest.get("files"), dict) else None


def fingerprint(manifest: dict[str, Any]) -> str:
    """sha256 over the sorted (path, sha256) pairs: identical weights give an identical fingerprint,
    whenever and wherever they were built, so it is the model's identity for provenance."""
    pairs = sorted((path, meta["sha256"]) for path, meta in manifest["files"].items())
    return hashlib.sha256(json.dumps(pairs, separators=(",", ":")).encode()).hexdigest()


def verify_folder(folder: Path, full: bool = False) -> list[str]:
    """Problems found in a provisioned folder; an empty list means it is intact.

    ``full=False`` checks presence and sizes; ``full=True`` also recomputes every sha256.
    """
    manifest = read_manifest(folder)
    if manifest is None:
        return [f"{folder / MANIFEST_NAME} is missing or unreadable (partial or interrupted build)"]
    problems = []
    for rel, meta in sorted(manifest["files"].items()):
        problems.extend(_check_file(folder / rel, rel, meta, full))
    return problems


def _check_file(path: Path, rel: str, meta: dict[str, Any], full: bool) -> list[str]:
    if not path.is_file():
        return [f"{rel} is missing"]
    size = path.stat().st_size
    if size != meta.get("size"):
        return [f"{rel} has {size} bytes, expected {meta.get('size')}"]
    if full and sha256_file(path) != meta.get("sha256"):
        return [f"{rel} has a different sha256 than recorded"]
    return []


def folder_size(folder: Path) -> int:
    """Total bytes of the files under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
