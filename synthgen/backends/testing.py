"""A deterministic backend for tests and dry runs: outputs are a pure function of the request.

It records every call, so tests can assert batching, and can sleep per batch so a real process can be
killed mid-run.
"""

from __future__ import annotations

import time
from typing import Any

from ..records import Completion, GenerationRequest
from ..recipe.schema import SamplingConfig, ScriptedBackendConfig

_WORDS = (
    "river stone lantern orbit cedar pixel harbor quartz meadow signal ember fjord cobalt thistle "
    "prism gale walnut saffron glacier compass violet canyon marble sparrow tundra beacon"
).split()


class ScriptedBackend:
    """Cycles through ``outputs`` when given; otherwise writes a short text seeded by the request."""

    name = "scripted"
    capacity = None

    def __init__(self, config: ScriptedBackendConfig | None = None):
        self.config = config or ScriptedBackendConfig(type="scripted")
        self.calls: list[list[GenerationRequest]] = []
        self.loaded = False

    def load(self) -> None:
        self.loaded = True

    def generate(self, requests: list[GenerationRequest], sampling: SamplingConfig) -> list[list[Completion]]:
        self.calls.append(list(requests))
        delay = self.config.delay_s + (self.config.latency_per_prompt_s or 0.0) * len(requests)
        if delay:
            time.sleep(delay)
        return [[self._complete(r, j, sampling) for j in range(sampling.n)] for r in requests]

    def _complete(self, request: GenerationRequest, j: int, sampling: SamplingConfig) -> Completion:
        if self.config.outputs:
            text = self.config.outputs[(request.index * sampling.n + j) % len(self.config.outputs)]
        else:
            seed = request.sampling_seed + 7919 * j
            words = [_WORDS[(seed // 7**k) % len(_WORDS)] for k in range(3 + seed % 6)]
            subject = " ".join(str(v) for v in request.seed.fields.values())
            text = f"{subject}: {' '.join(words)}?"
        words = text.split()[: sampling.max_tokens]
        finish = "length" if len(text.split()) > sampling.max_tokens else "stop"
        return Completion(" ".join(words) if finish == "length" else text, len(words), finish)

    def enforces(self, kind: str) -> bool:
        """Decoding constraints (``json``, ``choice``, ``regex``) are not enforced: outputs are given."""
        return False

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": "scripted", "outputs": len(self.config.outputs)}

    def close(self) -> None:
        self.loaded = False
