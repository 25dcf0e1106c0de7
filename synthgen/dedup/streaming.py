"""``synthgen dedup`` over a table of any size: parallel sketches, one decision pass, streamed output.

1. **Sketch** (workers): chunks of rows are decoded, pre-checked (missing / invalid / blank text, eval
   contamination) and sketched (exact key, MinHash signature, LSH band keys) in ``workers`` processes.
2. **Decide** (driver): :func:`.resolve.resolve` gives every row the engine's verdict (first seen wins).
3. **Write** (workers): chunks are read again and their kept / rejected rows written as parquet parts,
   merged into ``kept.parquet`` and ``rejected.parquet``. A jsonl input's chunks are where pass 1 found
   them (offset and length), so the driver does not scan the file for line ends a second time. Only then
   is the history (``--history``) extended with the kept rows: a run that fails leaves it as it was.

An optional :data:`synthgen.progress.PhaseHook` hears each phase (``read+sketch`` and ``write`` with rows
counted as the driver collects each chunk's result, then ``LSH candidates``, ``verify`` and ``history``); it
is only ever called in the driver, never sent to a worker.

Memory holds the band keys, exact keys and ids (~200 bytes a row; workers save signatures to scratch
files, read back only for rows that share a bucket) and a few chunks of rows, never the table itself.
The kept ids, reasons and evidence equal those of :func:`.table.dedup_rows` on the whole table (tested), for any number of workers
(when ids name more than one row, the evidence here also gives the matched row's number, ``matched_row``).
"""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from ..progress import silent
from .chunks import Chunk, LineRange, PartsWriter, iter_chunks
from .deduplicator import DedupParams
from .minhash import auto_ngram
from .resolve import BandColumns, SigStore, Table, add_reference_hits, kept_sketches, resolve
from .scopes import FrozenScope, Match
from .sketch import SketchSettings, Workers, early_verdicts, sketch_chunk, write_chunk
from .stage import INVALID_TEXT
from .table import repeated_ids_warning, text_column_warnings

if TYPE_CHECKING:
    from ..progress import PhaseHook

CHUNK_ROWS = 8192


@dataclass
class StreamResult:
    """Counts and settings of a streamed dedup (the rows themselves are in the output files)."""

    rows: int
    kept: int
    reasons: Counter
    settings: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"rows": self.rows, "kept": self.kept, "dropped": self.rows - self.kept,
                "reasons": dict(self.reasons.most_common()), "settings": self.settings,
                "warnings": list(self.warnings)}


@dataclass
class Plan:
    """Everything the three passes need, fixed before the first worker starts."""

    source: Path
    settings: SketchSettings
    params: DedupParams
    references: list[FrozenScope]
    history: Any = None  # a HistoryWriter or RedisHistoryWriter
    workers: int = 1
    chunk_rows: int = CHUNK_ROWS
    describe: dict[str, Any] = field(default_factory=dict)


def detect_ngram(source: Path, settings: SketchSettings) -> int | None:
    """The engine's automatic shingle size: from the first batch of 8,192 rows holding any word."""
    from .chunks import decode
    from .minhash import SplitWordHashes
    from .normalize import normalize_text
    from .table import row_texts

    words = SplitWordHashes()
    for chunk in iter_chunks(source, CHUNK_ROWS):
        raw = row_texts(decode(chunk, settings.source, (settings.text_field,)), settings.text_field)
        early = early_verdicts(raw, settings)
        texts = [normalize_text(text) for i, text in enumerate(raw) if i not in early]
        lengths = words.flatten(texts)[1] if texts else []
        if any(lengths):
            return auto_ngram([int(n) for n in lengths if n])
    return None


def stream_dedup(plan: Plan, out: Path, workers: Callable[[int, SketchSettings], Any] = Workers,
                 progress: PhaseHook | None = None) -> StreamResult:
    """Run the three passes of the module docstring; outputs are replaced only when all succeeded.
    ``workers(n, settings)`` gives the pool (local processes; :class:`.ray_exec.RayWorkers` on Ray);
    ``progress`` hears the phases (see the module docstring)."""
    from ..outpaths import prepare_out, remove_if_empty

    created = prepare_out(out)
    plan = replace(plan, settings=replace(plan.settings, spill_dir=str(out / ".signatures")))
    try:
        with workers(plan.workers, plan.settings) as pool:
            return _passes(plan, out, pool, progress or silent)
    except BaseException:
        shutil.rmtree(out / ".signatures", ignore_errors=True)
        if created:
            remove_if_empty(out)
        raise


