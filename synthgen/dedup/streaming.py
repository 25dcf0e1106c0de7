"""``synthgen dedup`` over a table of any size: parallel sketches, one decision pass, streamed output.

1. **Sketch** (workers): chunks of rows are decoded, pre-checked (missing / invalid / blank text, eval
   contamination) and sketched (exact key, MinHash signature, LSH band keys) in ``workers`` processes.
2. **Decide** (driver): :func:`.resolve.resolve` gives every row the engine's verdict (first seen wins).
3. **Write** (workers): chunks are read again and their kept / rejected rows written as parquet parts,
   merged into ``kept.parquet`` and ``rejected.parquet``.

Memory holds the sketches (``4·num_perm + 8·(bands + 1)`` bytes a row: ~630 MB for 1M rows at 128
permutations) and a few chunks of rows, never the whole table of rows. The kept ids, reasons and evidence
equal those of :func:`.table.dedup_rows` on the whole table (tested), for any number of workers.
"""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .chunks import iter_chunks, merge_parts
from .deduplicator import DedupParams
from .index import HistoryIndex
from .minhash import auto_ngram
from .resolve import Table, kept_sketches, resolve
from .scopes import FrozenScope, Match
from .sketch import SketchSettings, early_verdicts, map_ordered, sketch_chunk, write_chunk

CHUNK_ROWS = 8192


@dataclass
class StreamResult:
    """Counts and settings of a streamed dedup (the rows themselves are in the output files)."""

    rows: int
    kept: int
    reasons: Counter
    settings: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"rows": self.rows, "kept": self.kept, "dropped": self.rows - self.kept,
                "reasons": dict(self.reasons.most_common()), "settings": self.settings}


@dataclass
class Plan:
    """Everything the three passes need, fixed before the first worker starts."""

    source: Path
    settings: SketchSettings
    params: DedupParams
    references: list[FrozenScope]
    history: tuple[HistoryIndex, str] | None = None
    workers: int = 1
    chunk_rows: int = CHUNK_ROWS
    describe: dict[str, Any] = field(default_factory=dict)


def detect_ngram(source: Path, settings: SketchSettings) -> int | None:
    """The engine's automatic shingle size: from the first batch of 8,192 rows holding any word."""
    from .chunks import decode
    from .minhash import SplitWordHashes
    from .normalize import normalize_text

    words = SplitWordHashes()
    for chunk in iter_chunks(source, CHUNK_ROWS):
        rows = decode(chunk, settings.source)
        early = early_verdicts(rows, settings)
        texts = [normalize_text(row[settings.text_field]) for i, row in enumerate(rows) if i not in early]
        lengths = words.flatten(texts)[1] if texts else []
        if any(lengths):
            return auto_ngram([int(n) for n in lengths if n])
    return None


def stream_dedup(plan: Plan, out: Path) -> StreamResult:
    """Run the three passes of the module docstring; outputs are replaced only when all succeeded."""
    sketches = list(map_ordered(sketch_chunk, iter_chunks(plan.source, plan.chunk_rows), plan.workers,
                                plan.settings))
    _check_field(plan, sketches)
    table = Table(sketches)
    verdicts = resolve(table, plan.params, plan.settings.bands, plan.references)
    if plan.history is not None and plan.settings.ngram is not None:
        _write_history(plan, sketches, verdicts)
    n_rows, starts = len(table.ids), table.starts
    del table, sketches
    out.mkdir(parents=True, exist_ok=True)
    paths = _write_outputs(plan, _by_chunk(verdicts, starts), out)
    reasons = Counter(verdicts[row].reason for row in sorted(verdicts))
    kept = n_rows - len(verdicts)  # every kept row went through the engine and joined its run scope
    settings = {"dedup": {**plan.describe, "scopes": plan.describe["scopes"] | {"run": kept}}}
    if plan.settings.decontaminator is not None:
        settings["decontam"] = plan.settings.decontaminator.describe()
    return StreamResult(n_rows, kept, reasons, settings, paths)


def _check_field(plan: Plan, sketches) -> None:
    from ..errors import SynthgenError

    field_ = plan.settings.text_field
    if sketches and not any(chunk.with_field for chunk in sketches):
        raise SynthgenError(f"{plan.source}: no {field_!r} column",
                            hint=f"pass --text-field; columns are: {', '.join(sorted(sketches[0].columns))}")


def _write_history(plan: Plan, sketches, verdicts: dict[int, Match]) -> None:
    index, key = plan.history
    index.clear(key)
    for part, chunk in enumerate(sketches):
        kept = kept_sketches(chunk, verdicts)
        if len(kept) or part == 0:
            index.write(key, f"{part:06d}", kept, seed=plan.params.seed, ngram=plan.settings.ngram)


def _write_outputs(plan: Plan, verdicts: list[dict[int, Match]], out: Path) -> dict[str, Path]:
    parts_dir = out / ".parts"
    shutil.rmtree(parts_dir, ignore_errors=True)
    parts_dir.mkdir(parents=True)
    jobs = ((chunk, verdicts[chunk.index], parts_dir)
            for chunk in iter_chunks(plan.source, plan.chunk_rows))
    kept_parts, rejected_parts = [], []
    for kept, rejected in map_ordered(write_chunk, jobs, plan.workers, plan.settings):
        kept_parts += [kept] if kept else []
        rejected_parts += [rejected] if rejected else []
    paths = {"kept": out / "kept.parquet", "rejected": out / "rejected.parquet", "summary": out / "summary.json"}
    merge_parts(kept_parts, paths["kept"])
    merge_parts(rejected_parts, paths["rejected"])
    shutil.rmtree(parts_dir, ignore_errors=True)
    return paths


def _by_chunk(verdicts: dict[int, Match], starts) -> list[dict[int, Match]]:
    """Verdicts keyed by chunk number, then by row within the chunk."""
    import numpy as np

    grouped: list[dict[int, Match]] = [{} for _ in range(len(starts))]
    for row, match in verdicts.items():
        index = int(np.searchsorted(starts, row, side="right")) - 1
        grouped[index][row - int(starts[index])] = match
    return grouped
