"""Verifiers as Ray tasks: a batch's candidates go to CPU workers in blocks, verdicts come back in order.

Only the verdicts are computed remotely; they are applied on the driver by the same
:class:`~synthgen.pipeline.VerifierStage` code as locally, in candidate order, so the kept records and the
rejects (reason, score, evidence) are identical. What a verifier writes on a candidate (parsed JSON
columns, extracted code, scores, the JSON text) is copied back onto the driver's record before that.
Verifiers that hold a backend (the LLM judge) stay on the driver: their generation already runs on the
engine replicas. Stateful stages (dedup, semantic dedup) and the diversity gate stay on the driver too.
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import SynthgenError
from ..pipeline import Stage, VerifierStage
from ..records import Candidate, Verdict
from .ray_cluster import import_ray
from .ray_engines import RESUME_HINT, first_line

log = logging.getLogger(__name__)
ray = import_ray()
VERIFY_TASK_CPUS = 1.0  # what one verifier task reserves; the replicas must leave this much free


def check_block(verifier: Any, candidates: list[Candidate]) -> list[tuple[Verdict, str, dict, dict]]:
    """Run on a worker: the verdicts (with the local fallback to one-by-one checks) and what the verifier
    wrote on each candidate."""
    verdicts = VerifierStage(verifier, name="remote")._verdicts(candidates)
    return [(verdict, c.text, c.columns, c.scores) for verdict, c in zip(verdicts, candidates, strict=True)]


_CHECK_BLOCK = ray.remote(num_cpus=VERIFY_TASK_CPUS)(check_block)


class RayVerifierStage(VerifierStage):
    """A VerifierStage whose verdicts are computed by Ray tasks over blocks of ``block_size`` candidates."""

    def __init__(self, stage: VerifierStage, block_size: int):
        super().__init__(stage.verifier, name=stage.name)
        self.field, self.stats, self.block_size = stage.field, stage.stats, block_size
        self._verifier_ref = ray.put(stage.verifier)

    def _verdicts(self, candidates: list[Candidate]) -> list[Verdict]:
        blocks = [candidates[i:i + self.block_size] for i in range(0, len(candidates), self.block_size)]
        results = self._get([_CHECK_BLOCK.remote(self._verifier_ref, block) for block in blocks])
        verdicts = []
        for block, result in zip(blocks, results, strict=True):
            for candidate, (verdict, text, columns, scores) in zip(block, result, strict=True):
                copy_back(candidate, text, columns, scores)
                verdicts.append(verdict)
        return verdicts

    def _get(self, refs: list[Any]) -> list[Any]:
        """The blocks' results. A verifier that cannot work raised a SynthgenError on the worker: it stops the
        run with that error's own line, as locally; a worker that died is one line too."""
        try:
            return ray.get(refs)
        except ray.exceptions.RayError as exc:
            raise verifier_error(exc, self.name) from None


def verifier_error(exc: Exception, name: str) -> SynthgenError:
    """A failed verifier task as one line: the verifier's own error when it raised one (the same as a local
    run prints), else why the task or its worker failed."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, SynthgenError):
        return cause
    reason = f"{type(cause).__name__}: {first_line(cause)}" if cause is not None else first_line(exc)
    return SynthgenError(f"verifier {name}: its Ray worker failed ({reason})",
                         hint=f"see the Ray logs (/tmp/ray/session_latest/logs); {RESUME_HINT}")


def copy_back(candidate: Candidate, text: str, columns: dict, scores: dict) -> None:
    """Write a worker's changes onto the driver's candidate. The dicts are updated in place: a field
    stage's view shares them with the record, exactly as a local verifier's writes would."""
    candidate.text = text
    candidate.columns.clear()
    candidate.columns.update(columns)
    candidate.scores.clear()
    candidate.scores.update(scores)


def distributable(stage: Stage) -> bool:
    """A stateless verifier that holds no backend (a judge's generation is already on the replicas)."""
    return type(stage) is VerifierStage and getattr(stage.verifier, "backend", None) is None


def distribute_verifiers(pipeline: list[Stage], block_size: int) -> list[str]:
    """Replace the pipeline's distributable verifier stages in place; returns their names. A verifier
    that cannot be pickled stays on the driver (logged), so a plugin never breaks a Ray run."""
    moved = []
    for i, stage in enumerate(pipeline):
        if not distributable(stage):
            continue
        try:
            pipeline[i] = RayVerifierStage(stage, block_size)
        except Exception as exc:  # noqa: BLE001 - pickling errors come in many types
            log.warning("verifier %s stays on the driver: it cannot be sent to Ray workers (%s)", stage.name, exc)
            continue
        moved.append(stage.name)
    return moved
