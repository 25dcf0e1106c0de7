"""The persistent history index: every earlier run's kept records, as sketches on disk.

Layout of the folder (``[dedup] history``, relative to the recipe)::

    history/
      index.json              format, version, num_perm, seed, ngram, hash scheme
      <run key>/<part>.npz    ids (str), exact (uint64, n), sigs (uint32, n × num_perm)

A run writes only under its own key (``gen<generation>-<recipe hash>``) and reads every other key, so
later runs load the index and extend it one shard at a time; re-running a recipe replaces its own shards
instead of matching itself. Every file is written to a temporary name and renamed (atomic on POSIX); a
file that cannot be read is an error naming the file and what to do, never a silent skip.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SynthgenError
from .minhash import HASH_SCHEME
from .scopes import RunScope, SketchSet

FORMAT = "synthgen-dedup-history"
VERSION = 1
INDEX_FILE = "index.json"
_KEY = re.compile(r"[^A-Za-z0-9_.-]+")


class HistoryMismatch(SynthgenError):
    """The history index was built with other settings than this run's: ``differences`` maps each setting
    to ``(the index's value, this run's)``, so the caller can name its own option or key."""

    def __init__(self, location: Any, differences: dict[str, tuple[Any, Any]], what: str = "history index",
                 here: str = "recipe", hint: str = "set [dedup] to the index's values, or point history at a new "
                                                   "folder"):
        self.location, self.differences = location, differences
        diff = ", ".join(f"{key}={theirs!r} ({here}: {ours!r})" for key, (theirs, ours) in differences.items())
        super().__init__(f"{location}: {what} was built with {diff}", hint=hint)


class HistoryIndex:
    """A folder of sketch shards keyed by run; see the module docstring for the layout."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise SynthgenError(f"{self.path}: the dedup history index must be a folder, found a file",
                                hint="point the history at a folder (it is created on first use)")

    def meta(self) -> dict[str, Any] | None:
        """The index's settings, or None when the index does not exist yet."""
        file = self.path / INDEX_FILE
        if not file.exists():
            if self.path.is_dir() and any(self.path.glob("*/*.npz")):
                raise _corrupt(file, "missing, but the folder holds shards")
            self._check_unused()
            return None
        try:
            meta = json.loads(file.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise _corrupt(file, f"not valid JSON ({exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise _corrupt(file, f"not a {FORMAT} file")
        if meta.get("version") != VERSION:
            raise SynthgenError(f"{file}: history index version {meta.get('version')!r}, this synthgen reads {VERSION}",
                                hint="rebuild the index with this version, or use a new history folder")
        return meta

    def _check_unused(self) -> None:
        """A folder without ``index.json`` becomes a new index only when it is empty (or missing): one
        holding other files (notes, an earlier ``synthgen dedup --out``) is not a history, and writing the
        index into it would mix the two and match nothing earlier. Hidden files and a first write's
        leftover ``index.json.tmp`` do not count."""
        if not self.path.is_dir():
            return
        found = sorted(p.name for p in self.path.iterdir()
                       if not p.name.startswith(".") and p.name != INDEX_FILE + ".tmp")
        if not found:
            return
        shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        what = " (a synthgen dedup --out folder?)" if {"kept.parquet", "summary.json"} & set(found) else ""
        raise SynthgenError(f"{self.path}: not a dedup history index (no {INDEX_FILE}), and not empty: "
                            f"holds {shown}{what}",
                            hint="point the history at a new or empty folder, created on first use, or at "
                                 "an existing history's folder")

    def check(self, num_perm: int, seed: int, ngram: int | None) -> int | None:
        """Fail when the index was built with other settings; return its n-gram size (None if new)."""
        meta = self.meta()
        if meta is None:
            return None
        ours = {"num_perm": num_perm, "seed": seed, "hash": HASH_SCHEME, "ngram": ngram or meta.get("ngram")}
        theirs = {key: meta.get(key) for key in ours}
        if ours != theirs:
            raise HistoryMismatch(self.path, {k: (theirs[k], ours[k]) for k in ours if ours[k] != theirs[k]})
        return meta.get("ngram")

    def keys(self) -> list[str]:
        return sorted(p.name for p in self.path.iterdir() if p.is_dir()) if self.path.is_dir() else []

    def load(self, num_perm: int, exclude: str | None = None) -> SketchSet:
        """Every shard except those of run key ``exclude``, concatenated (sorted by key, then part)."""
        parts = [read_shard(file, num_perm) for key in self.keys() if key != run_key(exclude or "")
                 for file in sorted((self.path / key).glob("*.npz"))]
        return SketchSet.concat(parts, num_perm)

    def clear(self, key: str) -> None:
        """Remove the shards of run key ``key`` (a re-run replaces what it wrote before)."""
        folder = self.path / run_key(key)
        for file in folder.glob("*.npz") if folder.is_dir() else []:
            file.unlink()

    def write(self, key: str, part: str, sketches: SketchSet, *, seed: int, ngram: int) -> Path:
        """Write one shard atomically, creating the index on first use."""
        self._ensure(sketches.sigs.shape[1], seed, ngram)
        file = self.path / run_key(key) / f"{part}.npz"
        file.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"ids": np.array(sketches.ids, dtype=str), "exact": sketches.exact.astype(np.uint64),
                  "sigs": sketches.sigs.astype(np.uint32)}
        _atomic(file, lambda handle: np.savez(handle, **arrays))
        return file

    def _ensure(self, num_perm: int, seed: int, ngram: int) -> None:
        if self.meta() is not None:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        meta = {"format": FORMAT, "version": VERSION, "num_perm": num_perm, "seed": seed, "ngram": ngram,
                "hash": HASH_SCHEME}
        text = json.dumps(meta, indent=2, sort_keys=True).encode()
        _atomic(self.path / INDEX_FILE, lambda handle: handle.write(text))


class HistoryWriter:
    """Appends a run's kept records to the index, one shard per batch, under the run's own key.

    The first write clears the key's old shards and writes every record the run holds (a resumed run's
    restored records included), so a crash between a shard and its checkpoint never leaves strays.
    """

    def __init__(self, index: HistoryIndex, key: str, seed: int):
        self.index, self.key, self.seed = index, key, seed
        self.parts = 0

    def write(self, scope: RunScope, start: int, ngram: int) -> None:
        if self.parts == 0:
            self.index.clear(self.key)
            start = 0
        sketches = scope.sketches(start)
        if len(sketches) or self.parts == 0:
            self.index.write(self.key, f"{self.parts:06d}", sketches, seed=self.seed, ngram=ngram)
            self.parts += 1


    def write_sketches(self, parts, ngram: int) -> None:
        """Replace this run's shards with ``parts`` (SketchSets, one shard each; the streaming dedup)."""
        self.index.clear(self.key)
        for number, sketches in enumerate(parts):
            if len(sketches) or number == 0:
                self.index.write(self.key, f"{number:06d}", sketches, seed=self.seed, ngram=ngram)
        self.parts += 1


def run_key(label: str) -> str:
    """A folder-safe run key."""
    return _KEY.sub("_", label)


def read_shard(file: Path, num_perm: int) -> SketchSet:
    """Load one shard, checking names, dtypes and shapes; a bad file raises a SynthgenError naming it."""
    try:
        with np.load(file, allow_pickle=False) as data:
            ids, exact, sigs = data["ids"], data["exact"], data["sigs"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise _corrupt(file, f"{type(exc).__name__}: {exc}") from None
    n = len(ids)
    if ids.ndim != 1 or exact.shape != (n,) or sigs.shape != (n, num_perm):
        raise _corrupt(file, f"shapes ids {ids.shape}, exact {exact.shape}, sigs {sigs.shape}; "
                             f"expected (n,), (n,), (n, {num_perm})")
    if exact.dtype != np.uint64 or sigs.dtype != np.uint32 or ids.dtype.kind != "U":
        raise _corrupt(file, f"dtypes {ids.dtype}, {exact.dtype}, {sigs.dtype}; expected str, uint64, uint32")
    return SketchSet(ids.tolist(), exact, sigs)


def _corrupt(file: Path, detail: str) -> SynthgenError:
    return SynthgenError(f"{file}: corrupt dedup history index ({detail})",
                         hint="delete that file (its records leave the history) or restore it from a backup")


def _atomic(file: Path, write) -> None:
    """Write through ``write(handle)`` to ``file.tmp``, fsync, then rename over ``file``."""
    tmp = file.with_name(file.name + ".tmp")
    with open(tmp, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, file)
