"""The body of the evolve loop: one generation at a time, measured, recorded, fed forward or stopped."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..errors import RunDirError
from ..lineage import Ledger, LineageEntry
from .loop import DUPLICATE_REASONS, EvolveResult, Evolution
from .measure import NoiseFloor, health, noise_floor, word_budget_floor
from .stoprule import best_generation, should_stop
from ..rundir import RunDir


def run_generations(ev: Evolution) -> EvolveResult:
    from .report import write_collapse_report

    ev.project.mkdir(parents=True, exist_ok=True)
    ledger = Ledger.open(ev.project)
    reference = reference_texts(ev)
    ledger.add(LineageEntry("real", depth=0, counts=_real_counts(ev, reference)), replace_existing=True)
    embedder = _embedder(ev, reference)
    floor = noise_floor(reference, measured_size(ev), ev.config.stop_metrics, embedder, ev.base.recipe.recipe.seed)
    result, history = EvolveResult(ev.project), []
    _keep_floor(result, floor)
    feed_file = previous = sampling = None
    parent = "real"
    for k in range(1, ev.count + 1):
        run, row, texts = _run_one(ev, k, feed_file, previous, reference, embedder, sampling)
        ledger.add(_entry(k, parent, run, row), replace_existing=True)
        history.append(row["measures"])
        floor = word_budget_floor(floor, texts, reference, ev.base.recipe.recipe.seed)
        decision = should_stop(history, ev.config.tolerance, ev.config.patience, floor.values)
        row["stop"], row["unjudged"] = decision.reason, list(decision.unjudged)
        result.generations.append(row)
        _keep_floor(result, floor)
        result.stop_reason = _why_stop(k, run, decision)
        if result.stop_reason:
            break
        feed_file = _feed(ev, run, k)
        previous, parent = RunDir(run.run_dir).data_path, f"gen-{k}"
        sampling = run.report.final_sampling
    best = best_generation(history)
    if best is not None:
        result.best = f"gen-{best + 1}"
        ledger.mark_best(result.best)
    write_collapse_report(ev.project, result)
    return result


def _keep_floor(result: EvolveResult, floor: NoiseFloor) -> None:
    result.noise, result.noise_notes = dict(floor.values), dict(floor.notes)


def _real_counts(ev: Evolution, reference: list[str]) -> dict[str, int]:
    """The real node's row counts, named for what they are: the held-out reference the generations are
    measured against and, when the recipe has one, the real few-shot pool generation 1 was made from."""
    from ..tabular import read_rows

    counts = {"reference_rows": len(reference)}
    if ev.slot is not None:
        counts["few_shot_rows"] = len(read_rows(ev.base.resolve(ev.slot.config.path)))
    return counts


def _run_one(ev: Evolution, k: int, feed_file: Path | None, previous: Path | None, reference: list[str],
             embedder: Any, sampling: dict[str, float] | None) -> tuple[Any, dict[str, Any], list[str]]:
    from ..api import run_recipe

    loaded = ev.generation_recipe(k, feed_file, previous, sampling)
    backend = ev.backend_for(k, loaded)
    try:
        run = run_recipe(loaded, backend=backend, progress=ev.progress, close_backend=ev.backend_factory is not None)
    except RunDirError as exc:  # its hint names generate's --overwrite / --out, which evolve has not
        raise RunDirError(exc.message, hint=f"an evolve project holds the generations of one recipe: pass --project "
                                            f"DIR to start a new one, or delete {ev.project} to start over") from None
    texts = measured_texts(ev, run.dataset)
    measured = health(texts, reference, ev.config.stop_metrics, embedder, seed=loaded.recipe.recipe.seed)
    return run, generation_row(k, run, measured), texts


def measured_size(ev: Evolution) -> int:
    """How many texts a generation of ``target`` records is measured on (:func:`measured_texts`): one per
    record of the fed step, so ``target / fed_stride`` when a later step fans out. The noise floor is taken
    at this size: real data strays further at a smaller one, and a floor measured at ``target`` texts
    would be too low, letting the stop rule fire on noise."""
    return math.ceil(ev.base.recipe.generation.target / ev.fed_stride)


def measured_texts(ev: Evolution, dataset: Any) -> list[str]:
    """The texts the health measures see: one per record of the step that writes them (the fed step), as
    fed forward; a later fan-out step copies that column into each of its children."""
    from .feed import one_per_parent

    indexes = dataset["candidate_index"] if "candidate_index" in dataset.column_names else None
    rows = [{"text": text, "candidate_index": indexes[i] if indexes is not None else None}
            for i, text in enumerate(dataset[ev.text_column])]
    return [str(row["text"]) for row in one_per_parent(rows, ev.fed_stride)]


def generation_row(k: int, run: Any, measured: dict[str, Any]) -> dict[str, Any]:
    """One line of the collapse report: counts, rates, the mix share, gate result and health measures."""
    report = run.report
    candidates = report.throughput.candidates or 0
    duplicates = sum(s.reasons.get(r, 0) for s in report.stages for r in DUPLICATE_REASONS)
    return {
        "generation": k, "id": f"gen-{k}", "run_dir": str(run.run_dir), "status": report.status,
        "kept": report.kept, "candidates": candidates,
        "acceptance_rate": report.acceptance_rate,
        "duplicate_rate": round(duplicates / candidates, 4) if candidates else None,
        "synthetic_share": (report.mix or {}).get("synthetic_share"),
        "gates_passed": report.gates_passed, "gate_failure": report.gate_failure,
        "measures": measured["measures"], "metrics": measured["table"],
    }


def _entry(k: int, parent: str, run: Any, row: dict[str, Any]) -> LineageEntry:
    manifest = run.manifest
    counts = {"kept": row["kept"], "candidates": row["candidates"], "rejected": run.report.rejected}
    return LineageEntry(f"gen-{k}", (parent,), model=(manifest.get("backend") or {}).get("model"),
                        recipe_hash=manifest["recipe_hash"], counts=counts, metrics=row["measures"],
                        run_dir=row["run_dir"], extra={"status": row["status"], "mix": run.report.mix})


def _why_stop(k: int, run: Any, decision: Any) -> str | None:
    if run.report.failed_gate:
        return f"generation {k} failed its quality gate: {run.report.gate_failure}"
    if decision.stop:
        return f"generation {k}: {decision.reason}"
    if run.report.kept == 0:
        return f"generation {k} kept no records: nothing to feed forward"
    return None


def _feed(ev: Evolution, run: Any, k: int) -> Path:
    from ..tabular import read_rows
    from .feed import train_next_generator, write_feed

    if ev.config.feed == "generator":
        ev.close()  # the next generation loads the newly trained model
        return train_next_generator(ev.config.train_command, run.run_dir, ev.project / f"model-{k + 1}", k,
                                    f"{ev.path}:evolve.train_command")
    few_shot = ev.slot.config if ev.slot else None
    pool = read_rows(ev.base.resolve(few_shot.path)) if (few_shot and ev.config.feed == "few_shot") else []
    field = few_shot.field if few_shot else "text"
    return write_feed(run.run_dir, pool, ev.config.feed, ev.project / f"gen-{k}-feed.jsonl", field, ev.text_column,
                      ev.fed_stride)


def reference_texts(ev: Evolution) -> list[str]:
    """Held-out real texts: [evolve].reference, else [diversity].reference, [mix].real, the few-shot file."""
    from ..diversity.build import read_texts
    from ..errors import RecipeError

    recipe, config = ev.base.recipe, ev.config
    candidates = [(config.reference, config.reference_field),
                  (recipe.diversity.reference, recipe.diversity.reference_field) if recipe.diversity else (None, None),
                  (recipe.mix.real, recipe.mix.text_field) if recipe.mix else (None, None),
                  (ev.slot.config.path, ev.slot.config.field) if ev.slot else (None, None)]
    for path, text_field in candidates:
        if path is not None:
            return read_texts(ev.base.resolve(path), text_field)
    raise RecipeError(f"{ev.path}:evolve.reference: the stop rule needs held-out real texts",
                      hint="set evolve.reference = 'real.jsonl'")


def _embedder(ev: Evolution, reference: list[str]) -> Any:
    from ..diversity.embed import MiniLMEmbedder, TfidfSvdEmbedder, prepare

    if ev.config.embedder == "minilm":
        return MiniLMEmbedder()
    return prepare(TfidfSvdEmbedder(n_components=min(64, max(2, len(reference) // 2))), reference)
