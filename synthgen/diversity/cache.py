"""On-disk embedding cache: rows keyed by the SHA-256 of their text, one folder per model.

Layout: ``<root>/<model_key>/NNNNNN.npy`` (float32 rows) + ``NNNNNN.keys`` (one hex hash per row). Each
write adds a shard: the ``.npy`` is renamed into place first, the ``.keys`` last, so a crash leaves at most
an orphan array that is ignored. Shards are memory-mapped on load.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def default_cache_root() -> Path:
    from ..models.store import synthgen_home

    return synthgen_home() / "embeddings"


class EmbeddingCache:
    """``get(keys)`` → rows found; ``put(keys, rows)`` → a new shard. Not shared across model keys."""

    def __init__(self, root: Path | str | None, model_key: str):
        self.folder = Path(root if root is not None else default_cache_root()) / re.sub(r"[^\w.-]", "_", model_key)
        self._index: dict[str, tuple[int, int]] | None = None
        self._shards: list[np.ndarray] = []

    def _load(self) -> dict[str, tuple[int, int]]:
        if self._index is None:
            self._index, self._shards = {}, []
            for keys_file in sorted(self.folder.glob("*.keys")) if self.folder.exists() else []:
                self._add_shard(np.load(keys_file.with_suffix(".npy"), mmap_mode="r"), keys_file.read_text().split())
        return self._index

    def _add_shard(self, rows: np.ndarray, keys: Sequence[str]) -> None:
        shard = len(self._shards)
        self._shards.append(rows)
        for row, key in enumerate(keys[:len(rows)]):
            self._index[key] = (shard, row)

    def get(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        index = self._load()
        return {k: np.asarray(self._shards[index[k][0]][index[k][1]]) for k in keys if k in index}

    def put(self, keys: Sequence[str], rows: np.ndarray) -> None:
        if len(keys) == 0:
            return
        self._load()
        self.folder.mkdir(parents=True, exist_ok=True)
        stem = self.folder / f"{len(list(self.folder.glob('*.npy'))):06d}-{os.getpid()}"
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        _atomic_write(stem.with_suffix(".npy"), lambda f: np.save(f, rows))
        _atomic_write(stem.with_suffix(".keys"), lambda f: f.write("\n".join(keys).encode() + b"\n"))
        self._add_shard(rows, list(keys))

    def __len__(self) -> int:
        return len(self._load())


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        write(handle)
    tmp.replace(path)
