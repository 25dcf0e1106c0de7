"""How well does a judge agree with people? Run it over labelled texts and count.

Positive = "keep": a row labelled good that the judge keeps is a true positive. An unparseable reply
counts as a rejection (that is what the run would do) and is also reported on its own.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..errors import SynthgenError
from ..records import Candidate, GenerationRequest, Seed
from .judge import UNPARSEABLE

_TRUE = {"1", "true", "yes", "y", "good", "pass", "passed", "accept", "accepted", "keep", "positive"}
_FALSE = {"0", "false", "no", "n", "bad", "fail", "failed", "reject", "rejected", "drop", "negative"}


def parse_label(value: Any, where: str) -> bool:
    """A label as keep (True) or reject (False): booleans, 0/1, or words like good/bad, accept/reject."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().casefold()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SynthgenError(f"{where}: label {value!r} is neither positive nor negative",
                        hint="use 1/0, true/false, good/bad or accept/reject")


@dataclass
class JudgeEvaluation:
    """Confusion counts of the judge's keep/reject against the labels, with the usual ratios."""

    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0
    reasons: Counter = field(default_factory=Counter)

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    @property
    def agreement(self) -> float | None:
        return (self.tp + self.tn) / self.n if self.n else None

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def unparseable(self) -> int:
        return self.reasons.get(UNPARSEABLE, 0)

    def add(self, label: bool, kept: bool, reason: str | None) -> None:
        if kept:
            self.tp, self.fp = self.tp + label, self.fp + (not label)
        else:
            self.fn, self.tn = self.fn + label, self.tn + (not label)
            self.reasons[reason or "rejected"] += 1

    def to_dict(self) -> dict[str, Any]:
        ratio = {k: None if v is None else round(v, 4)
                 for k, v in (("agreement", self.agreement), ("precision", self.precision), ("recall", self.recall))}
        return {"n": self.n, **ratio, "unparseable": self.unparseable, "tp": self.tp, "fp": self.fp,
                "tn": self.tn, "fn": self.fn, "reasons": dict(self.reasons.most_common())}


def labelled_candidate(index: int, row: dict[str, Any], text_field: str, label_field: str) -> Candidate:
    """A row as a candidate: ``prompt`` (if any) is the generation prompt, other columns are seed fields."""
    fields = {k: v for k, v in row.items() if k not in (text_field, label_field)}
    prompt = str(row.get("prompt", ""))
    request = GenerationRequest(index, prompt, Seed(index, fields), 0)
    text = str(row[text_field])
    return Candidate(request, 0, text, len(text.split()))


def read_labels(rows: list[dict[str, Any]], text_field: str, label_field: str, source: str) -> list[bool]:
    """Each row's label as keep / reject; one clear error for no rows, or a row without its text or label."""
    if not rows:
        raise SynthgenError(f"{source}: no labelled rows to judge",
                            hint=f"give a jsonl/csv/parquet file with {text_field!r} and {label_field!r} columns")
    for i, row in enumerate(rows):
        missing = [k for k in (text_field, label_field) if k not in row]
        if missing:
            raise SynthgenError(f"{source}: row {i + 1} has no {missing[0]!r} column",
                                hint=f"a labelled file needs {text_field!r} and {label_field!r} columns")
        _check_text(row[text_field], f"{source}: row {i + 1}", text_field)
    return [parse_label(row[label_field], f"{source}: row {i + 1}") for i, row in enumerate(rows)]


def _check_text(text: Any, where: str, text_field: str) -> None:
    """A row's text must be there: a null or blank one would be judged as "None" or "" and counted."""
    if text is None or (isinstance(text, str) and not text.strip()):
        raise SynthgenError(f"{where}: {text_field!r} is {'null' if text is None else 'empty'}: nothing to judge",
                            hint="fill in the text or remove the row")


def evaluate_judge(verifier: Any, rows: list[dict[str, Any]], *, text_field: str = "text",
                   label_field: str = "label", batch_size: int = 32, source: str = "labels") -> JudgeEvaluation:
    """Judge every row (in batches) and compare with its label."""
    labels = read_labels(rows, text_field, label_field, source)
    result = JudgeEvaluation()
    for start in range(0, len(rows), batch_size):
        chunk = [labelled_candidate(i, rows[i], text_field, label_field)
                 for i in range(start, min(start + batch_size, len(rows)))]
        for offset, verdict in enumerate(verifier.check_batch(chunk)):
            result.add(labels[start + offset], verdict.keep, verdict.reason)
    return result
