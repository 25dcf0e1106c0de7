"""Reading a run's parquet files (data.parquet, rejected.parquet, mix/data.parquet) for the report and
publish: a damaged file is one error naming it, never a pyarrow traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import RunDirError

DATA_FILES = ("data.parquet", "rejected.parquet")


def damaged(path: Path, exc: Exception) -> RunDirError:
    """The error for a parquet file pyarrow cannot read."""
    detail = " ".join(str(exc).split())[:160]
    return RunDirError(f"{path} is not a readable parquet file ({detail})",
                       hint="restore it from a copy, or run `synthgen generate` on the recipe again to rewrite it")


def _guarded(path: Path, read: Any) -> Any:
    import pyarrow as pa

    try:
        return read()
    except (pa.ArrowException, OSError) as exc:
        raise damaged(path, exc) from None


def schema_names(path: Path) -> list[str]:
    """The column names of ``path``."""
    import pyarrow.parquet as pq

    return _guarded(path, lambda: pq.read_schema(path).names)


def read_table(path: Path, columns: list[str] | None = None) -> Any:
    """The whole table of ``path`` (only ``columns`` when given)."""
    import pyarrow.parquet as pq

    return _guarded(path, lambda: pq.read_table(path, columns=columns))


def row_count(path: Path) -> int:
    """The rows of ``path`` from its footer."""
    import pyarrow.parquet as pq

    return _guarded(path, lambda: pq.ParquetFile(path).metadata.num_rows)


def require_data_files(run_dir: Path) -> None:
    """Refuse to rebuild a report whose data files are gone: report.md would silently lose its samples."""
    missing = [name for name in DATA_FILES if not (Path(run_dir) / name).is_file()]
    if missing:
        raise RunDirError(f"{run_dir}: {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing, so the "
                          "report's samples cannot be read; report.md and report.html were left as they were",
                          hint="restore the run's data files, or run `synthgen generate` on the recipe again "
                               "to rewrite them")
