"""``synthgen mix``: cap and mix any real and synthetic tables (a click command object).

Registered in the main group with ``cli.add_command(mix_command)``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

from ..cli_errors import reports_errors
from .base import MixError
from .measured import ShareMeasure, describe_measurement
from .mixer import MixResult
from .strategies import STRATEGIES


def run_mix(real: Path, synthetic: Path, out: Path, *, max_synthetic_share: float | None = None,
            strategy: str = "random", text_field: str = "text", real_text_field: str | None = None,
            validation: Path | None = None, overwrite: bool = True, **options: Any) -> MixResult:
    """Read both tables (jsonl/csv/parquet/saved dataset), mix them and write ``out``; returns the result.
    ``validation`` (with ``measure``): real rows the generator never saw, measured on only. ``overwrite``
    False refuses an ``out`` that already holds a mix (``synthgen mix`` does, unless ``--overwrite``)."""
    from ..outpaths import check_out_dir
    from ..tabular import CURRENT_FOLDER, read_rows
    from .mixer import Mixer
    from .store import write_mix

    check_out_dir(out)
    check_unused_out(out, overwrite)
    mixer = Mixer(max_synthetic_share, strategy, text_field=text_field, real_text_field=real_text_field, **options)
    held_out = None if validation is None else read_rows(validation, relative_to=CURRENT_FOLDER)
    real_rows = read_rows(real, relative_to=CURRENT_FOLDER)
    synthetic_rows = read_rows(synthetic, relative_to=CURRENT_FOLDER)
    check_text_column(real_rows, real_text_field or text_field, real, "real", "--real-text-field")
    check_text_column(synthetic_rows, text_field, synthetic, "synthetic", "--text-field")
    try:
        result = mixer.mix(real_rows, synthetic_rows, held_out, lambda line: click.echo(line, err=True))
    except MixError as exc:
        if validation is not None and "mix.validation" in exc.message:
            raise MixError(f"{validation}: {exc.message}", hint=exc.hint) from None
        raise
    write_mix(result, out)
    return result


def check_unused_out(out: Path, overwrite: bool) -> None:
    """A MixError when ``out`` already holds a synthgen mix and ``overwrite`` is off: replacing it would lose
    the earlier mix's rows, dropped rows and summary (as ``synthgen dedup`` refuses its earlier result).
    A run's own ``mix/``, which ``synthgen generate`` writes, is replaced without asking (mix.run)."""
    from .store import read_summary

    if not overwrite and Path(out).is_dir() and read_summary(out) is not None:
        raise MixError(f"--out {out} already holds a mix (summary.json)",
                       hint="pass --overwrite to replace it, or choose another --out folder")


def check_text_column(rows: list[dict[str, Any]], field: str, path: Path, side: str, option: str) -> None:
    """A MixError naming the file and the option that sets its text column when no row of ``path`` has
    ``field`` (the mixer's own check names neither: it never sees files or flags)."""
    from .fields import check_text_field

    try:
        check_text_field(rows, field, side)
    except MixError as exc:
        raise MixError(f"{path}: {exc.message}",
                       hint=f"{option} names the {side} rows' text column; {exc.hint}") from None


def _echo_result(result: MixResult, out: Path) -> None:
    dropped = ", ".join(f"{reason} {n}" for reason, n in result.dropped_by_reason().items()) or "none"
    click.echo(f"{result.n_real} real + {result.n_synthetic} synthetic rows (share {result.synthetic_share:.3f}, "
               f"cap {result.cap}) -> {out}")
    click.echo(f"dropped: {dropped}")
    if result.override_reason and result.cap > result.default_cap:
        click.echo(f"cap above the default {result.default_cap}: {result.override_reason}")
    if result.measured is not None:
        click.echo(describe_measurement(result.measured.summary()))
    for warning in result.warnings:
        click.echo(f"Warning: {with_flags(warning)}", err=True)


@click.command("mix")
@click.option("--real", required=True, type=click.Path(exists=True, path_type=Path),
              help="Real data: jsonl, csv, parquet or a saved dataset folder. Every row is kept.")
@click.option("--synthetic", required=True, type=click.Path(exists=True, path_type=Path),
              help="Synthetic rows to add, e.g. runs/<name>/data.parquet.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the mix: a saved dataset plus data.parquet, dropped.parquet and summary.json; one "
                   "already holding a mix is refused unless --overwrite.")
@click.option("--overwrite", is_flag=True,
              help="Replace the mix already in --out (a --real or --synthetic inside --out is read first).")
@click.option("--max-synthetic-share", type=float,
              help="Synthetic fraction of the whole mix, 0-1 [default: 0.5; 0.3 at --depth 2+; 0.2 when that "
                   "loop samples at T<1].")
