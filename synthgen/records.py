"""The records that flow through a run: seeds, requests, completions, candidates and verdicts.

Plain dataclasses, no behaviour beyond derived identifiers, so every stage can be tested with literals.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any


def content_hash(text: str, length: int = 16) -> str:
    """Stable short hex id of a text (sha256 prefix)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def canonical_json(value: Any) -> str:
    """Sorted, compact JSON: the form hashed for recipes, sampling configs and seeds."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass(frozen=True)
class Seed:
    """One seed row: the fields a prompt template is rendered from."""

    index: int
    fields: dict[str, Any]


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt sent to a backend. ``index`` is the request's position in the run, which fixes its
    seed, few-shot examples and sampling seed, so a resumed run regenerates exactly the same requests."""

    index: int
    prompt: str
    seed: Seed
    sampling_seed: int
    parent_ids: tuple[str, ...] = ()

    @property
    def prompt_hash(self) -> str:
        return content_hash(self.prompt)


@dataclass(frozen=True)
class Completion:
    """One sampled continuation returned by a backend."""

    text: str
    n_tokens: int
    finish_reason: str | None = None


@dataclass
class Candidate:
    """A record on its way through the steps and stages. Steps write ``columns``; verifiers may add
    ``columns`` and ``scores``. ``text`` is what the current stage checks (see :meth:`view`).

    ``index`` is the record's position in the run (request index and the sample index of every fan-out
    step, in mixed radix), so a resumed run recognises the same record again; None for a candidate built
    by hand, whose index is ``request.index`` and ``sample_index``."""

    request: GenerationRequest
    sample_index: int
    text: str
    n_tokens: int
    finish_reason: str | None = None
    columns: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    index: int | None = None
    parent_id: str | None = None
    turns: tuple[str, ...] | None = None

    @property
    def id(self) -> str:
        return content_hash(self.text)

    def view(self, column: str | None) -> "Candidate":
        """This record as a stage checking ``column`` sees it: ``text`` is that column (a conversation is
        shown as its transcript); columns and scores are shared, so what a verifier adds stays on the record.

        When the column is a conversation, ``turns`` holds its turns' contents (no role labels): a verifier
        that measures content (``length``) or its absence (``non_empty``) reads them, since the transcript's
        ``user:`` / ``assistant:`` labels are text no turn holds. ``turns`` is None otherwise."""
        if column is None or column not in self.columns:
            return self
        value = self.columns[column]
        return replace(self, text=as_text(value), turns=turn_texts(value) if is_conversation(value) else None)


def is_conversation(value: Any) -> bool:
    """A list of ``{role, content}`` turns (the ``messages`` format; roles may be left out)."""
    return isinstance(value, list) and all(isinstance(m, dict) and "content" in m for m in value)


def as_text(value: Any) -> str:
    """A column value as text: conversations as ``role: content`` lines, other values as JSON or str."""
    if isinstance(value, str):
        return value
    if is_conversation(value):
        return "\n".join(f"{m.get('role', 'user')}: {content_text(m['content'])}" for m in value)
    return canonical_json(value) if isinstance(value, dict | list) else str(value)


def content_text(content: Any) -> str:
    """A turn's content as text: a string as it is; OpenAI-style content parts (``[{"type": "text", "text":
    ...}, {"type": "image_url", ...}]``) as their text parts, one per line; None as ''."""
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if isinstance(content, list):
        return "\n".join(part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str))
    return canonical_json(content) if isinstance(content, dict) else str(content)


def turn_texts(conversation: list[dict[str, Any]]) -> tuple[str, ...]:
    """The contents of a conversation's turns, as text, in order (role labels left out)."""
    return tuple(content_text(message["content"]) for message in conversation)


def conversation_has_text(value: Any) -> bool:
    """A conversation with at least one turn whose content holds non-blank text."""
    return bool(value) and is_conversation(value) and any(content_text(m["content"]).strip() for m in value)


@dataclass(frozen=True)
class Verdict:
    """A verifier's decision on one candidate; ``reason`` is a snake_case constant when dropped."""

    keep: bool
    reason: str | None = None
    score: float | None = None
    evidence: dict[str, Any] | None = None

    @classmethod
    def accept(cls, score: float | None = None) -> "Verdict":
        return cls(True, None, score)

    @classmethod
    def reject(cls, reason: str, score: float | None = None, **evidence: Any) -> "Verdict":
        return cls(False, reason, score, evidence or None)


@dataclass(frozen=True)
class Rejection:
    """A dropped candidate with the stage that dropped it, why, and the evidence."""

    candidate: Candidate
    stage: str
    reason: str
    score: float | None = None
    evidence: dict[str, Any] | None = None
