"""``synthgen mix``: cap and mix any real and synthetic tables (a click command object).

Registered in the main group with ``cli.add_command(mix_command)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..cli_errors import reports_errors
from .base import MixError
from .mixer import MixResult
from .strategies import STRATEGIES


def run_mix(real: Path, synthetic: Path, out: Path, *, max_synthetic_share: float | None = None,
            strategy: str = "random", text_field: str = "text", real_text_field: str | None = None,
            **options: Any) -> MixResult:
    """Read both tables (jsonl/csv/parquet/saved dataset), mix them and write ``out``; returns the result."""
    from ..outpaths import check_out_dir
    from ..tabular import CURRENT_FOLDER, read_rows
    from .mixer import Mixer
    from .store import write_mix

    check_out_dir(out)
    mixer = Mixer(max_synthetic_share, strategy, text_field=text_field, real_text_field=real_text_field, **options)
    result = mixer.mix(read_rows(real, relative_to=CURRENT_FOLDER), read_rows(synthetic, relative_to=CURRENT_FOLDER))
    write_mix(result, out)
    return result


def _echo_result(result: MixResult, out: Path) -> None:
    dropped = ", ".join(f"{reason} {n}" for reason, n in result.dropped_by_reason().items()) or "none"
    click.echo(f"{result.n_real} real + {result.n_synthetic} synthetic rows (share {result.synthetic_share:.3f}, "
               f"cap {result.cap}) -> {out}")
    click.echo(f"dropped: {dropped}")
    if result.override_reason and result.cap > result.default_cap:
        click.echo(f"cap above the default {result.default_cap}: {result.override_reason}")
    for warning in result.warnings:
        click.echo(f"Warning: {warning}", err=True)


@click.command("mix")
@click.option("--real", required=True, type=click.Path(exists=True, path_type=Path),
              help="Real data: jsonl, csv, parquet or a saved dataset folder. Every row is kept.")
@click.option("--synthetic", required=True, type=click.Path(exists=True, path_type=Path),
              help="Synthetic rows to add, e.g. runs/<name>/data.parquet.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the mix: a saved dataset plus data.parquet, dropped.parquet and summary.json.")
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
@reports_errors
def mix_command(real: Path, synthetic: Path, out: Path, max_synthetic_share: float | None, strategy: str,
                text_field: str, real_text_field: str | None, stratify_by: str | None, score_field: str | None,
                override_reason: str | None, seed: int, depth: int, loop_temperature: float | None,
                loop_top_p: float | None) -> None:
    """Keep every REAL row and add synthetic rows up to a capped share (accumulate, never replace)."""
    try:
        result = run_mix(real, synthetic, out, max_synthetic_share=max_synthetic_share, strategy=strategy,
                         text_field=text_field, real_text_field=real_text_field, stratify_by=stratify_by,
                         score_field=score_field, override_reason=override_reason, seed=seed, depth=depth,
                         loop_temperature=loop_temperature, loop_top_p=loop_top_p)
    except MixError as exc:
        raise MixError(with_flags(exc.message), hint=with_flags(exc.hint)) from None
    _echo_result(result, out)


FLAGS = {"mix.max_synthetic_share": "--max-synthetic-share", "mix.override_reason": "--override-reason",
         "mix.stratify_by": "--stratify-by", "mix.score_field": "--score-field"}


def with_flags(text: str | None) -> str | None:
    """The mixer names its settings by their recipe keys; on the command line they are flags."""
    for key, flag in FLAGS.items():
        text = text.replace(key, flag) if text else text
    return text
