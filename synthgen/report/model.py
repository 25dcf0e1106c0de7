"""The run report as a typed object: what ``report.json`` holds, read and written in one place.

``RunReport.to_dict()`` is the JSON document; ``RunReport.from_dict()`` reads one back (keys added by a
newer synthgen are kept in ``extra`` and written out again, so nothing is lost on a round trip).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any


def _known(cls: type, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    names = {f.name for f in fields(cls)} - {"extra"}
    return {k: v for k, v in data.items() if k in names}, {k: v for k, v in data.items() if k not in names}


@dataclass
class StageReport:
    """One step's or stage's funnel row: what it saw, kept, dropped by reason, created (fan-out) and
    merged (preference pairs), and its time (``llm_seconds``: the backend's share of a step)."""

    stage: str
    seen: int = 0
    kept: int = 0
    dropped: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    created: int = 0
    merged: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_seconds: float = 0.0
    backend_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "StageReport":
        known, extra = _known(cls, data)
        return cls(**known, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k != "extra"}
        data = {k: v for k, v in data.items() if v or k in ("stage", "seen", "kept", "dropped", "reasons", "seconds")}
        return {**data, **self.extra}


@dataclass
class Throughput:
    """Counts and rates; the pipelining facts say whether the backend generated ahead, and if not why.
    ``recorded`` is False for an older report.json without this section (its counts are then None)."""

    requests: int | None = 0
    candidates: int | None = 0
    batches: int | None = 0
    prompt_tokens: int | None = 0
    completion_tokens: int | None = 0  # None: the backend sent no token counts
    samples_per_s: float | None = None
    tokens_per_s: float | None = None
    records_per_s: float | None = None
    candidates_per_s: float | None = None
    pipelined: bool | None = None
    prefetch: int | None = None
    backend_busy_seconds: float | None = None  # the read-ahead step's calls only, in the last process
    read_ahead_step: str | None = None
    read_ahead_discarded: int | None = None
    sequential_because: str | None = None
    recorded: bool = True

    @classmethod
    def unrecorded(cls) -> "Throughput":
        return cls(requests=None, candidates=None, batches=None, prompt_tokens=None, completion_tokens=None,
                   recorded=False)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "recorded"
                and (v is not None or k in ("samples_per_s", "tokens_per_s", "completion_tokens"))}


@dataclass
class Timings:
    """Seconds. ``wall_seconds`` (and the throughput's wall-clock figures) are one process's: the whole run's,
    unless that process resumed the run after ``process_resumed_after`` checkpointed batches; the others
    (``generate_seconds``: waiting on the backend, ``backend_seconds``: its work) add up every process."""

    wall_seconds: float = 0.0
    generate_seconds: float = 0.0
    backend_seconds: float | None = None
    process_resumed_after: int | None = None
    recorded: bool = True  # False: an older report.json without timings

    @classmethod
    def unrecorded(cls) -> "Timings":
        return cls(recorded=False)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None and k != "recorded"}


def _section(cls: type, data: dict[str, Any], key: str) -> Any:
    """The ``key`` section of a report.json document; an older document without it is not recorded."""
    if key not in data:
        return cls.unrecorded()
    return cls(**_known(cls, data[key])[0])


@dataclass
class RunReport:
    """Funnel, stop reason, throughput and every gate decision of one run."""

    name: str
    recipe_hash: str
    status: str
    stop_reason: str
    target: int
    max_candidates: int
    kept: int
    rejected: int
    funnel: list[dict[str, Any]]
    stages: list[StageReport]
    top_reasons: dict[str, dict[str, int]]
    acceptance_rate: float | None
    timings: Timings
    throughput: Throughput
    resumed_batches: int = 0
    candidate_records: int | None = None  # first-step candidates + fan-out children: acceptance_rate's divisor
    output: dict[str, Any] | None = None
    mix: dict[str, Any] | None = None
    structured: list[dict[str, Any]] | None = None
    final_sampling: dict[str, Any] | None = None
    gates: list[dict[str, Any]] | None = None
    gates_passed: bool | None = None
    gate_failure: str | None = None
    diversity: list[dict[str, Any]] | None = None  # every metric of the final dataset against real
    verification: dict[str, Any] | None = None
    forecast: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    @property
    def failed_gate(self) -> bool:
        return self.status == "failed_gate"

    def stage(self, name: str) -> StageReport | None:
        return next((s for s in self.stages if s.stage == name), None)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (optional sections only when the run has them)."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        data["stages"] = [s.to_dict() for s in self.stages]
        data["timings"], data["throughput"] = self.timings.to_dict(), self.throughput.to_dict()
        data = {k: v for k, v in data.items() if k not in ("timings", "throughput") or getattr(self, k).recorded}
        optional = ("candidate_records", "output", "mix", "structured", "final_sampling", "gates", "gates_passed", "gate_failure",
                    "diversity", "verification", "forecast")
        data = {k: v for k, v in data.items() if k not in optional or v is not None}
        return {**data, **self.extra}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunReport":
        known, extra = _known(cls, data)
        known["stages"] = [StageReport.from_dict(s) for s in known.get("stages", [])]
        known["timings"], known["throughput"] = _section(Timings, data, "timings"), _section(Throughput, data, "throughput")
        return cls(**known, extra=extra)


