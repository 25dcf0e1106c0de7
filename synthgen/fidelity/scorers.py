"""Per-record log-perplexity under a frozen reference model: ``score(texts) → float64 array``, one value
per text, −(1/N) Σ log P(token) over its N scored tokens (natural log; lower = more typical).

* :class:`NgramScorer` (default): the :class:`~.ngram.KneserNeyLM` fitted on real texts, CPU, seconds.
* :class:`VllmScorer`: any vLLM model (the embedded one by default) through prompt logprobs; vLLM is
  imported only when it is first used.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

import numpy as np

from ..errors import SynthgenError


class Scorer(Protocol):
    name: str

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Log-perplexity per text (float64, len(texts))."""


class NgramScorer:
    """An interpolated Kneser-Ney n-gram LM fitted on real texts (``fit``), then frozen."""

    name = "ngram"

    def __init__(self, order: int = 3):
        self.order = order
        self.model_: Any = None

    @property
    def fitted(self) -> bool:
        return self.model_ is not None

    def fit(self, texts: Sequence[str]) -> "NgramScorer":
        from .ngram import KneserNeyLM

        texts = [t for t in texts if t and t.strip()]
        if len(texts) < 2:
            raise SynthgenError(f"the n-gram reference model needs at least 2 real texts, got {len(texts)}",
                                hint="give more reference texts")
        self.model_ = KneserNeyLM(self.order).fit(texts)
        return self

    def score(self, texts: Sequence[str]) -> np.ndarray:
        if not self.fitted:
            raise SynthgenError("the n-gram scorer is not fitted", hint="call fit(reference_texts) first")
        return self.model_.log_perplexities(list(texts))

    def describe(self) -> dict[str, Any]:
        return {"scorer": self.name, "order": self.order,
                "discounts": {str(k): round(v, 4) for k, v in (self.model_.discounts_ if self.fitted else {}).items()}}


class VllmScorer:
    """Prompt logprobs of a vLLM model: each text is a prompt, generation is one token, and the text's
    log-perplexity is the mean −log P of its tokens after the first (the first has no context).

    The engine starts through synthgen's own :class:`~synthgen.backends.vllm_offline.VllmBackend`, so the
    embedded model is provisioned and the CPU settings apply. Nothing is fitted: ``fit`` is a no-op."""

    name = "vllm"

    def __init__(self, model: str = "embedded", max_model_len: int | None = 512, backend: Any = None):
        self.model, self.max_model_len, self._backend = model, max_model_len, backend
        self.fitted = True

    def fit(self, texts: Sequence[str]) -> "VllmScorer":
        return self

    def _engine(self) -> Any:
        if self._backend is None:
            from ..backends.vllm_offline import VllmBackend
            from ..recipe.schema import VllmBackendConfig

            params = {"max_model_len": self.max_model_len} if self.max_model_len else {}
            self._backend = VllmBackend(VllmBackendConfig(type="vllm", model=self.model, **params), mode="completion")
        self._backend.load()
        return self._backend.engine

    def score(self, texts: Sequence[str]) -> np.ndarray:
        llm = self._engine()
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0.0)
        outputs = llm.generate([t if t.strip() else " " for t in texts], params, use_tqdm=False)
        return np.array([_mean_nll(out.prompt_logprobs, out.prompt_token_ids) for out in outputs])

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()

    def describe(self) -> dict[str, Any]:
        return {"scorer": self.name, "model": self.model}


def _mean_nll(prompt_logprobs: list | None, token_ids: list[int]) -> float:
    """−mean log P of the prompt's tokens after the first; NaN for a one-token prompt."""
    if not prompt_logprobs or len(token_ids) < 2:
        return float("nan")
    values = [entry[tid].logprob for entry, tid in zip(prompt_logprobs[1:], token_ids[1:]) if entry]
    return float(-np.mean(values)) if values else float("nan")


def build_scorer(name: str = "ngram", order: int = 3, model: str = "embedded") -> Any:
    if name == "ngram":
        return NgramScorer(order)
    if name == "vllm":
        return VllmScorer(model)
    raise SynthgenError(f"unknown fidelity scorer {name!r}", hint="use 'ngram' or 'vllm'")
