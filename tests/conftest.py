"""Shared fixtures: tiny recipes on the scripted backend, written into a temp folder."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

TINY_RECIPE = """
[recipe]
name = "tiny"
seed = 7

[seeds]
type = "grid"
axes = {{ topic = ["rivers", "bread", "chess"], persona = ["a child", "a chef"] }}

[prompt]
template = "Write a question about {{topic}} asked by {{persona}}.\\n{{examples}}\\nQ:"
[prompt.few_shot]
path = "real.jsonl"
k = 2
format = "Q: {{text}}"

[generation]
target = {target}
max_candidates = {budget}
batch_size = {batch_size}
[generation.backend]
type = "scripted"
delay_s = {delay}
[generation.sampling]
max_tokens = 20

[[verify]]
type = "non_empty"

[[verify]]
type = "length"
unit = "words"
min = 5
"""

REAL = ["Why is the sky blue?", "How do bees make honey?", "What is a prime number?", "Who built the pyramids?"]


@pytest.fixture
def write_recipe(tmp_path: Path):
    """Write the tiny recipe (plus its few-shot file) and return its path."""

    def write(target: int = 10, budget: int = 40, batch_size: int = 4, delay: float = 0.0, name: str = "recipe.toml",
              extra: str = "") -> Path:
        (tmp_path / "real.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in REAL))
        path = tmp_path / name
        body = TINY_RECIPE.format(target=target, budget=budget, batch_size=batch_size, delay=delay)
        path.write_text(textwrap.dedent(body) + extra)
        return path

    return write
