"""The run directory: ownership check, per-batch checkpoints for resume, and the final artifacts.

Every file is written to a temporary name and renamed into place, so a run killed at any moment leaves
either the old file or the new one, never half of one. Only synthgen's own artifacts are ever deleted.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from .atomic import replace_folder, write_json_atomic
from .errors import RunDirError, option

log = logging.getLogger(__name__)

STATE = "run.json"
CHECKPOINTS = "checkpoints"
ARTIFACTS = ("dataset", "data.parquet", "rejected.parquet", "mix", "report.json", "report.md", "report.html",
             "manifest.json", "hub", CHECKPOINTS)


class RunDir:
    """One run's folder and every path in it, for writing (``prepare`` claims it for a recipe hash or
    refuses a foreign one) and for reading a finished run (``open``: report, publish, evolve)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.checkpoints = self.path / CHECKPOINTS

    @classmethod
    def open(cls, path: Path | str) -> "RunDir":
        """An existing run; a folder without a report is refused with what to do."""
        run = cls(Path(path))
        if not run.report_path.is_file():
            raise RunDirError(f"{run.path}: not a finished synthgen run (no report.json)",
                              hint="pass the run directory that `synthgen generate` printed")
        return run

    # --- paths ----------------------------------------------------------------------------------------

    @property
    def dataset_dir(self) -> Path:
        return self.path / "dataset"

    @property
    def data_path(self) -> Path:
        return self.path / "data.parquet"

    @property
    def rejected_path(self) -> Path:
        return self.path / "rejected.parquet"

    @property
    def mix_dir(self) -> Path:
        return self.path / "mix"

    @property
    def mix_data_path(self) -> Path:
        return self.mix_dir / "data.parquet"

    @property
    def report_path(self) -> Path:
        return self.path / "report.json"

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    # --- json documents -------------------------------------------------------------------------------

    def read_json(self, path: Path) -> dict[str, Any] | None:
        """A JSON document of the run, None when missing; a corrupt one is an error naming the file."""
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            raise RunDirError(f"{path} is corrupt", hint=f"{option('run again')} to rewrite it") from None

    def read_report(self) -> Any:
        """The run's RunReport (None before the run finished)."""
        from .report.model import RunReport

        data = self.read_json(self.report_path)
        return None if data is None else RunReport.from_dict(data)

    def read_manifest(self) -> dict[str, Any] | None:
        return self.read_json(self.manifest_path)

    def write_report(self, report: Any) -> None:
        write_json_atomic(self.report_path, report.to_dict())

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_json_atomic(self.manifest_path, manifest)

    def previous_backend(self) -> dict[str, Any] | None:
        """The backend a resumed run's manifest recorded (None for a new run or an unreadable manifest)."""
        try:
            manifest = self.read_manifest()
        except RunDirError:
            return None
        return (manifest or {}).get("backend")

    def prepare(self, recipe_hash: str, overwrite: bool = False, *, identity: dict[str, Any] | None = None,
                can_overwrite: bool = True) -> None:
        """Claim the folder for ``recipe_hash`` (``identity`` adds what :func:`run_identity` knows, so a
        refusal can say what differs). A folder claimed by another recipe that holds no data yet (a run
        that failed before its first checkpoint, or a saved forecast) is taken over: it is not a run.
        ``can_overwrite=False`` (``synthgen plan``) keeps --overwrite out of the hints."""
        state = {"recipe_hash": recipe_hash, **(identity or {})}
        if overwrite:
            self.clear()
        else:
            owner = self.check_claim(state, can_overwrite)
            if owner is not None and owner["recipe_hash"] == recipe_hash:
                state = {**owner, **state}  # `synthgen plan` knows only the hash: keep what generate recorded
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.path / STATE, state)

    def check_claim(self, state: dict[str, Any], can_overwrite: bool) -> dict[str, Any] | None:
        """Refuse a folder that is not a run, or that holds data another recipe made; returns the current
        ``run.json`` (None when there is none)."""
        owner = self._state()
        if owner is None:
            if self.path.exists() and any(self.path.iterdir()):
                overwrite = f", or pass {option('overwrite')}" if can_overwrite else ""
                raise RunDirError(f"{self.path} exists and is not a synthgen run directory",
                                  hint=f"choose an empty folder with {option('out')}{overwrite}")
            return None
        if owner["recipe_hash"] == state["recipe_hash"]:
            return owner
        if not self.has_data():
            log.info("%s: taking over a run directory that holds no data yet (claimed by recipe %s)",
                     self.path, owner["recipe_hash"])
            return owner
        raise RunDirError(self._difference(owner, state), hint=self._replace_hint(owner, state, can_overwrite))

    def _difference(self, owner: dict[str, Any], state: dict[str, Any]) -> str:
        if _target_only(owner, state):
            return (f"{self.path} holds a run of a different recipe: only generation.target differs "
                    f"({owner['target']} there, {state['target']} here{option('limit lowers it')})")
        return (f"{self.path} holds a run of a different recipe (hash {owner['recipe_hash']}, "
                f"this one is {state['recipe_hash']})")

    @staticmethod
    def _replace_hint(owner: dict[str, Any], state: dict[str, Any], can_overwrite: bool) -> str:
        """What to do: resume with the run's own target, or write elsewhere (or replace it, under generate)."""
        replace = f" or {option('overwrite')} to replace it" if can_overwrite else ""
        out = option("out")
        if _target_only(owner, state) and state["target"] < owner["target"]:
            return (f"a run directory holds one target: resume it with target {owner['target']} "
                    f"({option('no limit')}); pass {out} for a preview{replace}")
        if _target_only(owner, state):
            return f"a run directory holds one target: pass {out} for the larger run{replace}"
        return f"pass {out} to write elsewhere{replace}"

    def has_data(self) -> bool:
        """Whether the run made anything: a checkpoint shard, a dataset or a report."""
        if any(self.checkpoints.glob("batch-*.json")):
            return True
        return any(path.exists() for path in (self.dataset_dir, self.data_path, self.report_path))

    def _state(self) -> dict[str, Any] | None:
        state = self.path / STATE
        if not state.is_file():
            return None
        try:
            data = json.loads(state.read_text())
            data["recipe_hash"]
        except (ValueError, KeyError, TypeError):
            raise RunDirError(f"{state} is corrupt",
                              hint=f"pass {option('overwrite')} to start this run again") from None
        return data

    def clear(self) -> None:
        """Delete synthgen's artifacts (and nothing else) from the folder."""
        for name in (*ARTIFACTS, STATE):
            target = self.path / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()

    # --- checkpoints --------------------------------------------------------------------------------

    def write_checkpoint(self, batch: int, shard: dict[str, Any]) -> None:
        write_json_atomic(self.checkpoints / f"batch-{batch:06d}.json", shard)

    def read_checkpoints(self) -> list[dict[str, Any]]:
        """Shards in batch order; they must be contiguous from 0 (a gap means tampering)."""
        shards = []
        for expected, path in enumerate(sorted(self.checkpoints.glob("batch-*.json"))):
            try:
                shard = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                raise RunDirError(f"{path} is corrupt", hint="delete it to regenerate that batch") from None
            if shard.get("batch") != expected:
                raise RunDirError(f"{path}: expected batch {expected}", hint="checkpoints must be contiguous")
            shards.append(shard)
        return shards

    # --- final artifacts ----------------------------------------------------------------------------

    def write_dataset(self, rows: list[dict[str, Any]], empty_columns: tuple[str, ...] = ("id", "text")) -> None:
        """``dataset/`` (save_to_disk) and ``data.parquet`` with the same rows (a run that kept nothing
        writes the format's columns, empty)."""
        import datasets

        from .tabular import write_parquet

        empty = {name: [] for name in empty_columns}
        dataset = datasets.Dataset.from_list(rows) if rows else datasets.Dataset.from_dict(empty)
        tmp = self.path / ".dataset.tmp"
        if tmp.exists():
            shutil.rmtree(tmp)
        with _quiet_datasets():  # num_shards=1: datasets 5.2 cannot reload an empty dataset saved without it
            dataset.save_to_disk(str(tmp), num_shards=1 if not rows else None)
        replace_folder(tmp, self.dataset_dir)
        write_parquet(rows, self.data_path, schema=None if rows else dataset.data.schema)

    def write_rejected(self, rows: list[dict[str, Any]]) -> None:
        from .tabular import write_parquet

        write_parquet(rows, self.rejected_path, schema=_rejected_schema())

    def write_text(self, name: str, text: str) -> None:
        tmp = self.path / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(self.path / name)


