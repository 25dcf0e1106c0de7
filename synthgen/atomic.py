"""Crash-safe writes: a file or folder is replaced whole, so a killed process leaves the old or the new."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any


def write_json_atomic(path: Path, data: Any) -> None:
    """JSON to a temp file, fsync, then rename over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False, indent=1, default=str)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def replace_folder(tmp: Path, target: Path) -> None:
    """Put the finished folder ``tmp`` at ``target``; the old copy is moved aside first, then deleted."""
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def equal_shares(sizes: list[int], k: int) -> list[int]:
    """Per-group counts summing to min(k, Σ sizes), as equal as the sizes allow (water-filling)."""
    out = [0] * len(sizes)
    left = min(k, sum(sizes))
    while left > 0:
        open_ = [g for g in range(len(sizes)) if out[g] < sizes[g]]
        each = max(1, left // len(open_))
        for g in sorted(open_, key=lambda g: (sizes[g] - out[g], g)):
            take = min(each, sizes[g] - out[g], left)
            out[g] += take
            left -= take
            if left == 0:
                break
    return out
