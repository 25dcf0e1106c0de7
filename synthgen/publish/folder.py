"""The Hub folder: ``data/`` parquet shards (``data/mix/`` for the mix config) and the ``README.md`` card.

The folder is built beside its destination and renamed into place; a folder that synthgen did not write is
never replaced. Before anything is uploaded, every config must load with ``datasets.load_dataset``.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .card import DEFAULT_LANGUAGE, DEFAULT_LICENSE, DEFAULT_TASKS, CardInputs, render_card
from .checks import PublishError, RunFiles, read_run, require_publishable, validate_repo_id
from ..atomic import replace_folder
from ..report.data import read_table, schema_names

SHARD_BYTES = 256 * 2**20
LINEAGE_COLUMNS = ("generation", "depth")


def build_hub_folder(run_dir: str | Path, out_dir: str | Path, repo_id: str, force: bool = False,
                     license: str = DEFAULT_LICENSE, task_categories: tuple[str, ...] = DEFAULT_TASKS,
                     language: tuple[str, ...] = DEFAULT_LANGUAGE) -> Path:
    """Write the Hub layout of ``run_dir`` into ``out_dir`` and check that it loads; returns ``out_dir``.

    An incomplete run, or one that failed a gate, needs ``force``; the card then says so at the top.
    ``license`` defaults to ``"other"`` (no license chosen), which the card states."""
    validate_repo_id(repo_id)
    files = read_run(run_dir)
    require_publishable(files, force)
    return write_folder(files, Path(out_dir), repo_id, force=force, license=license, task_categories=task_categories,
                        language=language)


def write_folder(files: RunFiles, out: Path, repo_id: str, *, force: bool, license: str,
                 task_categories: tuple[str, ...], language: tuple[str, ...] = DEFAULT_LANGUAGE) -> Path:
    _check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    tmp.chmod(0o755)
    try:
        n_rows = write_shards(files.run_dir / "data.parquet", tmp / "data")
        n_mix = write_shards(files.mix_path, tmp / "data" / "mix") if files.mix_path else None
        inputs = CardInputs(files, repo_id, n_rows, n_mix, _lineage_rows(files.run_dir / "data.parquet"),
                            license or DEFAULT_LICENSE, tuple(task_categories), forced=force and bool(files.problems),
                            language=tuple(language))
        (tmp / "README.md").write_text(render_card(inputs), encoding="utf-8")
        replace_folder(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    check_loads(out, {"default": n_rows, **({"mix": n_mix} if n_mix is not None else {})})
    return out


def write_shards(source: Path, dest: Path, split: str = "train", shard_bytes: int | None = None) -> int:
    """Copy ``source`` into ``dest/{split}-0000i.parquet`` shards of about ``shard_bytes``; returns rows.

    Names carry no shard count (``-of-0000n``): the upload deletes every remote ``data/`` file it does not
    send again (``delete_patterns``), so a republish with fewer shards leaves nothing behind either way."""
    shard_bytes = shard_bytes or SHARD_BYTES
    import pyarrow.parquet as pq

    table = read_table(source)
    bounds = shard_bounds(table.num_rows, math.ceil(table.nbytes / shard_bytes))
    dest.mkdir(parents=True, exist_ok=True)
    for i, (start, stop) in enumerate(bounds):
        pq.write_table(table.slice(start, stop - start), dest / f"{split}-{i:05d}.parquet")
    return table.num_rows


def shard_bounds(n_rows: int, n_shards: int) -> list[tuple[int, int]]:
    """(start, stop) of each shard: rows spread evenly over at most ``n_rows`` shards, so none is empty
    (one empty shard only for an empty table, which the Hub still needs a file for)."""
    n_shards = max(1, min(n_rows, n_shards))
    return [(i * n_rows // n_shards, (i + 1) * n_rows // n_shards) for i in range(n_shards)]


def _lineage_rows(path: Path) -> list[dict[str, Any]]:
    """The distinct (generation, depth) pairs of the rows, for the card's lineage line."""
    names = [c for c in LINEAGE_COLUMNS if c in schema_names(path)]
    if not names:
        return []
    rows = read_table(path, names).to_pylist()
    return [dict(pair) for pair in {tuple(sorted(r.items())) for r in rows}]


def check_loads(folder: Path, expected: dict[str, int]) -> None:
    """Each config must load with ``datasets.load_dataset(str(folder), name)`` and hold the rows written."""
    import datasets

    from ..rundir import _quiet_datasets

    with tempfile.TemporaryDirectory(prefix="synthgen-hub-check-", ignore_cleanup_errors=True) as cache, \
            _quiet_datasets():
        for name, n_rows in expected.items():
            try:
                loaded = datasets.load_dataset(str(folder), name, split="train", cache_dir=cache)
            except Exception as exc:  # noqa: BLE001 - any loader failure means the folder is not publishable
                raise PublishError(f"{folder}: config {name!r} does not load with datasets.load_dataset: {exc}",
                                   hint="this is a synthgen bug; please report it with the run directory") from exc
            if loaded.num_rows != n_rows:
                raise PublishError(f"{folder}: config {name!r} loads {loaded.num_rows} rows, expected {n_rows}")
            del loaded


def _check_replaceable(out: Path) -> None:
    _check_parent(out)
    if not out.exists():
        return
    if not out.is_dir() or (any(out.iterdir()) and not is_hub_folder(out)):
        raise PublishError(f"{out} exists and is not a synthgen Hub folder",
                           hint="choose a new or empty folder with --out")


def _check_parent(out: Path) -> None:
    """One clear error, before any work, when a folder above ``out`` is a file."""
    from ..errors import SynthgenError
    from ..outpaths import check_parent

    try:
        check_parent(out)
    except SynthgenError as exc:
        raise PublishError(exc.message, hint=exc.hint) from None


def is_hub_folder(path: Path) -> bool:
    """A folder this module wrote: a README.md whose front matter carries the ``synthgen`` tag."""
    readme = path / "README.md"
    try:
        head = readme.read_text(encoding="utf-8")[:4000]
    except OSError:
        return False
    return head.startswith("---\n") and "- synthgen\n" in head.split("\n---\n", 1)[0]
