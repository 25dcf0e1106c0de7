"""How generation k feeds generation k+1: a recipe dict per generation and the feed files it reads.

Real data is accumulated, never replaced: the few-shot pool of generation k+1 is the original real pool
plus generation k's synthetic records (those the mixer admitted, when [mix] is set).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..tabular import read_rows


@dataclass(frozen=True)
class FewShotSlot:
    """Where a recipe draws the few-shot examples that ``feed = 'few_shot'`` grows: the ``[prompt]``
    shorthand or the first step with ``few_shot``. ``keys`` locate its table in the raw recipe; ``column``
    is what that step writes, so its records become the next generation's examples."""

    keys: tuple[str | int, ...]
    config: Any  # FewShotConfig
    column: str


def few_shot_slot(recipe: Any) -> FewShotSlot | None:
    if recipe.prompt is not None:
        few_shot = recipe.prompt.few_shot
        return None if few_shot is None else FewShotSlot(("prompt",), few_shot, "text")
    for i, step in enumerate(recipe.steps):
        if getattr(step, "few_shot", None) is not None:
            return FewShotSlot(("steps", i), step.few_shot, step.name)
    return None


def _table(raw: dict[str, Any], keys: tuple[str | int, ...]) -> Any:
    for key in keys:
        raw = raw[key]
    return raw


def generation_raw(raw: dict[str, Any], k: int, project: Path, feed_file: Path | None,
                   previous_data: Path | None, sampling: dict[str, float] | None = None,
                   slot: FewShotSlot | None = None, previous_field: str = "text") -> dict[str, Any]:
    """The recipe of generation ``k``: its index and depth, its feed, shared history, its parent.
    With feed = 'generator', ``feed_file`` is the model folder the previous generation trained; with
    'few_shot' it replaces the pool of ``slot``. The gate compares with ``previous_data``'s
    ``previous_field`` (the gated column: a raw [[steps]] dataset has no ``text``)."""
    raw = copy.deepcopy(raw)
    raw["recipe"]["generation"] = k
    raw["recipe"]["depth"] = (raw["recipe"].get("depth") or 1) + k - 1
    feed = (raw.get("evolve") or {}).get("feed", "few_shot")
    if feed_file is not None and feed == "few_shot" and slot is not None:
        _table(raw, slot.keys)["few_shot"]["path"] = str(feed_file)
    if feed_file is not None and feed == "seeds":
        raw["seeds"] = {"type": "file", "path": str(feed_file)}
    if feed_file is not None and feed == "generator":
        raw["generation"].setdefault("backend", {"type": "vllm"})["model"] = str(feed_file)
    if "dedup" in raw:
        raw["dedup"]["history"] = str(project / "history")
    if "diversity" in raw and previous_data is not None:
        raw["diversity"]["previous"] = str(previous_data)
        raw["diversity"]["previous_field"] = previous_field
    if sampling:  # what the previous generation's gate remediation settled on, so it does not start over
        _sampling_table(raw, sampling.get("step")).update({k: v for k, v in sampling.items() if k != "step"})
    raw.setdefault("output", {})["dir"] = str(project / f"gen-{k}")
    return raw


def _sampling_table(raw: dict[str, Any], step: str | None) -> dict[str, Any]:
    """Where carried sampling goes: the gated step's own ``[steps.sampling]`` in a [[steps]] recipe (its
    keys override ``[generation.sampling]``, so a temperature written there alone would be ignored for that
    step and change the others), else ``[generation.sampling]``."""
    for table in raw.get("steps") or []:
        if table.get("name") == step:
            return table.setdefault("sampling", {})
    return raw["generation"].setdefault("sampling", {})


def feed_rows(run_dir: Path, column: str = "text", stride: int = 1) -> list[dict[str, Any]]:
    """A generation's records as feed rows: seed fields without their ``seed_`` prefix (not the provenance
    column ``seed_index``: as a seed field ``index`` it would clash with the next run's own), plus ``text``
    (the record's ``column``: the step whose examples or seeds they become). One row per record of that
    step: ``stride`` is how many records a later fan-out makes of each (see :func:`one_per_parent`)."""
    mix = run_dir / "mix" / "data.parquet"
    rows = [r for r in read_rows(mix) if r.get("source") == "synthetic"] if mix.exists() \
        else read_rows(run_dir / "data.parquet")
    return [{**{k[5:]: v for k, v in row.items() if k.startswith("seed_") and k != "seed_index"},
             "text": row[column], "id": row["id"]} for row in one_per_parent(rows, stride)]


def one_per_parent(rows: list[dict[str, Any]], stride: int) -> list[dict[str, Any]]:
    """The first row of each record of the fed step. Later fan-out steps (n > 1) give a record ``stride``
    children that share its columns; child ``j`` has ``candidate_index`` = the record's index + j × (a
    stride of later steps), all below ``stride``, so ``candidate_index // stride`` names the record. A row
    without ``candidate_index`` is kept."""
    if stride <= 1:
        return list(rows)
    seen: set[int] = set()
    kept = []
    for row in rows:
        index = row.get("candidate_index")
        if index is None:
            kept.append(row)
        elif int(index) // stride not in seen:
            seen.add(int(index) // stride)
            kept.append(row)
    return kept


def write_feed(run_dir: Path, real_pool: list[dict[str, Any]], feed: str, out: Path, text_field: str = "text",
               column: str = "text", stride: int = 1) -> Path:
    """The next generation's input file: real pool + records (few_shot), or the records alone (seeds);
    one row per record of the step that writes ``column`` (``stride``: see :func:`feed_rows`)."""
    rows = feed_rows(run_dir, column, stride)
    if feed == "few_shot":
        rows = real_pool + [{**row, text_field: row["text"]} for row in rows]
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("".join(json.dumps(row, ensure_ascii=False, default=str) + "\n" for row in rows), encoding="utf-8")
    tmp.replace(out)
    return out


def train_next_generator(command: str, run_dir: Path, model_dir: Path, k: int, where: str) -> Path:
    """Run the recipe's train_command on generation ``k``'s training data; returns the new model folder."""
    import shlex
    import subprocess

    from ..errors import SynthgenError

    mix = run_dir / "mix" / "data.parquet"
    data = mix if mix.exists() else run_dir / "data.parquet"
    args = shlex.split(command.format(data=shlex.quote(str(data)), model_dir=shlex.quote(str(model_dir)),
                                      generation=k))
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0 or not model_dir.exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise SynthgenError(f"{where}: train_command failed for generation {k} (exit {done.returncode}"
                            f"{', no ' + str(model_dir) if done.returncode == 0 else ''}): {' | '.join(tail)}",
                            hint="run the command by hand; it must save a model folder at {model_dir}")
    return model_dir
