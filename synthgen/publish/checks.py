"""What must hold before a run is published: a valid repo id, a token, and a complete run that passed its gates.

A run that is incomplete or failed a gate can still be published with ``force``; the problems found here
are then stated at the top of the dataset card.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SynthgenError
from ..report.facts import gate_failures
from ..report.data import row_count
from ..report.model import RunReport, is_evolve_report, report_from_json
from ..rundir import RunDir


class PublishError(SynthgenError):
    """A run that cannot be published as asked (bad repo id, no token, incomplete or failed run)."""


_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$")


def validate_repo_id(repo_id: str) -> str:
    """``OWNER/NAME`` with the Hub's rules (letters, digits, ``-``, ``_``, ``.``; no ``--``/``..``; ≤ 96)."""
    parts = repo_id.split("/") if isinstance(repo_id, str) else []
    bad = [p for p in parts if not _NAME.match(p) or "--" in p or ".." in p]
    if len(parts) != 2 or bad:
        raise PublishError(f"invalid repo id {repo_id!r}: expected OWNER/NAME",
                           hint="letters, digits, '-', '_' and '.', not starting or ending with '-' or '.', "
                                "e.g. --repo-id my-org/my-dataset")
    return repo_id


def resolve_token(token: str | None) -> str:
    """The token passed in, else huggingface_hub's ``get_token()`` (``HF_TOKEN``, then a stored login);
    a clear error when there is none."""
    if not token:
        from huggingface_hub import get_token

        token = get_token()
    if not token or not token.strip():
        raise PublishError("no Hugging Face token: HF_TOKEN is not set and no login is stored",
                           hint="export HF_TOKEN=hf_... (a token with write access) or run `hf auth login`; "
                                "or pass --dry-run to only build the folder")
    return token.strip()


@dataclass
class RunFiles:
    """A finished run's report and manifest, and the problems that stop it being published without force."""

    run_dir: Path
    report: RunReport
    manifest: dict[str, Any]
    problems: list[str] = field(default_factory=list)

    @property
    def mix_path(self) -> Path | None:
        """The mix's rows, when there are any (the Hub cannot load an empty split)."""
        path = RunDir(self.run_dir).mix_data_path
        return path if path.is_file() and parquet_rows(path) > 0 else None

    @property
    def mix_summary(self) -> dict[str, Any] | None:
        """What the mix folder holds, from its own summary.json (written with its rows, so still true after
        ``synthgen mix ... --out RUN/mix`` rebuilt it); the report's mix for a folder without one."""
        from ..mix.store import read_summary

        summary = read_summary(RunDir(self.run_dir).mix_dir)
        return summary if summary is not None else self.report.mix


def parquet_rows(path: Path) -> int:
    return row_count(path)


def read_run(run_dir: str | Path) -> RunFiles:
    """Read ``report.json`` and ``manifest.json``; without them or ``data.parquet`` there is nothing to publish.
    The manifest's URL credentials are redacted here too, so an older run's card does not publish them."""
    from ..redact import redact_secrets

    run = RunDir(Path(run_dir))
    if not run.path.is_dir():
        raise PublishError(f"{run.path}: no such run directory", hint="pass the folder `synthgen generate` wrote")
    _require_file(run, run.report_path)
    document = _read_json(run.report_path)
    if is_evolve_report(document):
        raise evolve_project_error(run.path)
    report = report_from_json(document, run.report_path)
    _require_file(run, run.data_path)
    if parquet_rows(run.data_path) == 0:
        raise PublishError(f"{run.path}: the run kept no records, so there is nothing to publish",
                           hint="see report.md for why every candidate was rejected")
    manifest = _read_object(run.manifest_path) if run.manifest_path.is_file() else {}
    files = RunFiles(run.path, report, redact_secrets(manifest))  # a run made before manifests were redacted
    files.problems = run_problems(files)
    return files


def evolve_project_error(folder: Path) -> PublishError:
    """An evolve project is not one run: publish one of its generations (the latest, as the example)."""
    numbers = sorted(int(p.name[4:]) for p in folder.glob("gen-*") if p.name[4:].isdigit() and p.is_dir())
    example = folder / f"gen-{numbers[-1] if numbers else 1}"
    return PublishError(f"{folder} is an evolve project (made by `synthgen evolve`), not a run: publish one of "
                        "its generations",
                        hint=f"each generation's run is in {folder}/gen-N/, e.g. "
                             f"`synthgen publish {example} --repo-id OWNER/NAME`")


def _require_file(run: RunDir, path: Path) -> None:
    if not path.is_file():
        raise PublishError(f"{run.path}: {path.name} is missing, so this is not a finished run",
                           hint="run `synthgen generate` on the recipe again to finish it")


def _read_json(path: Path) -> Any:
    """The parsed document (its shape is checked by the caller: report_from_json, or _read_object)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PublishError(f"{path}: cannot read ({exc})", hint="the run directory is damaged; generate again") from None


def _read_object(path: Path) -> dict[str, Any]:
    data = _read_json(path)
    if not isinstance(data, dict):
        raise PublishError(f"{path}: expected a JSON object", hint="the run directory is damaged; generate again")
    return data


def run_problems(files: RunFiles) -> list[str]:
    """Every reason this run should not be published as is (empty for a complete run that passed its gates)."""
    report, problems = files.report, []
    if report.status not in ("complete", "failed_gate"):
        problems.append(f"the run is incomplete (status {report.status!r}, stop reason "
                        f"{report.stop_reason!r}): {report.kept} of {report.target} records")
    problems += [f"it failed a quality gate: {failure}" for failure in gate_failures(report.to_dict())]
    if not files.manifest:
        problems.append("manifest.json is missing: the recipe and model cannot be stated")
    if report.mix is not None and files.mix_path is None:
        problems.append("the report describes a mix but mix/data.parquet is missing")
    return problems


def require_publishable(files: RunFiles, force: bool) -> None:
    if files.problems and not force:
        listed = "; ".join(files.problems)
        raise PublishError(f"{files.run_dir} is not ready to publish: {listed}",
                           hint="finish the run (or fix the gates) and try again, or pass --force to publish "
                                "it anyway; the dataset card will say so")