def _passes(plan: Plan, out: Path, workers: Workers, progress: PhaseHook = silent) -> StreamResult:
    import threading

    from .rule import warm_up

    store = SigStore(Path(plan.settings.spill_dir), plan.settings.num_perm)
    warming = threading.Thread(target=warm_up, name="synthgen-dedup-warm-up", daemon=True)
    warming.start()  # the workers are running already (forked, if they were, before this thread)
    try:
        located: list[Chunk] = []
        total = known_rows(plan.source, out) if progress is not silent else None
        sketches, ref_exact, ref_near, bands = _sketch_all(plan, workers, store, located, progress, total)
        warming.join()
        _check_field(plan, sketches)
        _check_texts(plan, sketches)
        table = Table(sketches, store, bands)
        ids_note = repeated_ids_warning(table.ids, rows_in_evidence=True)
        verdicts = resolve(table, plan.params, plan.settings.bands, ref_exact, ref_near, plan.workers, progress,
                           matched_rows=ids_note is not None)
        n_rows, starts = len(table.ids), table.starts
        columns = tuple(dict.fromkeys(name for chunk in sketches for name in chunk.columns))
        sizes = [len(chunk) for chunk in sketches]
        del table
        if plan.history is None:
            del sketches
        paths, texted = _write_outputs(plan, _by_chunk(verdicts, starts), out, workers, columns, located,
                                       lambda results: _counted(results, sizes, progress))
        if plan.history is not None and plan.settings.ngram is not None:  # only once the outputs are written
            progress("history", None, n_rows - len(verdicts))
            _write_history(plan, sketches, verdicts, store)
    finally:
        store.close()
    reasons = Counter(verdicts[row].reason for row in sorted(verdicts))
    kept = n_rows - len(verdicts)  # every kept row went through the engine and joined its run scope
    settings = {"dedup": {**plan.describe, "scopes": plan.describe["scopes"] | {"run": kept}}}
    if plan.settings.decontaminator is not None:
        settings["decontam"] = plan.settings.decontaminator.describe()
    warnings = [note for note in [ids_note] if note] + text_column_warnings(texted)
    return StreamResult(n_rows, kept, reasons, settings, paths, warnings)


def _sketch_all(plan: Plan, workers: Workers, store: SigStore, located: list[Chunk],
                progress: PhaseHook = silent, total: int | None = None):
    """Pass 1: sketches of every chunk; reference hits taken, band keys stored by column and signatures
    spilled as chunks arrive. ``located`` receives the jsonl chunks' locations (see :func:`_locations`).
    ``progress`` counts the rows of each chunk as its sketches come back (``total``: :func:`known_rows`)."""
    sketches, ref_exact, ref_near, bands = [], {}, {}, BandColumns(plan.settings.bands)
    done = 0
    progress("read+sketch", done, total)
    for chunk in workers.map(sketch_chunk, _locations(iter_chunks(plan.source, plan.chunk_rows), located)):
        add_reference_hits(chunk, plan.references, plan.params, ref_exact, ref_near)
        bands.add(chunk)
        store.add(chunk)
        sketches.append(chunk)
        done += len(chunk)
        progress("read+sketch", done, total)
    return sketches, ref_exact, ref_near, bands


def known_rows(source: Path, out: Path | None = None) -> int | None:
    """The input's row count when its metadata hold it (a parquet footer, a saved dataset's Arrow batch
    headers), for a progress bar's total; None for jsonl, csv and json, whose rows only a full read counts."""
    from ..errors import SynthgenError
    from .chunks import table_format

    try:
        fmt = table_format(source)
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(source).metadata.num_rows
        if fmt == "dataset":
            from .cli import data_files

            return sum(_arrow_rows(file) for file in data_files(source, out))
    except (OSError, ValueError, SynthgenError):  # pass 1 reports an unreadable input itself
        return None
    return None


def _arrow_rows(path: Path) -> int:
    """Rows of an Arrow stream file (a saved dataset's), from its batch headers (memory-mapped, no copy)."""
    import pyarrow as pa

    with pa.memory_map(str(path)) as handle:
        return sum(batch.num_rows for batch in pa.ipc.open_stream(handle))


def _counted(results: Iterable, sizes: list[int], progress: PhaseHook, phase: str = "write") -> Iterator:
    """``results`` (one per chunk, in order) unchanged, reporting the rows of the chunks ``sizes`` counts."""
    total, done = sum(sizes), 0
    progress(phase, done, total)
    for index, result in enumerate(results):
        done += sizes[index] if index < len(sizes) else 0
        progress(phase, done, total)
        yield result


def _locations(chunks: Iterable[Chunk], located: list[Chunk]) -> Iterable[Chunk]:
    """``chunks``, appending each to ``located`` while every one is a jsonl :class:`LineRange` without its
    bytes (a few numbers; other formats' payloads are the rows themselves, so ``located`` is emptied and
    those chunks are read again in pass 3)."""
    keep = True
    for chunk in chunks:
        keep = keep and isinstance(chunk.payload, LineRange) and chunk.payload.data is None
        if keep:
            located.append(chunk)
        elif located:
            located.clear()
        yield chunk


def _check_field(plan: Plan, sketches) -> None:
    from ..errors import SynthgenError
    from .cli import spelled

    field_ = plan.settings.text_field
    if sketches and not any(chunk.with_field for chunk in sketches):
        raise SynthgenError(f"{plan.source}: no {field_!r} column", hint=f"pass {spelled('text_field')}; columns "
                                                                         f"are: {', '.join(sorted(sketches[0].columns))}")


