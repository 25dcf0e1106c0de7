"""The run report as a typed object: what ``report.json`` holds, read and written in one place.

``RunReport.to_dict()`` is the JSON document; ``RunReport.from_dict()`` reads one back (keys added by a
newer synthgen are kept in ``extra`` and written out again, so nothing is lost on a round trip).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
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
    """Counts and rates; the pipelining facts say whether the backend generated ahead, and if not why."""

    requests: int = 0
    candidates: int = 0
    batches: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    samples_per_s: float | None = None
    tokens_per_s: float | None = None
    records_per_s: float | None = None
    candidates_per_s: float | None = None
    pipelined: bool | None = None
    prefetch: int | None = None
    backend_busy_seconds: float | None = None
    read_ahead_discarded: int | None = None
    sequential_because: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None or k in ("samples_per_s", "tokens_per_s")}


@dataclass
class Timings:
    wall_seconds: float = 0.0
    generate_seconds: float = 0.0
    backend_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


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
        optional = ("candidate_records", "output", "mix", "structured", "final_sampling", "gates", "gates_passed", "gate_failure",
                    "diversity", "verification", "forecast")
        data = {k: v for k, v in data.items() if k not in optional or v is not None}
        return {**data, **self.extra}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunReport":
        known, extra = _known(cls, data)
        known["stages"] = [StageReport.from_dict(s) for s in known.get("stages", [])]
        known["timings"] = Timings(**_known(Timings, known.get("timings", {}))[0])
        known["throughput"] = Throughput(**_known(Throughput, known.get("throughput", {}))[0])
        return cls(**known, extra=extra)