def run_identity(loaded: Any) -> dict[str, Any]:
    """What ``run.json`` records beside the recipe hash: the target and the hash of the recipe without it,
    so a run directory refused for ``--limit`` (which only lowers the target) can say exactly that."""
    from .recipe.load import recipe_hash

    recipe = loaded.recipe
    untargeted = recipe.model_copy(update={"generation": recipe.generation.model_copy(update={"target": 1})})
    return {"target": recipe.generation.target, "hash_except_target": recipe_hash(untargeted)}


def _target_only(owner: dict[str, Any], state: dict[str, Any]) -> bool:
    """The two recipes differ in generation.target only (both run.json files know their untargeted hash)."""
    return (owner.get("hash_except_target") is not None and "target" in owner
            and owner.get("hash_except_target") == state.get("hash_except_target"))


class _quiet_datasets:
    """Silence datasets' own progress bars while we save (ours already reports progress)."""

    def __enter__(self):
        import datasets.utils as ds_utils

        self._was_enabled = not ds_utils.are_progress_bars_disabled()
        ds_utils.disable_progress_bars()
        return self

    def __exit__(self, *exc):
        import datasets.utils as ds_utils

        if self._was_enabled:
            ds_utils.enable_progress_bars()


def _rejected_schema():
    """The columns :func:`synthgen.provenance.rejection_row` writes, with fixed types: a run that rejected
    nothing, or whose rejects all lack a value (no reject with columns), has the same rejected.parquet
    schema as any other (concatenating runs' rejects must not fail on it)."""
    import pyarrow as pa

    return pa.schema([("id", pa.string()), ("candidate_index", pa.int64()), ("stage", pa.string()),
                      ("reason", pa.string()), ("score", pa.float64()), ("evidence", pa.string()),
                      ("text", pa.string()), ("seed_index", pa.int64()), ("prompt_hash", pa.string()),
                      ("n_tokens", pa.int64()), ("finish_reason", pa.string()), ("created_at", pa.string()),
                      ("columns", pa.string())])
