"""Turn a finished (or budget-stopped) runner into the run directory's final artifacts."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Callable

from .errors import SynthgenError
from .formats import dataset_text, format_columns, format_rows
from .plan import RunPlan
from .provenance import normalize_rows, record_as_reject
from .records import as_text
from .report import build_report
from .report.build import OVER_TARGET, TARGET_STAGE
from .report.model import RunReport
from .rundir import RunDir
from .tabular import TOO_BIG, column_type_problem
from .verify.constraint import json_constraints
from .verify.structured import json_stage_summary

UNWRITTEN = "data.jsonl"


def split_over_target(kept: list[dict[str, Any]], target: int, chosen: list[int] | None = None
                      ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Keep ``target`` records (the first ones, or the ``chosen`` indices); the rest go to the rejects with
    reason ``over_target`` (never silently dropped)."""
    keep = set(range(min(target, len(kept)))) if chosen is None else set(chosen)
    extra = [record_as_reject(row, TARGET_STAGE, OVER_TARGET) for i, row in enumerate(kept) if i not in keep]
    return [row for i, row in enumerate(kept) if i in keep], extra


def diversity_texts(rows: list[dict[str, Any]], plan: RunPlan) -> list[str]:
    """The text of each row that diversity is measured on: the gated column, else the record's text."""
    return [as_text(row.get(plan.diversity_field, row["text"])) for row in rows]


def choose_diverse(kept: list[dict[str, Any]], target: int, plan: RunPlan) -> list[int] | None:
    """With [diversity] selection, the ``target`` records that cover the embedding space best."""
    if plan.selection is None or len(kept) <= target:
        return None
    from .diversity.embed import for_comparison
    from .diversity.select import select_diverse

    method, seed = plan.selection
    texts = diversity_texts(kept, plan)
    vectors = for_comparison(plan.embedder, texts).encode(texts)
    return sorted(int(i) for i in select_diverse(vectors, target, method, seed))


MEASURED = ("timings", "throughput", "forecast")  # what only the run that generated the data could measure


def finalize_run(runner: Any, plan: RunPlan, run_dir: RunDir, *, wall_start: float, resumed: int,
                 measured: RunReport | None = None) -> RunReport:
    """Write dataset/, data.parquet, rejected.parquet, mix/, report.json/md/html; return the report.

    ``measured``: the earlier report of a finished run re-run (a no-op: nothing generated). Its wall time,
    throughput, timings and forecast comparison stand (the no-op's own would be a fraction of a second of
    nothing); ``resumed_batches`` is the no-op's: every batch."""
    state = runner.state
    kept, extra = split_over_target(state.kept_rows, plan.target, choose_diverse(state.kept_rows, plan.target, plan))
    for stage in runner.stages:
        stage.finish_run(kept)
    rejected = normalize_rows(state.rejected_rows + extra)
    rows = normalize_rows(format_rows(kept, plan.output))
    write_dataset(run_dir, rows, format_columns(plan.output), rejected)
    run_dir.write_rejected(rejected)
    mix = mix_or_failure(plan, run_dir, rows, _stderr_line if runner.progress else None) if plan.mix else None
    report = build_report(
        name=plan.context.name, recipe_hash=plan.context.hash, target=plan.target, budget=plan.budget,
        stop_reason=runner.stop_reason() or "interrupted", counters=state.counters(),
        stages=[s.to_dict() for s in runner.all_stats()], n_kept=len(kept), n_rejected=len(rejected),
        rejected_rows=rejected, wall_seconds=time.perf_counter() - wall_start, resumed_batches=resumed)
    report.output = {"format": plan.output.format, "main_field": plan.output.main_field}
    if (short := runner.selection_pool_short()) is not None:
        report.extra["selection_pool"] = short
    report.mix = mix
    report.verification = plan.verification or None
    add_pipeline_facts(report, runner, run_dir)
    stages = [s.to_dict() for s in report.stages]
    report.structured = json_stage_summary(stages, json_constraints(runner.stages)) or None
    if runner.gate is not None:
        add_gate_results(report, runner)
        report.diversity = dataset_diversity(runner.gate, kept, plan)
    for name in MEASURED if measured is not None else ():
        setattr(report, name, getattr(measured, name))
    write_report(run_dir, report)
    return report


