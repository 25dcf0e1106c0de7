"""A deterministic backend whose replies depend on the prompt, for multi-step recipes.

A judge prompt (ending in ``Score:``) gets a score; any other prompt gets words derived from the prompt,
the sampling seed and the sample index, so every step's output differs and is reproducible.
"""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path
from typing import Any

from synthgen.records import Completion

WORDS = "amber brook cinder delta ember fable grove harbor island juniper kestrel lumen meadow nectar".split()


def _digest(*parts: Any) -> int:
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest(), 16)


class PromptBackend:
    """Records each call (requests and sampling); ``scores`` fixes the judge's reply by response text."""

    name = "prompt-test"
    capacity = None

    def __init__(self, scores: dict[str, str] | None = None, empty_when: str | None = None):
        self.calls: list[tuple[list, Any]] = []
        self.scores = scores or {}
        self.empty_when = empty_when
        self.last_usage: dict[str, int] = {}

    def load(self) -> None:
        pass

    def generate(self, requests: list, sampling: Any) -> list[list[Completion]]:
        self.calls.append((list(requests), sampling))
        self.last_usage = {"prompt_tokens": sum(len(r.prompt.split()) for r in requests)}
        return [[self._reply(r, j) for j in range(sampling.n)] for r in requests]

    def _reply(self, request: Any, j: int) -> Completion:
        prompt = request.prompt
        if self.empty_when and self.empty_when in prompt:
            return Completion("", 0, "stop")
        h = _digest(prompt, request.sampling_seed, j)
        if prompt.rstrip().endswith("Score:"):
            text = next((s for key, s in self.scores.items() if key in prompt), f" {1 + h % 10}")
            return Completion(text, 2, "stop")
        words = [WORDS[(h >> (4 * k)) % len(WORDS)] for k in range(6)]
        return Completion(" ".join(words), len(words), "stop")

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name}

    def close(self) -> None:
        pass

    def prompts(self) -> list[list[str]]:
        return [[r.prompt for r in requests] for requests, _ in self.calls]


HEADER = """
[recipe]
name = "steps"
seed = 3

[seeds]
type = "grid"
axes = {{ topic = ["rivers", "bread", "chess", "tides"], persona = ["a child", "a chef"] }}

[generation]
target = {target}
max_candidates = {budget}
batch_size = 4
[generation.backend]
type = "scripted"
[generation.sampling]
max_tokens = 32
"""


def write_steps_recipe(tmp_path: Path, body: str, target: int = 6, budget: int = 40, name: str = "steps.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(HEADER.format(target=target, budget=budget)) + textwrap.dedent(body))
    return path