def _check_texts(plan: Plan, sketches) -> None:
    """An input none of whose rows has text (each value missing or not a string) is an error, as it is for
    a reference: the column is the wrong one, and the run would only reject every row."""
    from ..errors import SynthgenError
    from .cli import spelled
    from .table import MISSING_TEXT

    rows = sum(len(chunk) for chunk in sketches)
    unusable = [m for chunk in sketches for m in chunk.early.values() if m.reason in (MISSING_TEXT, INVALID_TEXT)]
    if not rows or len(unusable) < rows:
        return
    types = sorted({m.extra["type"] for m in unusable if "type" in m.extra})
    detail = f"its values are {', '.join(types)}, not text" if types else "every value is missing"
    raise SynthgenError(f"{plan.source}: none of its {rows} rows has text in {plan.settings.text_field!r} ({detail})",
                        hint=f"name the text column (a string, or a [{{role, content}}] conversation) with "
                             f"{spelled('text_field')}")


def _write_history(plan: Plan, sketches, verdicts: dict[int, Match], store: SigStore) -> None:
    parts = (kept_sketches(chunk, verdicts, store) for chunk in sketches)
    plan.history.write_sketches(parts, plan.settings.ngram)


def _write_outputs(plan: Plan, verdicts: list[dict[int, Match]], out: Path, workers: Workers,
                   columns: tuple[str, ...] = (), located: list[Chunk] | None = None,
                   watch: Callable[[Iterable], Iterable] = lambda results: results
                   ) -> tuple[dict[str, Path], dict[str, list[str]]]:
    """Pass 3: every chunk's kept and rejected parts, written by the workers and merged here; ``watch``
    wraps the stream of written parts (progress counting). Returns :func:`collect_parts`' answer."""
    from .chunks import table_format
    from .rowtables import input_schema

    chunks = located if located and len(located) == len(verdicts) else None

    def produce(parts_dir: Path) -> Iterable[tuple[Any, Any]]:
        source = chunks if chunks is not None else iter_chunks(plan.source, plan.chunk_rows)
        jobs = ((chunk, verdicts[chunk.index], parts_dir) for chunk in source)
        return watch(workers.map(write_chunk, jobs))

    return collect_parts(out, produce, columns, input_schema(plan.source, table_format(plan.source)))


def collect_parts(out: Path, produce: Callable[[Path], Iterable[tuple[Any, Any]]],
                  columns: tuple[str, ...] = (), schema: Any = None) -> tuple[dict[str, Path], dict[str, list[str]]]:
    """Append the (kept, rejected) part files that ``produce(parts_dir)`` yields, in order, to
    ``kept.parquet`` and ``rejected.parquet`` under ``out`` (the local and the Ray executor share this).
    A file with no rows still has the input's columns (:func:`_empty_schemas`), and rejected.parquet the
    ``dedup_*`` ones. Returns the paths, and the columns kept.parquet stores as JSON text because their
    values mixed types (:attr:`PartsWriter.text_columns`: a warning, as the kept rows are the dataset
    users carry on with; rejected.parquet holds rows of unusable text, whose types are expected to vary)."""
    parts_dir = out / ".parts"
    shutil.rmtree(parts_dir, ignore_errors=True)
    parts_dir.mkdir(parents=True)
    paths = {"kept": out / "kept.parquet", "rejected": out / "rejected.parquet", "summary": out / "summary.json"}
    kept, rejected = PartsWriter(paths["kept"]), PartsWriter(paths["rejected"])
    try:
        for kept_part, rejected_part in produce(parts_dir):
            kept.add(kept_part)
            rejected.add(rejected_part)
        empty_kept, empty_rejected = _empty_schemas(kept.schema, rejected.schema, columns, schema)
        kept.close(empty_kept)
        rejected.close(empty_rejected)
    except BaseException:
        kept.discard()
        rejected.discard()
        raise
    finally:
        shutil.rmtree(parts_dir, ignore_errors=True)
    return paths, kept.text_columns


def _empty_schemas(kept: Any, rejected: Any, columns: tuple[str, ...], schema: Any) -> tuple[Any, Any]:
    """The schemas of kept.parquet and rejected.parquet when they get no row: the input's ``schema`` (its
    parquet schema, its CSV header), else the other file's columns (less or plus the evidence), else
    ``columns`` as text."""
    import pyarrow as pa

    from .rowtables import evidence_schema, without_evidence

    if schema is None:
        schema = without_evidence(rejected) if rejected is not None else kept
    if schema is None:
        schema = pa.schema([pa.field(name, pa.string()) for name in columns])
    return schema, evidence_schema(kept if kept is not None else schema)


def _by_chunk(verdicts: dict[int, Match], starts) -> list[dict[int, Match]]:
    """Verdicts keyed by chunk number, then by row within the chunk."""
    import numpy as np

    grouped: list[dict[int, Match]] = [{} for _ in range(len(starts))]
    for row, match in verdicts.items():
        index = int(np.searchsorted(starts, row, side="right")) - 1
        grouped[index][row - int(starts[index])] = match
    return grouped
