"""How generation k feeds generation k+1: a recipe dict per generation and the feed files it reads.

Real data is accumulated, never replaced: the few-shot pool of generation k+1 is the original real pool
plus generation k's synthetic records (those the mixer admitted, when [mix] is set).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from ..tabular import read_rows


def generation_raw(raw: dict[str, Any], k: int, project: Path, feed_file: Path | None,
                   previous_data: Path | None, sampling: dict[str, float] | None = None) -> dict[str, Any]:
    """The recipe of generation ``k``: its index and depth, its feed, shared history, its parent.
    With feed = 'generator', ``feed_file`` is the model folder the previous generation trained."""
    raw = copy.deepcopy(raw)
    raw["recipe"]["generation"] = k
    raw["recipe"]["depth"] = (raw["recipe"].get("depth") or 1) + k - 1
    feed = (raw.get("evolve") or {}).get("feed", "few_shot")
    if feed_file is not None and feed == "few_shot":
        raw["prompt"]["few_shot"]["path"] = str(feed_file)
    if feed_file is not None and feed == "seeds":
        raw["seeds"] = {"type": "file", "path": str(feed_file)}
    if feed_file is not None and feed == "generator":
        raw["generation"].setdefault("backend", {"type": "vllm"})["model"] = str(feed_file)
    if "dedup" in raw:
        raw["dedup"]["history"] = str(project / "history")
    if "diversity" in raw and previous_data is not None:
        raw["diversity"]["previous"] = str(previous_data)
    if sampling:  # what the previous generation's gate remediation settled on, so it does not start over
        raw["generation"].setdefault("sampling", {}).update(sampling)
    raw.setdefault("output", {})["dir"] = str(project / f"gen-{k}")
    return raw


def feed_rows(run_dir: Path) -> list[dict[str, Any]]:
    """A generation's records as feed rows: seed fields without their ``seed_`` prefix, plus ``text``."""
    mix = run_dir / "mix" / "data.parquet"
    rows = [r for r in read_rows(mix) if r.get("source") == "synthetic"] if mix.exists() \
        else read_rows(run_dir / "data.parquet")
    return [{**{k[5:]: v for k, v in row.items() if k.startswith("seed_")}, "text": row["text"], "id": row["id"]}
            for row in rows]


def write_feed(run_dir: Path, real_pool: list[dict[str, Any]], feed: str, out: Path, text_field: str = "text") -> Path:
    """The next generation's input file: real pool + records (few_shot), or the records alone (seeds)."""
    rows = feed_rows(run_dir)
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
