"""The ledger file: versioned JSON, written atomically, changed under an exclusive file lock.

* Atomic: the new ledger is written to a temporary file in the same folder, fsynced, and renamed over
  the old one (then the folder is fsynced), so a crash at any moment leaves the old ledger or the new one.
* Locked: every change re-reads the file under ``fcntl.flock`` on ``.lineage.lock``, so two processes
  recording generations at once never lose each other's entries.
* Versioned: ``{"format": "synthgen-lineage", "version": N, ...}``; a ledger from a newer synthgen is
  refused rather than misread or rewritten in an older shape.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Any, Iterator

from .entry import LineageError

LEDGER_FILE = "lineage.json"
LOCK_FILE = ".lineage.lock"
FORMAT = "synthgen-lineage"
FORMAT_VERSION = 1


def empty_state() -> dict[str, Any]:
    return {"format": FORMAT, "version": FORMAT_VERSION, "best": None, "entries": []}


def read_state(path: Path) -> dict[str, Any]:
    """The ledger at ``path`` (an empty one when the file does not exist yet), checked for its version."""
    if not path.exists():
        return empty_state()
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))  # a BOM an editor added is not damage
    except (OSError, ValueError) as exc:
        raise LineageError(f"{path}: cannot read the lineage ledger ({exc})",
                           hint="it was not written by synthgen or was damaged; restore it or move it aside") from None
    return check_state(path, data)


def check_state(path: Path, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("entries"), list):
        raise LineageError(f"{path}: not a synthgen lineage ledger", hint="point at the project folder that holds it")
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise LineageError(f"{path}: the ledger's format version {version!r} is not valid",
                           hint="the file was edited by hand or is damaged")
    if version > FORMAT_VERSION:
        raise LineageError(f"{path}: written by a newer synthgen (ledger format version {version}; this synthgen "
                           f"reads version {FORMAT_VERSION} and older)", hint="upgrade synthgen: pip install -U synthgen")
    return data


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically; on failure the previous file is untouched and no temp is left."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump(state, handle, ensure_ascii=False, indent=1, allow_nan=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except (OSError, ValueError, TypeError) as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise LineageError(f"{path}: could not write the lineage ledger ({exc}); the previous ledger is intact",
                           hint="check free disk space and permissions, then run the step again") from exc
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``<folder>/.lineage.lock`` for one read-change-write of the ledger."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