REWRITE_HINT = "run `synthgen generate` on the recipe again to rewrite it"


def is_evolve_report(data: Any) -> bool:
    """An evolve project's report.json (synthgen.evolve.report): ``project`` and ``generations``, no funnel."""
    return isinstance(data, dict) and "generations" in data and "project" in data and "funnel" not in data


def report_from_json(data: Any, path: Path) -> RunReport:
    """The RunReport of the document read from ``path``; an evolve project's report or a document of the
    wrong shape is one clear error naming the file (never a TypeError from deep inside)."""
    from ..errors import RunDirError

    if is_evolve_report(data):
        folder = path.parent
        raise RunDirError(f"{folder} is an evolve project, not a run: its report is rebuilt by `synthgen evolve`",
                          hint=f"each generation's run is in {folder}/gen-N/, e.g. `synthgen report {folder}/gen-1`")
    if not isinstance(data, dict):
        raise RunDirError(f"{path} is corrupt: expected a JSON object, found {type(data).__name__}", hint=REWRITE_HINT)
    try:
        return _checked(RunReport.from_dict(data))
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        raise RunDirError(f"{path} is corrupt: not a run report ({_shape_problem(exc)})", hint=REWRITE_HINT) from None


def _checked(report: RunReport) -> RunReport:
    """The containers every renderer walks must be what they claim (a number where a list belongs fails here),
    and the numbers it formats must be numbers (``"kept": "ten"`` names the field here, not a TypeError in
    the renderer)."""
    if not (isinstance(report.funnel, list) and all(isinstance(step, dict) for step in report.funnel)):
        raise TypeError("'funnel' is not a list of steps")
    if not isinstance(report.top_reasons, dict):
        raise TypeError("'top_reasons' is not an object")
    for key in ("target", "max_candidates", "kept", "rejected", "resumed_batches"):
        _number(getattr(report, key), key)
    _number(report.candidate_records, "candidate_records", optional=True)
    _number(report.acceptance_rate, "acceptance_rate", optional=True)
    for i, step in enumerate(report.funnel):
        if not isinstance(step.get("step"), str):
            raise TypeError(f"'funnel[{i}].step' is {_missing_or(step.get('step'))}, not a step name")
        _number(step.get("count"), f"funnel[{i}].count")
        _number(step.get("dropped"), f"funnel[{i}].dropped", optional=True)
    for stage, counts in report.top_reasons.items():
        if not isinstance(counts, dict):
            raise TypeError(f"'top_reasons.{stage}' is not an object")
        for reason, n in counts.items():
            _number(n, f"top_reasons.{stage}.{reason}")
    for i, stage in enumerate(report.stages):
        if not isinstance(stage.stage, str):
            raise TypeError(f"'stages[{i}].stage' is {_missing_or(stage.stage)}, not a stage name")
        for name in ("seen", "kept", "dropped", "created", "merged", "prompt_tokens", "completion_tokens",
                     "seconds", "llm_seconds", "backend_seconds"):
            _number(getattr(stage, name), f"stages[{i}].{name}")
    for section in (report.timings, report.throughput):
        label = "timings" if section is report.timings else "throughput"
        for f in fields(section):
            if f.name != "recorded" and f.type in ("float | None", "int | None", "float", "int"):
                _number(getattr(section, f.name), f"{label}.{f.name}", optional=True)
    return report


def _number(value: Any, key: str, optional: bool = False) -> None:
    """A TypeError naming ``key`` when ``value`` is not a number (None passes when ``optional``)."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"'{key}' is {_missing_or(value)}, not a number")


def _missing_or(value: Any) -> str:
    return "missing" if value is None else repr(value)


def _shape_problem(exc: Exception) -> str:
    """``missing key 'funnel'`` for a TypeError about absent constructor arguments, else the error's text."""
    text = str(exc)
    missing = re.search(r"missing \d+ required (?:positional|keyword-only) arguments?: (.+)$", text)
    if missing:
        return f"missing key {missing.group(1)}"
    return re.sub(r"^\w+\.__init__\(\) ", "", text)
