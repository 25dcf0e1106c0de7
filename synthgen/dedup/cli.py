"""``synthgen dedup``: deduplicate any jsonl / csv / parquet / saved-dataset table (a click command object).

Registered in the main group with ``cli.add_command(dedup_command)``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..cli_errors import reports_errors
from ..errors import SynthgenError

if TYPE_CHECKING:
    from ..progress import PhaseHook

_FLAGS = {"history": "--history", "ngram": "--ngram", "num_perm": "--num-perm", "threshold": "--threshold",
          "text_field": "--text-field", "against": "--against", "eval_sets": "--eval"}


def spelled(key: str, value: Any = None) -> str:
    """A :func:`run_dedup` option as its caller spells it: ``--num-perm 64`` on the command line,
    ``num_perm=64`` from Python (:func:`synthgen.errors.options_spelled_for`)."""
    from ..errors import OPTION_SPELLINGS, option

    if option("out") == OPTION_SPELLINGS["out"][1]:  # spelled for a Python caller
        return key if value is None else f"{key}={str(value) if isinstance(value, Path) else value!r}"
    return _FLAGS[key] if value is None else f"{_FLAGS[key]} {value}"


@dataclass(frozen=True)
class _Here:
    """Paths given on the command line resolve against the working directory."""

    source: str = "synthgen dedup"
    base_dir: Path = Path(".")

    def resolve(self, path: Path | str) -> Path:
        return Path(path).expanduser()

    @staticmethod
    def option(where: str) -> str:
        """The flag that gave a reference source (``dedup.against_real[0]`` → ``--against``)."""
        return "--against" if where.startswith("dedup.against_real") else "--eval"

    @staticmethod
    def history_error(exc: SynthgenError) -> SynthgenError:
        """A history error naming ``--history`` / ``--ngram`` / ``--num-perm`` (their keywords for Python)."""
        from .index import HistoryMismatch
        from .redis_history import is_redis_url

        if not isinstance(exc, HistoryMismatch):
            return SynthgenError(f"{spelled('history')}: {exc.message}", hint=exc.hint)
        ours = ", ".join(spelled(key, mine) if key in _FLAGS else f"{key}={mine!r}"
                         for key, (_, mine) in exc.differences.items())
        theirs = ", ".join(f"{key}={index!r}" for key, (index, _) in exc.differences.items())
        fixes = [spelled(key, index) for key, (index, _) in exc.differences.items() if key in _FLAGS]
        elsewhere = "another Redis database" if is_redis_url(exc.location) else "a new folder"
        hint = f"point {spelled('history')} at {elsewhere}"
        return SynthgenError(f"{spelled('history', exc.location)}: the index was built with {theirs}, not {ours}",
                             hint=f"pass {' '.join(fixes)}, or {hint}" if fixes else hint)


def _config(text_field: str, against: tuple[Path, ...], eval_sets: tuple[Path, ...], threshold: float,
            ngram: str, history: Path | None, num_perm: int, against_field: str | None, eval_field: str | None):
    from pydantic import ValidationError

    from ..recipe.dedup_schema import DedupConfig

    try:
        return DedupConfig(text_field=text_field, against_real=[{"path": p, "field": against_field} for p in against],
                           eval_sets=[{"path": p, "field": eval_field} for p in eval_sets],
                           threshold=threshold, lsh_threshold=round(min(0.7, max(threshold - 0.1, threshold / 2)), 4),
                           ngram=ngram if ngram == "auto" else int(ngram), history=history, num_perm=num_perm)
    except ValidationError as exc:
        raise _option_error(exc) from None
    except ValueError as exc:
        raise SynthgenError(f"invalid options: {exc}") from None


_OPTIONS = {"against_real": "--against", "eval_sets": "--eval", "lsh_threshold": "--threshold"}


def _option_error(exc) -> SynthgenError:
    """A pydantic error as one line naming the command-line option (its first problem)."""
    errors = exc.errors()
    error = next((e for e in errors if e["type"] != "literal_error"), errors[0])  # ngram: int | "auto"
    key = str(error["loc"][0]) if error["loc"] else "options"
    option = _OPTIONS.get(key, "--" + key.replace("_", "-"))
    value = error.get("input")
    return SynthgenError(f"{option} {value!r}: {error['msg']}", hint=f"see synthgen dedup --help for {option}")


def run_dedup(input_path: Path, out: Path, *, text_field: str = "text", against: tuple[Path, ...] = (),
              eval_sets: tuple[Path, ...] = (), threshold: float = 0.8, ngram: str = "auto",
              history: Path | str | None = None, num_perm: int = 128, against_field: str | None = None,
              eval_field: str | None = None, workers: int | None = None, chunk_rows: int = 8192,
              executor: str = "local", address: str | None = None, overwrite: bool = True,
              progress: PhaseHook | bool | None = None):
    """Deduplicate ``input_path`` in chunks on ``workers`` processes (default: all cores), or on a Ray
    cluster (``executor="ray"``, ``address`` or ``RAY_ADDRESS``, else a local one), and write ``out``
    (kept.parquet, rejected.parquet, summary.json); returns the :class:`StreamResult`. Errors name options
    as keyword arguments (``ngram=5``); ``synthgen dedup`` spells them as its flags. ``overwrite=False``
    refuses an ``out`` that already holds a dedup result (``synthgen dedup`` does, unless ``--overwrite``).
    ``progress``: ``True`` draws the phases on stderr, a callable hears them (a
    :data:`synthgen.progress.PhaseHook`, called in this process only); off by default."""
    from ..errors import options_spelled_for
    from ..progress import phase_hook

    with options_spelled_for("python"), phase_hook(progress, "dedup") as hook:  # unless the command line called
        config = _config(text_field, against, eval_sets, threshold, ngram, history, num_perm, against_field, eval_field)
        return _run(config, Path(input_path), Path(out), workers, chunk_rows, executor, address, overwrite, hook)


OUTPUT_FILES = ("kept.parquet", "rejected.parquet", "summary.json")  # what a dedup writes under --out


def check_unused_out(out: Path, overwrite: bool) -> None:
    """A SynthgenError when ``out`` already holds a dedup result and ``overwrite`` is off: replacing it
    would lose the earlier rejects and summary. (An input inside ``out`` is read in full before any output
    file is replaced: each is written beside it and renamed into place at the end.)"""
    if overwrite or not Path(out).is_dir():
        return
    found = [name for name in OUTPUT_FILES if (Path(out) / name).exists()]
    if found:
        from ..errors import option

        python = option("overwrite") == "overwrite=True"
        named = f"out={str(out)!r}" if python else f"--out {out}"
        raise SynthgenError(f"{named} already holds a dedup result ({', '.join(found)})",
                            hint=f"pass {option('overwrite')} to replace it, or choose another "
                                 f"{'out' if python else '--out'} folder")


def _run(config, input_path: Path, out: Path, workers: int | None, chunk_rows: int, executor: str,
         address: str | None, overwrite: bool = True, progress: PhaseHook | None = None):
    from ..atomic import write_json_atomic
    from ..outpaths import check_out_dir
    from .streaming import stream_dedup

    check_executor(executor, address)
    check_out_dir(out)
    if progress is not None:
        progress("prepare", None, None)  # reads --against / --eval / --history (and hashes the input for it)
    plan = plan_dedup(config, input_path, workers, chunk_rows, out)  # reads settings and history; writes nothing
    check_unused_out(out, overwrite)
    if executor == "ray":
        from .ray_exec import ray_dedup

        result = ray_dedup(plan, out, address, progress)
    else:
        result = stream_dedup(plan, out, progress=progress)
    write_json_atomic(result.paths["summary"], result.summary())
    return result


def check_executor(executor: str, address: str | None) -> None:
    """An address names a Ray cluster: without the Ray executor it would be ignored, so it is refused (as
    ``synthgen generate`` refuses it)."""
    from ..executors import EXECUTORS

    if executor not in EXECUTORS:
        raise SynthgenError(f"unknown executor {executor!r}", hint=f"choose one of: {', '.join(EXECUTORS)}")
    if address is not None and executor != "ray":
        raise SynthgenError(f"--address {address} names a Ray cluster, but the executor is {executor!r}",
                            hint="add --executor ray")


def plan_dedup(config, input_path: Path, workers: int | None = None, chunk_rows: int = 8192, out: Path | None = None):
    """The streaming dedup's :class:`Plan`: the engine's settings, references and history, the shingle size
    (an automatic one read from the input, not from the references; ``out`` is left out of the input)."""
    from dataclasses import replace

    from .build import build_decontaminator, build_engine
    from .sketch import SketchSettings
    from .streaming import Plan, detect_ngram

    check_references_differ(config, input_path)
    label = history_label(input_path, config.text_field, out) if config.history is not None else None
    engine, writer = build_engine(config, _Here(), label)
    settings = SketchSettings(str(input_path), config.text_field, config.num_perm, config.seed, engine.ngram_,
                              engine.bands_, engine.rows_, build_decontaminator(config, _Here()))
    if settings.ngram is None:  # the --against texts wait for it (Deduplicator.add_reference_texts)
        engine.fix_ngram(detect_ngram(input_path, settings))
        settings = replace(settings, ngram=engine.ngram_)
    return Plan(input_path, settings, engine.params, engine.references_, writer,
                workers or _auto_workers(input_path, out), chunk_rows, engine.describe() | {"ngram": settings.ngram})


_SELF_REFERENCE = {
    "against": ("every row would match its own copy there and be dropped as a duplicate",
                "pass other data whose copies should go, such as real data; duplicates within the input are "
                "found without it"),
    "eval_sets": ("every row would count as eval contamination and be dropped",
                  "pass the eval set, whose items must stay out of the data, not the input"),
}


def check_references_differ(config, input_path: Path) -> None:
    """An ``--against`` or ``--eval`` table that is the input itself (the same file or folder, however the
    path is spelled) is refused: it would drop every row, which no one asks for on purpose."""
    sources = [("against", source.path) for source in config.against_real]
    sources += [("eval_sets", source.path) for source in config.eval_sets]
    for key, path in sources:
        if _same_path(Path(path), input_path):
            why, hint = _SELF_REFERENCE[key]
            raise SynthgenError(f"{spelled(key, Path(path))} is the input itself: {why}", hint=hint)


def _same_path(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file or folder (a link, ``./``, another spelling, a hard link)."""
    try:
        return a.expanduser().resolve() == b.expanduser().resolve() or a.expanduser().samefile(b.expanduser())
    except OSError:  # one of them is missing: its own reader reports it
        return False


