"""How well does a *scoring* judge (a ``judge`` step) rank texts people labelled good above bad ones?

A judge step writes a score instead of deciding keep / drop (preference pairs take the best and worst
scored responses), so what matters is its ranking: **AUC**, the chance that a text labelled good scores
above one labelled bad (ties count half; 0.5 is a coin, 1.0 ranks every good text first). At a score
threshold ``t`` (``--threshold``, else the one that agrees best with the labels) the judge is also read
as keep (score ≥ t) / reject, with the counts of :class:`.judge_eval.JudgeEvaluation`. A reply with no
score in range is reported on its own and left out of the ranking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..records import Candidate, GenerationRequest, Seed
from .judge_eval import JudgeEvaluation, read_labels


def rank_auc(good: list[float], bad: list[float]) -> float | None:
    """P(a good text's score > a bad one's) + ½ P(equal), over every (good, bad) pair; None without both."""
    if not good or not bad:
        return None
    g, b = np.asarray(good, float)[:, None], np.asarray(bad, float)[None, :]
    return float(((g > b).sum() + 0.5 * (g == b).sum()) / (g.size * b.size))


def best_threshold(labelled: list[tuple[bool, float]]) -> float | None:
    """The score threshold (keep at score ≥ t) whose verdicts agree with most labels; the lowest on ties."""
    if not labelled:
        return None
    candidates = sorted({score for _, score in labelled})
    return max(candidates, key=lambda t: (sum((s >= t) == label for label, s in labelled), -t))


@dataclass
class ScoreEvaluation:
    """Each parsed (label, score), and how many replies had no score."""

    labelled: list[tuple[bool, float]] = field(default_factory=list)
    unparseable: int = 0

    def to_dict(self, threshold: float | None = None) -> dict[str, Any]:
        good = [s for label, s in self.labelled if label]
        bad = [s for label, s in self.labelled if not label]
        chosen = "given" if threshold is not None else "best"
        threshold = threshold if threshold is not None else best_threshold(self.labelled)
        counts = JudgeEvaluation()
        for label, score in self.labelled:
            counts.add(label, threshold is not None and score >= threshold, None)
        at = {k: v for k, v in counts.to_dict().items() if k not in ("n", "unparseable", "reasons")}
        auc = rank_auc(good, bad)
        return {"n": len(self.labelled) + self.unparseable, "scored": len(self.labelled),
                "unparseable": self.unparseable, "auc": None if auc is None else round(auc, 4),
                "mean_score_good": round(float(np.mean(good)), 4) if good else None,
                "mean_score_bad": round(float(np.mean(bad)), 4) if bad else None,
                "threshold": threshold, "threshold_chosen": chosen, **at}


def labelled_record(index: int, row: dict[str, Any], target: str, prompt_field: str | None, text_field: str,
                    label_field: str) -> Candidate:
    """A labelled row as a record the judge step can score: the text as its ``target`` column, the row's
    ``prompt_field`` (or ``prompt``) column as the instruction, the other columns as seed fields."""
    fields = {k: v for k, v in row.items() if k not in (text_field, label_field)}
    prompt = str(row.get(prompt_field or "prompt", ""))
    record = Candidate(GenerationRequest(index, prompt, Seed(index, fields), 0), 0, str(row[text_field]), 0,
                       index=index)
    record.columns[target] = str(row[text_field])
    if prompt_field:
        record.columns[prompt_field] = prompt
    return record


def evaluate_scores(stage: Any, rows: list[dict[str, Any]], *, text_field: str = "text", label_field: str = "label",
                    batch_size: int = 32, source: str = "labels") -> ScoreEvaluation:
    """Score every row with the judge step ``stage`` (in batches) and pair each score with its label."""
    labels = read_labels(rows, text_field, label_field, source)
    config, result = stage.config, ScoreEvaluation()
    for start in range(0, len(rows), batch_size):
        batch = [labelled_record(i, rows[i], config.target, config.prompt_field, text_field, label_field)
                 for i in range(start, min(start + batch_size, len(rows)))]
        scored = {record.index: record.columns[stage.name] for record in stage.process(batch)}
        for record in batch:
            if record.index in scored:
                result.labelled.append((labels[record.index], float(scored[record.index])))
            else:
                result.unparseable += 1
    return result
