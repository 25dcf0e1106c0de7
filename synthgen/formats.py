"""Dataset formats that trainers read directly (TRL's dataset formats), provenance columns alongside.

- ``raw``: every column the steps and verifiers wrote (a [prompt] recipe: ``text`` and ``prompt``);
- ``messages``: conversational, ``[{role, content}, …]`` from a chat step or from prompt + completion;
- ``prompt_completion``: ``prompt`` and ``completion`` strings;
- ``preference``: ``prompt`` / ``chosen`` / ``rejected`` (with both scores and the margin).
"""

from __future__ import annotations

from typing import Any

from .records import as_text

PREFERENCE_EXTRAS = ("chosen_score", "rejected_score", "margin")


FORMAT_COLUMNS = {"messages": ("id", "messages"), "prompt_completion": ("id", "prompt", "completion"),
                  "preference": ("id", "prompt", "chosen", "rejected")}


def format_columns(output: Any) -> tuple[str, ...]:
    """The columns a dataset of ``output.format`` always has (what an empty run writes)."""
    if output.format == "raw":
        return ("id", "text") if output.shorthand else ("id", *output.columns)
    return FORMAT_COLUMNS[output.format]


def format_rows(rows: list[dict[str, Any]], output: Any) -> list[dict[str, Any]]:
    """Shape the final records for ``output.format``: the texts the steps wrote are left out (the format's
    columns carry them, and extra text columns would confuse a trainer's format detection); scores, sampled
    values, operators and provenance columns stay."""
    if output.format == "raw":
        return rows if output.shorthand else [_without(row, ("text",)) for row in rows]
    content = set(output.text_columns) | {"text", "prompt"}
    shaped = []
    for row in rows:
        head = {"id": row["id"], **_format_columns(row, output)}
        shaped.append({**head, **{k: v for k, v in row.items() if k not in content and k not in head}})
    return shaped


def _format_columns(row: dict[str, Any], output: Any) -> dict[str, Any]:
    if output.format == "preference":
        return {key: row[key] for key in ("prompt", "chosen", "rejected", *PREFERENCE_EXTRAS)}
    if output.format == "prompt_completion":
        return {"prompt": column(row, output.prompt), "completion": column(row, output.completion)}
    if output.messages is not None:
        return {"messages": [dict(m) for m in row[output.messages]]}
    return {"messages": [{"role": "user", "content": column(row, output.prompt)},
                         {"role": "assistant", "content": column(row, output.completion)}]}


def column(row: dict[str, Any], name: str) -> str:
    """A step column, or a seed field (stored as ``seed_<name>``), as text."""
    value = row[name] if name in row else row.get(f"seed_{name}")
    return as_text(value)


def _without(row: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in keys}


def dataset_text(row: dict[str, Any], main_field: str | None) -> str:
    """A dataset row's text: a raw [[steps]] row has no ``text`` column, so its main step column (the last
    generate, rewrite or chat step's, ``output.main_field``) is its text; any other row's is
    :func:`record_text`."""
    if row.get("text") is None and main_field is not None and row.get(main_field) is not None:
        return as_text(row[main_field])
    return record_text(row)


def record_text(row: dict[str, Any]) -> str:
    """A record of any format as one text, for reports and cards: its text, its conversation, its
    prompt and completion, or its chosen response."""
    if row.get("text") is not None:
        return as_text(row["text"])
    if row.get("messages") is not None:
        return as_text(list(row["messages"]))
    if row.get("chosen") is not None:
        return f"{as_text(row.get('prompt'))} => {as_text(row['chosen'])}"
    if row.get("completion") is not None:
        return f"{as_text(row.get('prompt'))} => {as_text(row['completion'])}"
    return ""