def history_label(input_path: Path, text_field: str, out: Path | None = None) -> str:
    """The history key of a standalone dedup: a hash of the input's content (a dataset folder's data files,
    by relative path: :func:`data_files`) and the text field. Re-running the identical input replaces its
    own entry (and does not match itself), even when ``out`` is inside the input's folder; a changed file
    at the same path is a new batch, so earlier batches stay in the history. (Keys by path forgot an earlier
    batch when a new file was written at its path.) Only computed with a history: hashing reads the whole
    input once more."""
    digest = hashlib.sha256(text_field.encode() + b"\0")
    for file in data_files(input_path, out):
        if input_path.is_dir():
            digest.update(str(file.relative_to(input_path)).encode() + b"\0")
        with file.open("rb") as handle:
            while block := handle.read(1 << 22):
                digest.update(block)
    return f"file-{digest.hexdigest()[:16]}"


def data_files(input_path: Path, out: Path | None = None) -> list[Path]:
    """The files holding the input's rows: the file itself, or a saved dataset folder's Arrow files (those
    its ``state.json`` files list, else every ``*.arrow``), outside ``out``, sorted. Other files (metadata
    rewritten on every save, a dedup's own output folder) do not change the rows."""
    if not input_path.is_dir():
        return [input_path]
    skip = Path(out).resolve() if out is not None else None
    listed = [state.parent / entry["filename"] for state in input_path.rglob("state.json")
              for entry in _listed_files(state)]
    files = listed if listed else input_path.rglob("*.arrow")
    return sorted(f for f in files if f.is_file() and not (skip and f.resolve().is_relative_to(skip)))


