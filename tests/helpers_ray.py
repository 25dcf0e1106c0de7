"""Recipes for the Ray executor tests: every stage kind on the scripted backend, and a slow one."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any


def sentences(count: int, offset: int) -> list[str]:
    """Real English sentences (CPython's pydoc topics), shuffled once: any two slices look alike."""
    import random
    import re

    from pydoc_data.topics import topics

    text = " ".join(topics[key] for key in sorted(topics))
    found = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if 8 <= len(s.split()) <= 30][:1000]
    random.Random(0).shuffle(found)
    return found[offset:offset + count]


def answer(i: int, prose: str) -> str:
    """The i-th scripted answer: a judge score, a JSON label, prose and fenced code; some fail a stage."""
    score = (3, 8, 9, 6, 7)[i % 5]
    label = f'{{"label": "v{i}"}}' if i % 7 else f'{{"label": "v{i}"'  # every 7th: broken JSON
    body = "a + b" if i % 6 else "a - b"  # every 6th: fails the test
    fence = f"```python\ndef add(a, b):\n    return {body}\n```" if i % 11 else "no code here"
    return f"Score: {score} {label}\n{prose}\n{fence}"


def outputs() -> list[str]:
    texts = [answer(i, prose) for i, prose in enumerate(sentences(260, 300))]
    for i in range(16, 260, 40):
        texts[i + 2] = texts[i]  # exact duplicates for [dedup]
    return texts


def reference_texts() -> list[str]:
    """Real answers in the same shape (the gate compares like with like)."""
    return [answer(i + 1000, prose) for i, prose in enumerate(sentences(200, 0))]


EVERY_STAGE = """
[recipe]
name = "every-stage"
seed = 5

[seeds]
type = "grid"
axes = {{ topic = ["rivers", "bread", "chess", "tides"], level = ["easy", "hard"] }}

[[steps]]
type = "generate"
name = "task"
template = "Write a small {{level}} task about {{topic}}.\\nTask:"
backend = {{ type = "scripted" }}

[[steps]]
type = "generate"
name = "answer"
template = "Solve: {{task}}\\nAnswer:"
sampling = {{ n = 2 }}

[generation]
target = {target}
max_candidates = {budget}
batch_size = 6
[generation.backend]
type = "scripted"
outputs = {outputs}
delay_s = {delay}
[generation.sampling]
max_tokens = 64

[[verify]]
type = "non_empty"

[[verify]]
type = "regex"
must_match = ["Score:"]

[[verify]]
type = "json"
field = "answer"
columns = ["label"]

[[verify]]
type = "code_execution"
field = "answer"
program = "{{code}}\\nassert add(2, 3) == 5\\n"
timeout_s = 10
workers = 2

[[verify]]
type = "judge"
field = "answer"
threshold = 5

[dedup]
near = false

[diversity]
embedder = "tfidf"
tfidf_components = 8
reference = "reference.jsonl"
near_duplicate_threshold = 0.97

[diversity.gate]
min_samples = 6
min_tokens = 30
clusters = 2
coverage_ratio_min = false      # 2 clusters of a tiny reference: coverage is all or half

[diversity.fidelity]            # scripted words are nothing like the reference's sentences
enabled = false

[diversity.remediation]
budget = 1

{execution}
"""


def write_every_stage(folder: Path, target: int = 12, budget: int = 60, delay: float = 0.0,
                      execution: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "reference.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in reference_texts()))
    body = EVERY_STAGE.format(target=target, budget=budget, delay=delay, outputs=json.dumps(outputs()),
                              execution=execution)
    path = folder / "recipe.toml"
    path.write_text(textwrap.dedent(body))
    return path


def run_rows(run_dir: Path, name: str) -> list[dict[str, Any]]:
    """A run's rows (``data.parquet`` or ``rejected.parquet``) without their wall-clock timestamps."""
    import pyarrow.parquet as pq

    rows = pq.read_table(run_dir / name).to_pylist()
    return [{k: steady(k, v) for k, v in row.items() if k != "created_at"} for row in rows]


def steady(key: str, value: Any) -> Any:
    """A value without its wall-clock parts: a sandbox's ``seconds`` in reject evidence."""
    if key != "evidence" or not value:
        return value
    evidence = json.loads(value)
    return {k: v for k, v in evidence.items() if k != "seconds"} if isinstance(evidence, dict) else evidence


def shard_bytes(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((run_dir / "checkpoints").glob("batch-*.json"))}


REPLAY_GATE_MIX = """
[recipe]
name = "replay-gate-mix"
seed = 11

[seeds]
type = "grid"
axes = {{ topic = ["rivers", "bread", "chess"], persona = ["a child", "a chef"] }}

[prompt]
template = "Write one sentence about {{topic}} for {{persona}}."

[generation]
target = 30
max_candidates = 120
batch_size = 10
[generation.backend]
type = "replay"
path = "completions.jsonl"

[[verify]]
type = "length"
unit = "words"
min = 10

[[verify]]
type = "blocklist"
phrases = ["object"]

[dedup]

[diversity]
embedder = "tfidf"
tfidf_components = 16
reference = "reference.jsonl"

[diversity.gate]
min_samples = 10
min_tokens = 100
clusters = 3

[diversity.remediation]
budget = 1

[mix]
real = "reference.jsonl"
max_synthetic_share = 0.3
"""


def write_replay_gate_mix(folder: Path) -> Path:
    """A [prompt] recipe on the replay backend with rules, dedup, semantic dedup, the gate and the mix."""
    folder.mkdir(parents=True, exist_ok=True)
    texts = sentences(120, 300)
    texts[5] = texts[3]  # an exact duplicate
    (folder / "completions.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    (folder / "reference.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in sentences(150, 0)))
    path = folder / "recipe.toml"
    path.write_text(textwrap.dedent(REPLAY_GATE_MIX.format()))
    return path
