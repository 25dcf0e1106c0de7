"""Hooks for the runner and the evolve loop: a Mixer from a recipe's [mix] table, and a run's ``mix/``.

Kept apart from the Mixer so the mixer knows nothing of recipes, and the runner only calls
:func:`mix_run_dir` after ``data.parquet`` is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..errors import RecipeError, SynthgenError
from .mixer import Mixer, MixResult
from .novelty import DiversityOrder
from .store import write_mix

if TYPE_CHECKING:
    from ..recipe.mix_schema import MixConfig


def mixer_from_config(config: "MixConfig", *, depth: int = 1, loop_temperature: float | None = None,
                      loop_top_p: float | None = None, default_seed: int = 0,
                      diversity_order: DiversityOrder | None = None, where: str = "mix") -> Mixer:
    """A Mixer for ``config`` at ``depth``; its errors come back as RecipeErrors naming ``where``."""
    try:
        return Mixer(config.max_synthetic_share, config.strategy, default_seed if config.seed is None else config.seed,
                     config.stratify_by, config.score_field, config.override_reason, depth, loop_temperature,
                     loop_top_p=loop_top_p, real_text_field=config.text_field, diversity_order=diversity_order)
    except SynthgenError as exc:
        raise RecipeError(f"{where}: {exc.message}", hint=exc.hint) from None


def read_real_rows(config: "MixConfig", resolve: Callable[[Path], Path], where: str = "mix") -> list[dict[str, Any]]:
    """The real rows named by ``config.real`` (resolved against the recipe's folder by ``resolve``)."""
    from ..tabular import read_rows

    try:
        return read_rows(resolve(config.real), split=config.split)
    except SynthgenError as exc:
        raise RecipeError(f"{where}.real: {exc.message}", hint=exc.hint) from None


def mix_run_dir(run_dir: str | Path, mixer: Mixer, real_rows: list[dict[str, Any]],
                synthetic_rows: list[dict[str, Any]] | None = None) -> MixResult:
    """Mix a finished run's records (``synthetic_rows``, default its ``data.parquet``) with ``real_rows``
    and write ``<run_dir>/mix``."""
    from ..tabular import read_rows

    run_dir = Path(run_dir)
    synthetic = read_rows(run_dir / "data.parquet") if synthetic_rows is None else synthetic_rows
    result = mixer.mix(real_rows, synthetic)
    write_mix(result, run_dir / "mix")
    return result
