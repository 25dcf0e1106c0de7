"""Assemble the dedup stages of a recipe's [dedup] table, and read the text tables they compare with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import RecipeError, SynthgenError
from ..tabular import CURRENT_FOLDER, RECIPE_FOLDER, read_rows
from .decontam import Decontaminator
from .deduplicator import Deduplicator, DedupParams
from .index import HistoryIndex, HistoryMismatch, HistoryWriter
from .redis_history import RedisHistory, is_redis_url
from .stage import DecontamStage, DedupStage


def params_from_config(config: Any) -> DedupParams:
    """Engine parameters of a ``DedupConfig``."""
    return DedupParams(exact=config.exact, near=config.near, num_perm=config.num_perm, seed=config.seed,
                       ngram=None if config.ngram == "auto" else config.ngram,
                       lsh_threshold=config.lsh_threshold, threshold=config.threshold,
                       bands=config.bands, rows=config.rows)


def load_texts(path: Path, field: str, split: str | None = None,
               relative_to: str = RECIPE_FOLDER) -> tuple[list[str], list[str], int]:
    """``(ids, texts, skipped)`` of a table. Ids: the row's ``id`` column, else ``<file name>:<row>``.
    ``relative_to``: whose paths these are (:func:`~synthgen.tabular.read_rows`: a recipe's, or a command's).

    A value is read as the input side reads it (:func:`.table.text_value`): a conversation (a list of
    ``{role, content}``) becomes its ``role: content`` lines. Rows whose ``field`` is then missing, not a
    string or blank are skipped and counted; a table where no row has ``field`` is an error listing its
    columns, and so is a table none of whose rows has usable text (a reference that silently matches
    nothing would let every copy through).
    """
    from .chunks import table_format
    from .table import text_value

    table_format(Path(path))  # dedup's own hint for a file it cannot read (it has no format option)
    rows = read_rows(path, split=split, relative_to=relative_to)
    if rows and not any(field in row for row in rows):
        raise SynthgenError(f"{path}: no {field!r} column", hint=f"columns are: {', '.join(sorted(rows[0]))}")
    ids, texts = [], []
    for number, row in enumerate(rows):
        value = text_value(row.get(field))
        if isinstance(value, str) and value.strip():
            ids.append(str(row["id"]) if row.get("id") is not None else f"{Path(path).name}:{number}")
            texts.append(value)
    if not texts:
        raise SynthgenError(f"{path}: none of its {len(rows)} rows has usable text in {field!r}, so it would match "
                            "nothing", hint="name its text column (a string, or a [{role, content}] conversation) "
                                            "with --against-field / --eval-field, or the source's field in a recipe")
    return ids, texts, len(rows) - len(texts)


def _load_source(source: Any, config: Any, loaded: Any, where: str) -> tuple[list[str], list[str], Path, int]:
    """``(ids, texts, path, skipped)`` of one against_real / eval_sets entry; in a recipe, errors also name
    the recipe key."""
    path = loaded.resolve(source.path)
    option = getattr(loaded, "option", None)  # the command line names its flag, a recipe its key
    relative_to = RECIPE_FOLDER if option is None else CURRENT_FOLDER
    try:
        ids, texts, skipped = load_texts(path, source.field or config.text_field, source.split, relative_to)
    except SynthgenError as exc:
        if getattr(loaded, "source", None) is None:
            raise
        if option is not None:
            flag = option(where)
            more = "" if "-field" in (exc.hint or "") else f"name its text column with {flag}-field"
            raise SynthgenError(f"{flag}: {exc.message}", hint="; ".join(h for h in (exc.hint, more) if h)) from None
        raise RecipeError(f"{loaded.source}:{where}: {exc.message}", hint=exc.hint) from None
    return ids, texts, path, skipped


def open_history(config: Any, loaded: Any, bands: int, rows: int) -> Any:
    """The history index of ``[dedup] history``: a ``redis://`` URL (shared, datasketch MinHashLSH on
    Redis) or a folder (relative to the recipe); None when unset."""
    if config.history is None:
        return None
    if is_redis_url(config.history):
        return RedisHistory(str(config.history), config.num_perm, bands, rows)
    return HistoryIndex(loaded.resolve(config.history))


def build_engine(config: Any, loaded: Any, run_label: str | None = None) -> tuple[Deduplicator, Any]:
    """The engine with its reference scopes (real data, then history) and the history writer
    (:class:`HistoryWriter`, or :class:`RedisHistoryWriter` for a ``redis://`` history). With an automatic
    n-gram size and no history to take it from, the real texts wait for the texts to deduplicate to fix it
    (:meth:`Deduplicator.add_reference_texts`)."""
    engine = Deduplicator(params_from_config(config))
    index = _history(config, loaded, engine)
    real_ids, real_texts, skipped = [], [], 0
    for i, source in enumerate(config.against_real):
        ids, texts, _, left_out = _load_source(source, config, loaded, f"dedup.against_real[{i}]")
        real_ids, real_texts, skipped = real_ids + ids, real_texts + texts, skipped + left_out
    if real_texts:
        engine.add_reference_texts("real", real_ids, real_texts, skipped)
    if index is None:
        return engine, None
    label = run_label or "standalone"
    if isinstance(index, RedisHistory):
        engine.add_scope(index.scope(exclude=label))
        return engine, index.writer(label, config.seed)
    history = _reading_history(loaded, lambda: index.load(config.num_perm, exclude=run_label))
    if len(history):
        engine.add_reference("history", history)
    return engine, HistoryWriter(index, label, config.seed)


def _history(config: Any, loaded: Any, engine: Deduplicator) -> Any:
    """The history index, checked against the settings (its n-gram size fixes an automatic one)."""
    def check() -> Any:
        index = open_history(config, loaded, engine.bands_, engine.rows_)
        ngram = index.check(config.num_perm, config.seed, engine.ngram_) if index is not None else None
        if ngram is not None and engine.ngram_ is None:
            engine.set_ngram(ngram)
        return index

    return _reading_history(loaded, check)


def _reading_history(loaded: Any, read: Any) -> Any:
    """``read()``, its errors worded for the caller (:func:`history_error`)."""
    try:
        return read()
    except SynthgenError as exc:
        raise history_error(exc, loaded) from None


_RECIPE_KEY = {"hash": "history"}  # a setting of the index → its [dedup] key (the hash scheme has none)


def history_error(exc: SynthgenError, loaded: Any) -> SynthgenError:
    """A history error naming where the history was set: ``file:dedup.history`` (or the ``dedup`` key of a
    mismatched setting) in a recipe; ``loaded.history_error`` words it otherwise (``synthgen dedup``'s
    ``--history`` / ``--ngram``, or run_dedup's keywords)."""
    if getattr(loaded, "source", None) is None:
        return exc
    if hasattr(loaded, "history_error"):  # the command line, or run_dedup
        return loaded.history_error(exc)
    if isinstance(exc, HistoryMismatch):
        problems = [f"{loaded.source}:dedup.{_RECIPE_KEY.get(key, key)}: the history index {exc.location} "
                    f"was built with {key}={theirs!r}, the recipe has {ours!r}"
                    for key, (theirs, ours) in exc.differences.items()]
        return RecipeError(problems[0], hint="set them to the index's values, or point dedup.history at a new folder",
                           problems=problems)
    return RecipeError(f"{loaded.source}:dedup.history: {exc.message}", hint=exc.hint)


def build_decontaminator(config: Any, loaded: Any) -> Decontaminator | None:
    if not config.eval_sets:
        return None
    decontaminator = Decontaminator(config.decontam_ngram, config.decontam_min_tokens)
    for i, source in enumerate(config.eval_sets):
        ids, texts, path, skipped = _load_source(source, config, loaded, f"dedup.eval_sets[{i}]")
        decontaminator.add_eval(ids, texts, path.name, skipped)
    return decontaminator


def build_dedup_stages(config: Any, context: Any) -> list:
    """``[decontam]`` (when eval_sets are given) then ``[dedup]`` (when exact or near is on). ``context``
    (a RecipeContext) resolves paths, names the recipe in errors and gives the run's history label."""
    stages: list = []
    decontaminator = build_decontaminator(config, context)
    if decontaminator is not None:
        stages.append(DecontamStage(decontaminator))
    if config.exact or config.near:
        engine, history = build_engine(config, context, context.run_label)
        stages.append(DedupStage(engine, history))
    return stages
