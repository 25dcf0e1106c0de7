"""The generation ledger of a project folder (``<project>/lineage.json``).

Every generation a project produces is recorded with its parents, model, recipe hash, depth from human
data, counts and metrics, so a loop can tell which generation was best, how deep the current one is (the
mixer's cap tightens with depth) and where each dataset came from. Entries are only ever added (or an
entry replaced in place); parents must already be recorded, so the lineage is always a DAG.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator

from ..provenance import now_iso
from .entry import LineageEntry, LineageError
from .store import LEDGER_FILE, locked, read_state, write_state


class Ledger:
    """A snapshot of the ledger file; every change re-reads it under a lock, applies, and writes atomically."""

    def __init__(self, path: Path, state: dict[str, Any]):
        self.path = Path(path)
        self._load(state)

    @classmethod
    def open(cls, location: str | Path, create: bool = True) -> "Ledger":
        """The ledger of project folder ``location`` (or of the ``lineage.json`` path itself). With
        ``create`` False a missing ledger is an error; otherwise it is created by the first ``add``."""
        location = Path(location)
        path = location if location.name == LEDGER_FILE or location.is_file() else location / LEDGER_FILE
        if not create and not path.parent.is_dir():
            raise LineageError(f"{path.parent}: no such folder",
                               hint="pass the project folder that synthgen evolve wrote to")
        if not create and not path.is_file():
            raise LineageError(f"no lineage ledger in {path.parent} ({LEDGER_FILE} not found)",
                               hint="pass the project folder that synthgen evolve wrote to")
        return cls(path, read_state(path))

    def _load(self, state: dict[str, Any]) -> None:
        entries = [LineageEntry.from_dict(raw, f"{self.path}: entries[{i}]") for i, raw in enumerate(state["entries"])]
        check_graph(self.path, entries)
        check_best(self.path, state.get("best"), [e.id for e in entries])
        self._state = state
        self._entries = {e.id: e for e in entries}

    def refresh(self) -> "Ledger":
        """Re-read the file (another process may have added generations)."""
        self._load(read_state(self.path))
        return self

    # --- reading ------------------------------------------------------------------------------------

    @property
    def entries(self) -> list[LineageEntry]:
        """All entries in the order they were recorded."""
        return list(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[LineageEntry]:
        return iter(self.entries)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._entries

    def get(self, entry_id: str) -> LineageEntry:
        if entry_id not in self._entries:
            raise LineageError(f"no generation {entry_id!r} in {self.path}", hint=self._known_ids_hint(entry_id))
        return self._entries[entry_id]

    def _known_ids_hint(self, entry_id: str) -> str:
        close = difflib.get_close_matches(entry_id, list(self._entries), n=1)
        if close:
            return f"did you mean {close[0]!r}?"
        return f"recorded: {', '.join(self._entries) or 'nothing yet'}"

    def children(self, entry_id: str) -> list[LineageEntry]:
        self.get(entry_id)
        return [e for e in self._entries.values() if entry_id in e.parents]

    def roots(self) -> list[LineageEntry]:
        return [e for e in self._entries.values() if not e.parents]

    def chain(self, entry_id: str) -> list[LineageEntry]:
        """The entries from a root down to ``entry_id`` along first parents: the series a stop rule reads."""
        chain = [self.get(entry_id)]
        while chain[-1].parents:
            chain.append(self.get(chain[-1].parents[0]))
        return chain[::-1]

    def descendants(self, entry_id: str) -> set[str]:
        found: set[str] = set()
        stack = [entry_id]
        while stack:
            for child in self.children(stack.pop()):
                if child.id not in found:
                    found.add(child.id)
                    stack.append(child.id)
        return found

    @property
    def best_id(self) -> str | None:
        """The generation marked best by :meth:`mark_best` (e.g. by the loop's stop rule)."""
        return self._state.get("best")

    def best(self, metric: str, higher_is_better: bool = True) -> LineageEntry | None:
        """The entry with the best value of ``metric`` (first recorded wins ties); None if none has it."""
        scored = [e for e in self._entries.values() if _finite(e.metrics.get(metric))]
        if not scored:
            return None
        sign = 1.0 if higher_is_better else -1.0
        return max(scored, key=lambda e: sign * e.metrics[metric])

    def tree(self) -> str:
        """The lineage as printable text, one line per generation, children indented under parents."""
        from .tree import render_tree

        return render_tree(self.entries, self.best_id, str(self.path.parent))

    # --- changing -----------------------------------------------------------------------------------

    def add(self, entry: LineageEntry, replace_existing: bool = False) -> LineageEntry:
        """Record ``entry`` (depth and created_at filled in when None); returns the stored entry.

        Its parents must already be recorded. An id already recorded is an error unless
        ``replace_existing`` (e.g. a resumed generation updating its counts and metrics)."""
        entry = entry.checked()
        stored: list[LineageEntry] = []

        def change(ledger: Ledger, state: dict[str, Any]) -> None:
            stored.append(ledger._completed(entry, replace_existing))
            state["entries"] = _put(state["entries"], stored[0].to_dict())

        self._change(change)
        return stored[0]

    def _completed(self, entry: LineageEntry, replace_existing: bool) -> LineageEntry:
        """``entry`` checked against the ledger, with depth and created_at derived where missing."""
        if entry.id in self._entries and not replace_existing:
            raise LineageError(f"generation {entry.id!r} is already recorded in {self.path}",
                               hint="choose a new id, or pass replace_existing=True to update it")
        missing = [p for p in entry.parents if p not in self._entries]
        if missing:
            raise LineageError(f"{entry.id}: parent generation {missing[0]!r} is not in {self.path}",
                               hint=f"record the parent first; {self._known_ids_hint(missing[0])}")
        if entry.id in self._entries and self.descendants(entry.id) & set(entry.parents):
            raise LineageError(f"{entry.id}: a descendant cannot become its parent (the lineage would loop)")
        return replace(entry, depth=self._depth(entry), created_at=entry.created_at or now_iso())

    def _depth(self, entry: LineageEntry) -> int:
        derived = 1 + max((self._entries[p].depth for p in entry.parents), default=-1)
        if entry.depth is None:
            return derived
        if entry.parents and entry.depth == 0:
            raise LineageError(f"{entry.id}: depth 0 means human (real) data, which has no parent generations",
                               hint=f"leave depth unset to derive it ({derived}), or remove the parents")
        return entry.depth

    def mark_best(self, entry_id: str) -> None:
        """Mark ``entry_id`` as the project's best generation (the one to train on / roll back to)."""

        def change(ledger: Ledger, state: dict[str, Any]) -> None:
            ledger.get(entry_id)
            state["best"] = entry_id

        self._change(change)

    def _change(self, apply: Callable[["Ledger", dict[str, Any]], None]) -> None:
        """Lock, re-read, apply, write atomically, and keep the new state; nothing is written on error."""
        with locked(self.path.parent):
            self.refresh()
            state = {**self._state, "entries": list(self._state["entries"])}
            apply(self, state)
            write_state(self.path, state)
            self._load(state)


def check_graph(path: Path, entries: list[LineageEntry]) -> None:
    """Refuse a ledger (edited by hand or damaged) whose ids repeat, whose parents are not recorded or
    whose parents loop: readers would otherwise crash or silently leave generations out."""
    index: dict[str, int] = {}
    for i, entry in enumerate(entries):
        if entry.id in index:
            raise LineageError(f"{path}: entries[{i}] repeats the id {entry.id!r} of entries[{index[entry.id]}]",
                               hint="give each generation its own id, or remove the duplicate entry")
        index[entry.id] = i
    for i, entry in enumerate(entries):
        for parent in entry.parents:
            if parent not in index:
                raise LineageError(f"{path}: entries[{i}] ({entry.id!r}) names parent {parent!r}, which is not "
                                   f"recorded", hint=f"fix or remove that parent; recorded: {', '.join(index)}")
    loop = _find_loop({e.id: e.parents for e in entries})
    if loop:
        raise LineageError(f"{path}: the parents loop: {' → '.join(loop)} (→ points to a parent)",
                           hint="a generation cannot descend from itself; fix the parents of one of these entries")


def check_best(path: Path, best: Any, ids: list[str]) -> None:
    """Refuse a ``best`` that names no recorded generation: a loop rolling back to it would find nothing."""
    if best is not None and (not isinstance(best, str) or best not in ids):
        close = difflib.get_close_matches(best, ids, n=1) if isinstance(best, str) else []
        raise LineageError(f"{path}: best names {best!r}, which is not a recorded generation",
                           hint=f"{f'did you mean {close[0]!r}? ' if close else ''}set best to a recorded id "
                                f"({', '.join(ids) or 'none yet'}) or to null")


def _find_loop(parents: dict[str, tuple[str, ...]]) -> list[str] | None:
    """A cycle of the parent graph as ``[a, b, …, a]`` (each the parent of the one before), or None.
    Depth-first along parents; ``path`` is the current walk, ``done`` the ids known to reach no loop."""
    done: set[str] = set()
    for start in parents:
        path: list[str] = []
        stack = [start]
        while stack:
            node = stack.pop()
            if node is None:  # every parent of path[-1] explored
                done.add(path.pop())
                continue
            if node in path:
                return path[path.index(node):] + [node]
            if node in done:
                continue
            path.append(node)
            stack.append(None)
            stack.extend(parents[node])
    return None


def _put(raws: list[dict[str, Any]], raw: dict[str, Any]) -> list[dict[str, Any]]:
    """``raws`` with ``raw`` in place of the entry of the same id, or appended."""
    if any(old["id"] == raw["id"] for old in raws):
        return [raw if old["id"] == raw["id"] else old for old in raws]
    return [*raws, raw]


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
