"""Rows for the run's tables: accepted records with provenance columns, and rejected candidates."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .records import Candidate, Rejection, as_text, canonical_json, content_hash


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class RunContext:
    """Facts shared by every record of a run."""

    generation: int
    depth: int
    recipe_hash: str
    model: str
    backend: str
    sampling: dict[str, Any]

    @property
    def sampling_hash(self) -> str:
        return hashlib.sha256(canonical_json(self.sampling).encode()).hexdigest()[:16]


def record_row(candidate: Candidate, ctx: RunContext, created_at: str, main_field: str = "text",
               step_columns: tuple[str, ...] | None = None) -> dict[str, Any]:
    """An accepted record: its text (the main column), seed fields (``seed_<name>``), the steps' and
    verifiers' columns and provenance. A one-step ([prompt]) record also keeps the prompt it was
    generated from and is identified by its text; a steps record by all its step columns."""
    request = candidate.request
    text = as_text(candidate.columns.get(main_field, candidate.text))
    if step_columns is None:
        head = {"id": content_hash(text), "text": text, "prompt": request.prompt}
    else:
        content = {name: candidate.columns.get(name) for name in step_columns}
        head = {"id": content_hash(canonical_json(content)), "text": text}
    row: dict[str, Any] = {
        **head,
        **{f"seed_{k}": seed_column_value(v) for k, v in request.seed.fields.items()},
        **candidate.columns,
        "generation": ctx.generation,
        "depth": ctx.depth,
        "recipe_hash": ctx.recipe_hash,
        "model": ctx.model,
        "backend": ctx.backend,
        "sampling": canonical_json(ctx.sampling),
        "sampling_hash": ctx.sampling_hash,
        "seed_index": request.seed.index,
        "prompt_hash": request.prompt_hash,
        "parent_ids": list(request.parent_ids),
        "candidate_index": candidate_index(candidate, ctx),
        "n_tokens": candidate.n_tokens,
        "finish_reason": candidate.finish_reason,
        "scores": canonical_json(candidate.scores),
        "created_at": created_at,
    }
    if step_columns is not None:
        row["parent_id"] = candidate.parent_id
    return row


def rejection_row(rejection: Rejection, ctx: RunContext, created_at: str) -> dict[str, Any]:
    """A dropped candidate with the stage, reason, score, evidence and the raw text."""
    candidate = rejection.candidate
    return {
        "id": candidate.id,
        "candidate_index": candidate_index(candidate, ctx),
        "stage": rejection.stage,
        "reason": rejection.reason,
        "score": rejection.score,
        "evidence": json.dumps(rejection.evidence, sort_keys=True, default=str) if rejection.evidence else None,
        "text": candidate.text,
        "seed_index": candidate.request.seed.index,
        "prompt_hash": candidate.request.prompt_hash,
        "n_tokens": candidate.n_tokens,
        "finish_reason": candidate.finish_reason,
        "created_at": created_at,
        "columns": columns_json(candidate.columns),
    }


def columns_json(columns: dict[str, Any]) -> str | None:
    """A reject's step and verifier columns as JSON (None when it has none): ``text`` is only the column the
    rejecting stage checked, so a rejected response kept no trace of the instruction it answered."""
    return canonical_json(columns) if columns else None


# record_row's own columns: what is left of a kept row without them (and seed_*) is its candidate's columns
_ROW_OWN = frozenset({"id", "text", "prompt", "parent_id", "generation", "depth", "recipe_hash", "model", "backend",
                      "sampling", "sampling_hash", "seed_index", "prompt_hash", "parent_ids", "candidate_index",
                      "n_tokens", "finish_reason", "scores", "created_at"})


def record_as_reject(row: dict[str, Any], stage: str, reason: str, evidence: dict[str, Any] | None = None
                     ) -> dict[str, Any]:
    """An accepted record row moved to the rejects after the fact (over the target, revoked by the gate)."""
    return {"id": row["id"], "candidate_index": row["candidate_index"], "stage": stage, "reason": reason,
            "score": None, "evidence": json.dumps(evidence, sort_keys=True, default=str) if evidence else None,
            "text": row["text"], "seed_index": row["seed_index"], "prompt_hash": row["prompt_hash"],
            "n_tokens": row["n_tokens"], "finish_reason": row["finish_reason"], "created_at": now_iso(),
            "columns": columns_json({k: v for k, v in row.items() if k not in _ROW_OWN and not k.startswith("seed_")})}


def candidate_index(candidate: Candidate, ctx: RunContext) -> int:
    """The record's index in the run (set by the steps); a hand-built candidate's from its request."""
    if candidate.index is not None:
        return candidate.index
    return candidate.request.index * int(ctx.sampling.get("n", 1)) + candidate.sample_index


def seed_column_value(value: Any) -> Any:
    """Seed values become columns; nested values are stored as JSON text to keep the schema flat."""
    return value if isinstance(value, str | int | float | bool) or value is None else canonical_json(value)


def normalize_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give every row the same keys (first-seen order) so Arrow infers one schema."""
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    return [{key: row.get(key) for key in keys} for row in rows]
