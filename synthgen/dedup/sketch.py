"""Per-chunk work of the streaming dedup, run in worker processes: decode, pre-check, sketch, write.

A worker is set up once (:func:`init_worker`) with :class:`SketchSettings`; then for each chunk
:func:`sketch_chunk` returns a :class:`ChunkSketch` (ids, early verdicts, exact keys, signatures, LSH band
keys) and, after the driver decided, :func:`write_chunk` writes the chunk's kept and rejected rows as
parquet parts. ``--workers 1`` runs the same functions in the driver, so results cannot differ.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from .chunks import Chunk, chunk_columns, decode, write_part
from .decontam import Decontaminator
from .lsh import band_keys
from .minhash import MAX_HASH, MinHasher, SplitWordHashes
from .normalize import exact_keys, normalize_text
from .scopes import EMPTY_TEXT, Match
from .table import row_texts


@dataclass(frozen=True)
class SketchSettings:
    """What every worker needs: where the text is, the hash settings, the eval sets (if any)."""

    source: str
    text_field: str
    num_perm: int
    seed: int
    ngram: int | None
    bands: int
    rows: int
    decontaminator: Decontaminator | None = None
    spill_dir: str | None = None  # workers save signatures here instead of sending them back


@dataclass
class ChunkSketch:
    """Sketches of one chunk's rows; rows already decided (``early``) keep empty signatures."""

    index: int
    start: int
    ids: list[str]
    early: dict[int, Match]
    exact: np.ndarray
    sigs: np.ndarray
    bands: np.ndarray
    with_field: int = 0
    columns: tuple[str, ...] = ()
    sig_file: str | None = None
    has_sig: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.has_sig = ~(self.sigs == MAX_HASH).all(axis=1)

    def spill(self, folder: str) -> None:
        """Save the signatures as ``sig-<chunk>.npy`` in ``folder`` and drop them from this object
        (so 4·num_perm bytes a row do not travel back to the driver)."""
        self.sig_file = str(Path(folder) / f"sig-{self.index:08d}.npy")
        np.save(self.sig_file, self.sigs)
        self.sigs = None

    def __len__(self) -> int:
        return len(self.ids)


_STATE: dict[str, Any] = {}


def init_worker(settings: SketchSettings) -> None:
    """Process set-up: settings and one MinHasher (its word-hash cache lives as long as the worker)."""
    _STATE["settings"] = settings
    words = SplitWordHashes()
    _STATE["words"] = words
    _STATE["hasher"] = (MinHasher(settings.num_perm, settings.ngram, settings.seed, words)
                        if settings.ngram is not None else None)


def row_ids_of(rows: list[dict[str, Any]], start: int) -> list[str]:
    """The ``id`` column when a row has one, else the row's number in the whole input."""
    return [str(row["id"]) if row.get("id") is not None else str(start + n) for n, row in enumerate(rows)]


def early_verdicts(texts: list[Any], settings: SketchSettings) -> dict[int, Match]:
    """Rows decided before hashing (by their :func:`.table.row_texts`): missing / invalid / blank text,
    then eval contamination."""
    from .table import _precheck

    early = {i: m for i, text in enumerate(texts) if (m := _precheck(text)) is not None}
    if settings.decontaminator is not None:
        todo = [i for i in range(len(texts)) if i not in early]
        for i, match in zip(todo, settings.decontaminator.check([texts[i] for i in todo])):
            if match is not None:
                early[i] = match
    return early


def sketch_chunk(chunk: Chunk) -> ChunkSketch:
    """Decode a chunk and sketch every row that reaches the engine (see the module docstring)."""
    settings: SketchSettings = _STATE["settings"]
    rows = decode(chunk, settings.source, (settings.text_field, "id"))
    texts = row_texts(rows, settings.text_field)
    early = early_verdicts(texts, settings)
    todo = [i for i in range(len(rows)) if i not in early]
    normalized = [normalize_text(texts[i]) for i in todo]
    early.update({i: Match(EMPTY_TEXT, "run") for i, text in zip(todo, normalized) if not text})
    n = len(rows)
    exact = np.zeros(n, np.uint64)
    sigs = np.full((n, settings.num_perm), MAX_HASH, np.uint32)
    exact[todo] = exact_keys(normalized)
    hasher: MinHasher | None = _STATE["hasher"]
    if hasher is not None and todo:
        sigs[todo] = hasher.signatures_of_words(*_STATE["words"].flatten(normalized))
    sigs[list(early)] = MAX_HASH
    with_field = sum(settings.text_field in row for row in rows)
    sketch = ChunkSketch(chunk.index, chunk.start, row_ids_of(rows, chunk.start), early, exact, sigs,
                         band_keys(sigs, settings.bands, settings.rows), with_field, chunk_columns(chunk, rows))
    if settings.spill_dir is not None:
        sketch.spill(settings.spill_dir)
    return sketch


def write_chunk(job: tuple[Chunk, dict[int, Match], Path]) -> tuple[Path | None, Path | None]:
    """Write a chunk's kept rows and rejected rows (with evidence columns) as two parts; a parquet chunk's
    rows keep their Arrow types (:mod:`.rowtables`)."""
    from .rowtables import split_rows

    chunk, verdicts, folder = job
    if chunk.fmt == "parquet":
        kept, rejected = split_rows(chunk.payload, None, verdicts)
    else:
        kept, rejected = split_rows(None, decode(chunk, _STATE["settings"].source), verdicts)
    name = f"{chunk.index:08d}.arrow"
    return write_part(kept, folder / f"kept-{name}"), write_part(rejected, folder / f"rejected-{name}")


def default_workers() -> int:
    """All cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def start_method() -> str:
    """``fork`` on Linux when this process runs no other Python thread: the workers start in
    milliseconds with numpy and numba already imported (a spawned one spends ~1 s of CPU re-importing,
    which on 2 cores is 1 s of the run). Otherwise ``spawn``, because forking a threaded process (a
    notebook's engine, a progress-bar monitor) can deadlock the child."""
    import sys
    import threading

    return "fork" if sys.platform == "linux" and threading.active_count() == 1 else "spawn"


class Workers:
    """``map`` in order over items: in this process for one worker, else in ``n`` processes (one
    pool for every pass) with at most ``2 × n`` items in flight, so memory stays bounded."""

    def __init__(self, n: int, settings: SketchSettings):
        self.n, self.settings, self.pool = n, settings, None

    def __enter__(self) -> "Workers":
        if self.n <= 1:
            init_worker(self.settings)
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(self.n, mp_context=multiprocessing.get_context(start_method()),
                                            initializer=init_worker, initargs=(self.settings,))
            self.pool.submit(os.getpid).result()  # the first task starts every worker: fork before any thread
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def map(self, fn: Callable, items: Iterable) -> Iterator:
        if self.pool is None:
            return map(fn, items)
        return in_order((self.pool.submit(fn, item) for item in items), lambda future: future.result(), 2 * self.n)


def in_order(submitted: Iterable, result: Callable[[Any], Any], window: int) -> Iterator:
    """The results of ``submitted`` (an iterator that starts each job as it is drawn) in submission order,
    with at most ``window`` jobs started and not yet collected, so memory stays bounded."""
    pending: deque = deque()
    for job in submitted:
        pending.append(job)
        if len(pending) >= window:
            yield result(pending.popleft())
    while pending:
        yield result(pending.popleft())
