"""From a recipe's [diversity] table to runtime objects: texts, embedder, stages, gate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import SynthgenError
from ..tabular import RECIPE_FOLDER, read_rows


def read_texts(path: Path | str, field: str = "text", limit: int | None = None) -> list[str]:
    """The texts of :func:`read_text_column` (rows without text left out)."""
    return read_text_column(path, field, limit)[0]


def read_text_column(path: Path | str, field: str = "text", limit: int | None = None, *,
                     relative_to: str = RECIPE_FOLDER, field_option: str = "the text field") -> tuple[list[str], int]:
    """``(texts, missing)``: the ``field`` column of a jsonl/json/csv/parquet file or saved dataset (see
    :func:`text_column`). ``relative_to`` and ``field_option`` word the hints for the caller (a command
    names its flags: CURRENT_FOLDER, ``--text-field``)."""
    return text_column(read_rows(Path(path), limit=limit, relative_to=relative_to), field, path, field_option)


def text_column(rows: list[dict[str, Any]], field: str, path: Path | str,
                field_option: str = "the text field") -> tuple[list[str], int]:
    """``(texts, missing)``: the ``field`` column of ``rows`` (read from ``path``), read as ``synthgen mix``
    reads it (:func:`~synthgen.mix.base.mix_text`: a non-blank string, or a conversation as ``role: content``
    lines), and the number of rows with no text there (absent, null, blank), which are left out rather than
    measured as empty strings. A synthgen dataset in the ``messages``, ``prompt_completion`` or
    ``preference`` format has no ``text`` column: its records' text is read. A file where no row has
    ``field`` is an error listing its columns (the hint says to set ``field_option``)."""
    from ..formats import record_text
    from ..mix.base import mix_text

    if rows and not any(field in row for row in rows):
        if field == "text" and any(record_text(row) for row in rows):
            values = [mix_text(record_text(row)) for row in rows]
        else:
            names = sorted(dict.fromkeys(key for row in rows for key in row))
            raise SynthgenError(f"{path}: no column {field!r}", hint=f"set {field_option} to one of {names}")
    else:
        values = [mix_text(row.get(field)) for row in rows]
    texts = [text for text in values if text is not None]
    return texts, len(values) - len(texts)


def embedder_from_config(config: Any, resolve: Any = Path, seed: int = 0) -> Any:
    """The [diversity] table's embedder; ``resolve`` maps a recipe-relative path to a real one."""
    from .embed import MiniLMEmbedder, TfidfSvdEmbedder

    if config.embedder == "minilm":
        cache = resolve(config.cache_dir) if config.cache_dir is not None else None
        return MiniLMEmbedder(batch_size=config.batch_size, cache_dir=cache)
    return TfidfSvdEmbedder(n_components=config.tfidf_components, seed=seed)


def reference_texts(config: Any, context: Any) -> list[str]:
    """The ``[diversity] reference`` texts, read once per plan (``context``: a RecipeContext)."""
    if config.reference is None:
        return []
    path = context.resolve(config.reference)
    return context.read_once(("texts", path, config.reference_field, config.reference_limit),
                             lambda: read_texts(path, config.reference_field, config.reference_limit))


def previous_texts(config: Any, context: Any) -> list[str] | None:
    """The ``[diversity] previous`` generation's texts (None when unset), read once per plan."""
    return None if config.previous is None else _previous(config, context)[0]


def previous_sampling(config: Any, context: Any) -> dict[str, float] | None:
    """The sampling (temperature, top_p) the previous generation's last record was accepted at, from its
    ``sampling`` provenance column; None when unset or the data has no such column."""
    return None if config.previous is None else _previous(config, context)[1]


def _previous(config: Any, context: Any) -> tuple[list[str], dict[str, float] | None]:
    path = context.resolve(config.previous)

    def read() -> tuple[list[str], dict[str, float] | None]:
        rows = read_rows(path)
        return text_column(rows, config.previous_field, path)[0], _last_sampling(rows)

    return context.read_once(("previous", path, config.previous_field), read)


def _last_sampling(rows: list[dict[str, Any]]) -> dict[str, float] | None:
    import json

    raw = rows[-1].get("sampling") if rows else None
    try:
        values = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return None
    if not isinstance(values, dict):
        return None
    return {k: float(values[k]) for k in ("temperature", "top_p") if values.get(k) is not None} or None


def build_diversity_stages(config: Any, context: Any, embedder: Any = None) -> list:
    """[SemanticDeduplicator] when ``near_duplicate_threshold`` is set (place it after the other stages);
    ``context`` (a RecipeContext) resolves paths and gives the seed."""
    from .embed import prepare
    from .semantic_dedup import SemanticDeduplicator

    if config.near_duplicate_threshold is None:
        return []
    real = reference_texts(config, context)
    embedder = prepare(embedder or embedder_from_config(config, context.resolve, context.seed_for(config.seed)), real)
    guard = real if config.dedup_against_reference else []
    return [SemanticDeduplicator(embedder, config.near_duplicate_threshold, guard)]


def fidelity_from_config(config: Any, reference: list[str], seed: int = 0) -> Any:
    """The [diversity.fidelity] gate fitted on the reference texts, or None when it is off."""
    if not config.fidelity.enabled:
        return None
    from ..fidelity.gate import FidelityGate

    return FidelityGate.from_config(config.fidelity, seed=seed).fit(reference)


def gate_from_config(config: Any, seed: int = 0) -> Any:
    from .gate import DiversityGate

    return DiversityGate.from_config(config.gate, seed=seed)
