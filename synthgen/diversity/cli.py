"""``synthgen metrics INPUT [--reference REAL] [--json]``: the diversity table of any dataset.

A standalone click command; ``synthgen.cli`` registers it with ``cli.add_command(metrics_command)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import click

from ..cli_errors import reports_errors
from ..errors import SynthgenError

if TYPE_CHECKING:
    from ..progress import PhaseHook

@click.command("metrics")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--reference", type=click.Path(path_type=Path), help="Real data to compare with (ratios).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--text-field", default="text", show_default=True, help="Column holding the text.")
@click.option("--reference-text-field", help="Text column of the reference (default: --text-field).")
@click.option("--embedder", type=click.Choice(["minilm", "tfidf", "none"]), default="minilm", show_default=True,
              help="Embeddings for the semantic metrics (none: lexical only).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every sample drawn.")
@click.option("--limit", type=click.IntRange(min=1), help="Read at most N rows of each file.")
@click.option("--fidelity", "fidelity_scorer", type=click.Choice(["ngram", "vllm", "none"]), default="ngram",
              show_default=True, help="Reference model of the fidelity metrics (with --reference).")
@click.option("--progress/--quiet", "progress", default=None,
              help="Name each phase (reading, embedding, clustering, fidelity) on stderr as it starts, or never. "
                   "[default: only when stderr is a terminal]")
@reports_errors
def metrics_command(input_path: Path, reference: Path | None, as_json: bool, text_field: str,
                    reference_text_field: str | None, embedder: str, seed: int, limit: int | None,
                    fidelity_scorer: str, progress: bool | None) -> None:
    """Diversity and fidelity metrics of INPUT (jsonl/csv/parquet/saved dataset), with ratios to --reference.
    Each file is read once; the diversity and the fidelity metrics measure the same texts."""
    from ..progress import phase_hook, progress_wanted, silent

    # the hook is closed (its last line printed) before the report is
    with phase_hook(progress_wanted(progress), "metrics", unit=" texts") as hook:
        report = _report(input_path, reference, text_field, reference_text_field, embedder, seed, limit,
                         fidelity_scorer, hook or silent)
    click.echo(json.dumps(report, indent=2) if as_json else format_table(report))


def _report(input_path: Path, reference: Path | None, text_field: str, reference_text_field: str | None,
            embedder: str, seed: int, limit: int | None, fidelity_scorer: str, progress: PhaseHook) -> dict[str, Any]:
    """What ``synthgen metrics`` prints (as JSON, or as :func:`format_table`)."""
    progress("read", None, None)
    texts, missing = _texts(input_path, text_field, limit, "--text-field")
    reference_field = reference_text_field or text_field
    real, reference_missing = _texts(reference, reference_field, limit, "--reference-text-field") if reference \
        else (None, None)
    report = {"input": str(input_path), "reference": str(reference) if reference else None, "n": len(texts),
              "missing_text": missing, "reference_n": len(real) if real is not None else None,
              "reference_missing_text": reference_missing, "embedder": embedder,
              "metrics": diversity_rows(texts, real, embedder, seed, _sources(input_path, reference), progress)}
    if real is not None and fidelity_scorer != "none":
        from ..fidelity.metrics import fidelity_rows

        progress("fidelity", None, None)
        report["fidelity"] = fidelity_rows(texts, real, fidelity_scorer, seed)
    return report


def _texts(path: Path, field: str, limit: int | None, option: str) -> tuple[list[str], int]:
    """The texts of ``path``'s ``field`` and the count of rows without one; a file with no text at all is an
    error (every metric would be "not computed"), its hint naming ``option``."""
    from ..tabular import CURRENT_FOLDER
    from .build import read_text_column

    texts, missing = read_text_column(path, field, limit, relative_to=CURRENT_FOLDER, field_option=option)
    if not texts and not missing:
        raise SynthgenError(f"{path}: no rows, so no text to measure", hint="give a file with rows of text")
    if not texts:
        raise SynthgenError(f"{path}: no text to measure: none of its {missing} rows has a non-blank string in "
                            f"{field!r}", hint=f"set {option} to the column holding the texts")
    return texts, missing


def diversity_rows(texts: list[str], real: list[str] | None, embedder_name: str, seed: int,
                   source: str = "", progress: PhaseHook | None = None) -> list[dict[str, Any]]:
    """The metric rows; an embedder that cannot be fitted on these texts (tfidf on one-character words)
    leaves the embedding metrics not computed, with its reason prefixed by ``source``. ``progress`` (a
    :data:`synthgen.progress.PhaseHook`; off by default) hears each phase start: ``fit tfidf``, ``lexical``,
    ``embed batch``, ``embed reference`` and ``similarity + clusters`` (their text count as the total)."""
    from .embed import Unavailable, build_embedder, for_comparison
    from .metrics import MetricSettings, compute_metrics

    embedder = None
    if embedder_name != "none":
        params = {"seed": seed} if embedder_name == "tfidf" else {}
        if embedder_name == "tfidf" and progress is not None:
            progress("fit tfidf", None, len(texts) + len(real or ()))
        embedder = for_comparison(build_embedder(embedder_name, **params), texts, real)
        if isinstance(embedder, Unavailable) and source:
            embedder.reason = f"{source}: {embedder.reason}"
        if progress is not None:
            embedder = _Announced(embedder, progress, ("batch", "reference") if real else ("batch",))
    if progress is not None:
        progress("lexical", None, None)
    return [row.to_dict() for row in compute_metrics(texts, real, embedder, MetricSettings(seed=seed))]


class _Announced:
    """An embedder that names each ``encode`` call as a phase (``embed batch``, then ``embed reference``: the
    order :func:`.metrics.semantic_table` embeds them in) and, once the last side is embedded, the similarity
    and cluster metrics that follow. :func:`.metrics.compute_metrics` has no hook of its own; a wrong guess
    of the order could only mislabel a phase, never change a value."""

    def __init__(self, embedder: Any, progress: PhaseHook, sides: tuple[str, ...]):
        self.embedder, self.progress, self.sides, self.calls = embedder, progress, sides, 0

    def encode(self, texts: Sequence[str]) -> Any:
        side = self.sides[self.calls] if self.calls < len(self.sides) else "texts"
        self.calls += 1
        self.progress(f"embed {side}", None, len(texts))
        vectors = self.embedder.encode(texts)
        if self.calls == len(self.sides):
            self.progress("similarity + clusters", None, None)
        return vectors

    def __getattr__(self, name: str) -> Any:  # name, dim, reason ... of the wrapped embedder
        if name == "embedder":  # not set yet (a copy being built): no endless recursion
            raise AttributeError(name)
        return getattr(self.embedder, name)


def _sources(input_path: Path, reference: Path | None) -> str:
    return f"{input_path} + {reference}" if reference else str(input_path)


def format_table(report: dict[str, Any]) -> str:
    header = f"{report['input']}: {report['n']} texts{_missing(report.get('missing_text'))}"
    if report["reference"]:
        header += f" vs {report['reference']}: {report['reference_n']} texts{_missing(report.get('reference_missing_text'))}"
    lines = [header, f"{'metric':<30} {'value':>10} {'real':>10} {'ratio':>7}  note"]
    for row in report["metrics"]:
        lines.append(_line(row))
    if report.get("fidelity"):
        lines.append("fidelity (reference model fitted on half of the reference, compared with the other half)")
        lines += [_line(row, row.get("status") if row.get("status") not in (None, "pass") else "") for row in
                  report["fidelity"]]
    return "\n".join(lines)


def _missing(count: int | None) -> str:
    return f" ({count} rows without text left out)" if count else ""


def _line(row: dict[str, Any], note: str | None = None) -> str:
    note = " ".join(x for x in (note, row.get("side"), row["reason"]) if x) if note is not None else row["reason"]
    return (f"{row['metric']:<30} {_num(row['value']):>10} {_num(row['reference']):>10} "
            f"{_num(row['ratio'], 2):>7}  {note or ''}").rstrip()


def _num(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.{digits}g}"