@click.option("--strategy", type=click.Choice(list(STRATEGIES)), default="random", show_default=True,
              help="Which synthetic rows fill the capped share.")
@click.option("--text-field", default="text", show_default=True, help="Text column of the synthetic rows and the mix.")
@click.option("--real-text-field", help="Text column of the real rows (default: --text-field); renamed in the mix.")
@click.option("--stratify-by", help="Column for --strategy stratified, e.g. seed_topic.")
@click.option("--score-field", help="Score for --strategy best_score: a column or a key of the scores column.")
@click.option("--override-reason", help="Why a cap above the default is safe here (required for one).")
@click.option("--seed", type=int, default=0, show_default=True, help="Selection seed.")
@click.option("--depth", type=click.IntRange(min=0), default=1, show_default=True,
              help="Generations between the synthetic data and human data (2+: a model trained on synthetic data).")
@click.option("--loop-temperature", type=float, help="Sampling temperature of that recursive generator.")
@click.option("--loop-top-p", type=float, help="Sampling top-p of that recursive generator.")
@click.option("--measure-share", is_flag=True,
              help="Keep, below the cap, only the share at which held-out real text's n-gram perplexity rises by "
                   "at most --max-perplexity-rise.")
@click.option("--max-perplexity-rise", type=click.FloatRange(min=0, min_open=True), callback=lambda c, p, v: _finite(v),
              help="With --measure-share: the held-out perplexity rise allowed [default: 0.05].")
@click.option("--validation", type=click.Path(exists=True, path_type=Path),
              help="With --measure-share: real rows the generator never saw, measured on only (default: "
                   "--validation-share of the real rows, held out of the measurement).")
@click.option("--validation-share", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="With --measure-share and no --validation: real rows held out to measure on [default: 0.2].")
@reports_errors
def mix_command(real: Path, synthetic: Path, out: Path, overwrite: bool, max_synthetic_share: float | None,
                strategy: str, text_field: str, real_text_field: str | None, stratify_by: str | None,
                score_field: str | None, override_reason: str | None, seed: int, depth: int,
                loop_temperature: float | None,
                loop_top_p: float | None, measure_share: bool, max_perplexity_rise: float | None,
                validation: Path | None, validation_share: float | None) -> None:
    """Keep every REAL row and add synthetic rows up to a capped share (accumulate, never replace)."""
    check_measure_flags(measure_share, max_perplexity_rise, validation, validation_share)
    try:
        measure = measure_settings(measure_share, max_perplexity_rise, validation_share)
        result = run_mix(real, synthetic, out, max_synthetic_share=max_synthetic_share, strategy=strategy,
                         text_field=text_field, real_text_field=real_text_field, stratify_by=stratify_by,
                         score_field=score_field, override_reason=override_reason, seed=seed, depth=depth,
                         loop_temperature=loop_temperature, loop_top_p=loop_top_p, measure=measure,
                         validation=validation, overwrite=overwrite)
    except MixError as exc:
        raise MixError(with_flags(exc.message), hint=with_flags(exc.hint)) from None
    _echo_result(result, out)


def _finite(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number (e.g. 0.05: at most a 5% rise)")
    return value


def check_measure_flags(measure_share: bool, rise: float | None, validation: Path | None,
                        validation_share: float | None) -> None:
    """The share-measurement flags only with ``--measure-share``, and never both ways to hold text out."""
    given = [flag for flag, value in (("--max-perplexity-rise", rise), ("--validation", validation),
                                      ("--validation-share", validation_share)) if value is not None]
    if given and not measure_share:
        raise click.UsageError(f"{', '.join(given)}: used only with --measure-share; add it, or drop "
                               f"{'them' if len(given) > 1 else 'it'}")
    if validation is not None and validation_share is not None:
        raise click.UsageError("--validation-share holds real rows out when there is no --validation file; with "
                               "--validation it is not used: drop one of them")


def measure_settings(measure_share: bool, rise: float | None, validation_share: float | None) -> ShareMeasure | None:
    if not measure_share:
        return None
    default = ShareMeasure()
    return ShareMeasure(default.max_perplexity_rise if rise is None else rise,
                        default.validation_share if validation_share is None else validation_share)


FLAGS = {"mix.max_synthetic_share": "--max-synthetic-share", "mix.override_reason": "--override-reason",
         "mix.stratify_by": "--stratify-by", "mix.score_field": "--score-field", "mix.measure_share": "--measure-share",
         "mix.validation_share": "--validation-share", "mix.validation": "--validation",
         "mix.max_perplexity_rise": "--max-perplexity-rise", "mix.text_field": "--real-text-field",
         "mix.real": "--real"}


def with_flags(text: str | None) -> str | None:
    """The mixer names its settings by their recipe keys; on the command line they are flags."""
    for key, flag in FLAGS.items():
        text = text.replace(key, flag) if text else text
    return text