def write_dataset(run_dir: RunDir, rows: list[dict[str, Any]], columns: tuple[str, ...],
                  rejected: list[dict[str, Any]]) -> None:
    """``dataset/`` and ``data.parquet``. A column Arrow cannot store with one type (values the recipe
    checks could not foresee) must not lose the run: the rows are saved as they are in ``data.jsonl``, the
    rejects are written, and the error names the column."""
    import pyarrow as pa

    try:
        run_dir.write_dataset(rows, columns)
    except (pa.ArrowException, OverflowError) as exc:  # OverflowError: an int past 64 bits (a step's JSON)
        run_dir.write_text(UNWRITTEN, "".join(json.dumps(row, default=str) + "\n" for row in rows))
        run_dir.write_rejected(rejected)
        name, problem = _bad_column(rows) or ("?", str(exc).splitlines()[0])
        fix = ("have such numbers written as text (a string in the seeds, the step's prompt or its schema)"
               if problem.startswith(TOO_BIG) else "give that column's values one type (e.g. in the seeds)")
        raise SynthgenError(f"{run_dir.path}: cannot write the dataset: column {name!r} has {problem}",
                            hint=f"the {len(rows)} accepted records are saved in {run_dir.path / UNWRITTEN}; "
                                 f"{fix} and run again") from None


def _bad_column(rows: list[dict[str, Any]]) -> tuple[str, str] | None:
    for name in rows[0] if rows else ():
        problem = column_type_problem([row.get(name) for row in rows])
        if problem is not None:
            return name, problem
    return None


def add_pipeline_facts(report: RunReport, runner: Any, run_dir: RunDir) -> None:
    """Read-ahead facts, wall-clock rates, and the pilot's forecast against this outcome (when one was saved)."""
    from .pilot import compare_forecast, run_outcome

    for key, value in runner.pipelining.summary().items():
        setattr(report.throughput, key, value)
    report.timings.backend_seconds = round(runner.state.backend_seconds, 3)
    wall = report.timings.wall_seconds
    if wall and not report.resumed_batches:
        report.throughput.records_per_s = round(report.kept / wall, 3)
        report.throughput.candidates_per_s = round(report.throughput.candidates / wall, 3)
    report.forecast = compare_forecast(run_dir.path, report.to_dict(), run_outcome(runner))


def dataset_diversity(gate: Any, kept: list[dict[str, Any]], plan: RunPlan) -> list[dict[str, Any]] | None:
    """Every diversity metric of the final dataset against real, once (the gate computes only the metrics
    it gates on, window by window)."""
    texts = diversity_texts(kept, plan)
    return gate.final_metrics(texts) if texts else None


def add_gate_results(report: RunReport, runner: Any) -> None:
    checks = runner.gate.state.checks
    report.final_sampling = {**{k: getattr(runner.sampling, k) for k in ("temperature", "top_p")},
                             "step": runner.run_plan.gated_step}
    report.gates = checks
    report.gates_passed = not runner.gate_failed and bool(checks) and checks[-1]["passed"]
    if runner.gate_failed:
        report.status = "failed_gate"
        report.gate_failure = gate_failure_text(checks[-1], runner.limit_reason())


UNTRIED = {"budget_exhausted": "the candidate budget ran out before the remediated retry could be gated "
                               "(raise generation.max_candidates)",
           "source_exhausted": "the replay source ran out before the remediated retry could be gated"}


def gate_failure_text(check: dict[str, Any], limit: str | None) -> str:
    """The last check's summary; when it scheduled a retry that generation could not make, why."""
    summary = check["summary"]
    if (check.get("remediation") or {}).get("retry") and limit in UNTRIED:
        return f"{summary}; {UNTRIED[limit]}"
    return summary


def write_report(run_dir: RunDir, report: RunReport) -> None:
    """report.json, then report.md and report.html as ``synthgen report`` rebuilds them (samples read back
    from data.parquet and rejected.parquet, in the dataset's format)."""
    from .report.html import write_readable_reports

    run_dir.write_report(report)
    write_readable_reports(run_dir.path, report)


def mix_or_failure(plan: RunPlan, run_dir: RunDir, rows: list[dict[str, Any]],
                   progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """:func:`run_mix`'s summary; a mix that fails after generation must not lose the run's report, so
    its error becomes the summary (``error``) and ``api.execute`` raises it once everything is written."""
    from .mix.run import failed_mix_summary

    try:
        return run_mix(plan, run_dir, rows, progress)
    except SynthgenError as exc:
        return failed_mix_summary(plan.mix.mixer, exc, plan.mix.context.where("mix"))


def _stderr_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_mix(plan: RunPlan, run_dir: RunDir, rows: list[dict[str, Any]],
            progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Write ``mix/``: every real row plus synthetic rows (the dataset's ``rows``, already in memory) up to
    the cap; returns the mix summary. A record of any format is mixed by its text (a steps record's dataset
    row gets a ``text`` column in the mix: its main step column, or its conversation, prompt and answer)."""
    from .mix.run import mix_run_dir

    synthetic = [row if "text" in row else {**row, "text": dataset_text(row, plan.output.main_field)} for row in rows]
    return mix_run_dir(run_dir.path, plan.mix.mixer, plan.mix.real_rows(), synthetic,
                       plan.mix.validation_rows(), progress).summary()
