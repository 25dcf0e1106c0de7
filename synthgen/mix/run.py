"""Hooks for the runner and the evolve loop: a Mixer from a recipe's [mix] table, and a run's ``mix/``.

Kept apart from the Mixer so the mixer knows nothing of recipes, and the runner only calls
:func:`mix_run_dir` after ``data.parquet`` is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..errors import RecipeError, SynthgenError
from .base import MixError
from .measured import ShareMeasure
from .mixer import Mixer, MixResult
from .novelty import DiversityOrder
from .store import read_summary, write_mix

if TYPE_CHECKING:
    from ..recipe.mix_schema import MixConfig


def mixer_from_config(config: "MixConfig", *, depth: int = 1, loop_temperature: float | None = None,
                      loop_top_p: float | None = None, default_seed: int = 0,
                      diversity_order: DiversityOrder | None = None, where: str = "mix") -> Mixer:
    """A Mixer for ``config`` at ``depth``; its errors come back as RecipeErrors naming ``where``."""
    try:
        measure = ShareMeasure(config.max_perplexity_rise, config.validation_share) if config.measure_share else None
        return Mixer(config.max_synthetic_share, config.strategy, default_seed if config.seed is None else config.seed,
                     config.stratify_by, config.score_field, config.override_reason, depth, loop_temperature,
                     loop_top_p=loop_top_p, real_text_field=config.text_field, diversity_order=diversity_order,
                     measure=measure)
    except SynthgenError as exc:
        raise RecipeError(f"{where}: {exc.message}", hint=exc.hint) from None


def read_real_rows(config: "MixConfig", resolve: Callable[[Path], Path], where: str = "mix") -> list[dict[str, Any]]:
    """The real rows named by ``config.real`` (resolved against the recipe's folder by ``resolve``)."""
    from ..tabular import read_rows

    try:
        return read_rows(resolve(config.real), split=config.split)
    except SynthgenError as exc:
        raise RecipeError(f"{where}.real: {exc.message}", hint=exc.hint) from None


def read_validation_rows(config: "MixConfig", resolve: Callable[[Path], Path],
                         where: str = "mix") -> list[dict[str, Any]] | None:
    """The rows of ``config.validation`` (measured on only), or None when the recipe names none."""
    from ..tabular import read_rows

    if config.validation is None:
        return None
    try:
        return read_rows(resolve(config.validation))
    except SynthgenError as exc:
        raise RecipeError(f"{where}.validation: {exc.message}", hint=exc.hint) from None


def mix_run_dir(run_dir: str | Path, mixer: Mixer, real_rows: list[dict[str, Any]],
                synthetic_rows: list[dict[str, Any]] | None = None,
                validation_rows: list[dict[str, Any]] | None = None,
                progress: Callable[[str], None] | None = None) -> MixResult:
    """Mix a finished run's records (``synthetic_rows``, default its ``data.parquet``) with ``real_rows``
    and write ``<run_dir>/mix`` (``progress`` gets a line per step of a share measurement)."""
    from ..tabular import read_rows

    run_dir = Path(run_dir)
    synthetic = read_rows(run_dir / "data.parquet") if synthetic_rows is None else synthetic_rows
    result = mixer.mix(real_rows, synthetic, validation_rows, progress)
    write_mix(result, run_dir / "mix")
    return result


def failed_mix_summary(mixer: Mixer, error: SynthgenError, where: str = "mix") -> dict[str, Any]:
    """The run report's mix summary when the mix fails after generation (the report must still be
    written): nothing in ``mix/``, the error as ``error`` and as the warning the report shows."""
    message = str(error) if isinstance(error, RecipeError) else f"{where}: {error}"
    result = MixResult([], 0, 0, 0.0, [], mixer.cap, mixer.default_cap, None, mixer.override_reason,
                       mixer.strategy, mixer.settings(), [f"the mix was not written: {message}"])
    return {**result.summary(), "error": message}


def check_mix_written(summary: dict[str, Any] | None, run_dir: str | Path) -> None:
    """Raise the error of a mix that failed after generation (:func:`failed_mix_summary`); called once the
    run's dataset, report and manifest are written, so the failure loses none of them."""
    error = (summary or {}).get("error")
    if error:
        data, mix = Path(run_dir) / "data.parquet", Path(run_dir) / "mix"
        raise MixError(f"{mix} was not written: {error}",
                       hint=f"the dataset and report are written; fix what the error names, then build the mix with "
                            f"`{mix_command_line(summary, data, mix)}`")


def mix_command_line(summary: dict[str, Any], data: Path, mix: Path) -> str:
    """The ``synthgen mix`` command that builds the mix a run's [mix] table asked for (its summary); with
    ``--overwrite`` when ``mix`` still holds an earlier mix (``synthgen mix`` refuses to replace one)."""
    settings = summary.get("settings") or {}
    overwrite = " --overwrite" if read_summary(mix) is not None else ""
    parts = [f"synthgen mix --real REAL --synthetic {data} --out {mix}{overwrite}",
             f"--max-synthetic-share {summary.get('cap')} --seed {settings.get('seed', 0)}"]
    if settings.get("real_text_field") and settings.get("real_text_field") != settings.get("text_field", "text"):
        parts.append(f"--real-text-field {settings['real_text_field']}")
    if summary.get("strategy", "random") != "random":
        parts.append(f"--strategy {summary['strategy']}")
    named = (("stratify_by", "stratify-by"), ("score_field", "score-field"))
    parts += [f"--{flag} {settings[key]}" for key, flag in named if settings.get(key)]
    if summary.get("override_reason"):
        parts.append("--override-reason '...'")
    measure = settings.get("measure")
    if measure:
        parts.append(f"--measure-share --max-perplexity-rise {measure['max_perplexity_rise']} "
                     f"[--validation VALIDATION | --validation-share {measure['validation_share']}]")
    return " ".join(parts)