def _listed_files(state: Path) -> list[dict]:
    """The ``_data_files`` of a dataset's ``state.json`` ([] when it is not one)."""
    import json

    try:
        files = json.loads(state.read_text(encoding="utf-8")).get("_data_files")
    except (OSError, ValueError, AttributeError):
        return []
    if not isinstance(files, list):
        return []
    return [f for f in files if isinstance(f, dict) and isinstance(f.get("filename"), str)]


def _auto_workers(input_path: Path, out: Path | None = None) -> int:
    """All cores, but one (in process) for an input under ~4 MiB, where starting processes costs more."""
    from .sketch import default_workers

    size = sum(file.stat().st_size for file in data_files(input_path, out))
    return default_workers() if size >= 4 * 2**20 else 1


@click.command("dedup")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for kept.parquet, rejected.parquet and summary.json; one already holding them "
                   "is refused unless --overwrite.")
@click.option("--overwrite", is_flag=True,
              help="Replace the dedup result already in --out (an INPUT inside --out is read first).")
@click.option("--against", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Reference table (e.g. real data) whose copies are dropped (repeatable).")
@click.option("--eval", "eval_sets", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Eval set to decontaminate against by 13-gram overlap (repeatable).")
@click.option("--text-field", default="text", show_default=True, help="Column holding the text.")
@click.option("--against-field", help="Text column of the --against tables (default: --text-field).")
@click.option("--eval-field", help="Text column of the --eval tables (default: --text-field).")
@click.option("--threshold", default=0.8, show_default=True, type=click.FloatRange(0.05, 1.0),
              help="Drop at this estimated Jaccard.")
@click.option("--ngram", default="auto", show_default=True, help="Word shingle size, or auto (5 if ≥ ~50 words, else 3).")
@click.option("--num-perm", default=128, show_default=True, type=click.IntRange(16, 1024), help="MinHash permutations.")
@click.option("--history", help="History index: a folder, or redis://host:port/db (shared through Redis); "
                               "read, then extended with the kept rows.")
@click.option("--workers", type=click.IntRange(1, 1024), default=None,
              help="Processes (or Ray workers) that decode and sketch chunks  [default: all cores; 1 under 4 MiB]")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local processes, or a Ray cluster (pip install 'synthgen[ray]').")
@click.option("--address", help="Ray cluster address for --executor ray (default: RAY_ADDRESS, else a local cluster).")
@click.option("--progress/--quiet", "progress", default=None,
              help="Show progress on stderr (rows read and sketched, then each phase), or never. "
                   "[default: only when stderr is a terminal]")
@reports_errors
def dedup_command(input_path: Path, out: Path, against: tuple[Path, ...], eval_sets: tuple[Path, ...],
                  text_field: str, against_field: str | None, eval_field: str | None, threshold: float, ngram: str,
                  num_perm: int, history: str | None, workers: int | None, executor: str, address: str | None,
                  overwrite: bool, progress: bool | None) -> None:
    """Drop exact and near duplicates from INPUT (jsonl, csv, parquet or a saved dataset folder)."""
    from ..progress import progress_wanted

    if ngram != "auto" and (not ngram.isdigit() or int(ngram) < 1):
        raise click.BadParameter(f"{ngram!r} is not a positive integer or 'auto'", param_hint="--ngram")
    result = run_dedup(input_path, out, text_field=text_field, against=against, eval_sets=eval_sets,
                       threshold=threshold, ngram=ngram, history=history, num_perm=num_perm,
                       against_field=against_field, eval_field=eval_field, workers=workers,
                       executor=executor, address=address, overwrite=overwrite,
                       progress=progress_wanted(progress))
    summary = result.summary()
    reasons = ", ".join(f"{reason} {count}" for reason, count in summary["reasons"].items()) or "none"
    settings = summary["settings"]["dedup"]
    click.echo(f"{summary['rows']} rows: {summary['kept']} kept, {summary['dropped']} dropped ({reasons})")
    click.echo(f"{ngram_text(settings['ngram'])} bands×rows={settings['bands']}×{settings['rows']} "
               f"threshold={settings['threshold']} -> {out}")
    for line in skipped_lines(summary["settings"], against_field or text_field, eval_field or text_field):
        click.echo(line)
    for warning in summary["warnings"]:
        click.echo(f"Warning: {warning}", err=True)


def ngram_text(ngram: int | None) -> str:
    """The shingle size for the summary line. An automatic one stays unset (None) when no row with a word
    reached the duplicate check (all of them empty, invalid or eval contamination): say so, not "None"."""
    if ngram is None:
        return "ngram=auto (unset: no row with words reached the duplicate check)"
    return f"ngram={ngram}"


def skipped_lines(settings: dict[str, Any], against_field: str, eval_field: str) -> list[str]:
    """One line per kind of reference whose reader skipped rows without usable text (they match nothing),
    and one for eval items too short to check (they were left out of decontamination silently)."""
    counts = [("--against", settings["dedup"].get("skipped_no_text", {}).get("real", 0), against_field),
              ("--eval", settings.get("decontam", {}).get("skipped_no_text", 0), eval_field)]
    lines = [f"{flag}: skipped {n} row{'s' * (n != 1)} without usable text in {field!r} (they match nothing)"
             for flag, n, field in counts if n]
    decontam = settings.get("decontam") or {}
    short = decontam.get("skipped_short", 0)
    if short:
        lines.append(f"--eval: {short} item{'s' * (short != 1)} shorter than {decontam['min_tokens']} words not "
                     "checked (too short to tell from ordinary prose; longer ones under "
                     f"{decontam['ngram']} words are matched whole)")
    return lines
