"""The run's progress line: accepted records/s, candidates/s, tokens/s and where the time goes.

``gen`` is the time the backend spent generating (read-ahead included; measured inside the lock that
serializes the backend, so a step waiting for another thread's call does not count that wait); every other entry is a stage's own time (a step's time minus what it waited on the backend). The shares
are of their sum, so the largest one is the bottleneck: with a pipelined runner the backend and the
stages overlap, and the run goes as fast as its slowest part.

:class:`PhaseProgress` is the data commands' counterpart (``synthgen dedup``, ``synthgen metrics``): their work
runs in phases, reported through a :data:`PhaseHook`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import time
from typing import Any, Callable, Iterator

from .pipeline import StageStats

GEN = "gen"
FALLBACK_COLUMNS, FALLBACK_ROWS = 80, 24


def bar_width(file: Any) -> dict[str, Any]:
    """tqdm's size options for a bar on ``file``: follow the terminal's size, except where the terminal says it
    has 0 columns or 0 rows (a pseudo-terminal nobody sized: some CI runners, ``script``). There tqdm hides
    every bar (a bar on a row past the screen's height is not drawn) and leaves only its closing newline, so
    the bar gets a fixed size instead."""
    try:
        size = os.get_terminal_size(file.fileno())
    except (AttributeError, OSError, ValueError):  # not a terminal: tqdm's own default
        return {"dynamic_ncols": True}
    options: dict[str, Any] = {"dynamic_ncols": size.columns > 0}
    if size.columns <= 0:
        options["ncols"] = FALLBACK_COLUMNS
    if size.lines <= 0:
        options["nrows"] = FALLBACK_ROWS
    return options


def time_shares(stats: list[StageStats]) -> list[tuple[str, float]]:
    """(name, share of busy time), largest first: ``gen`` for backend time, then each stage's own time."""
    busy = {GEN: sum(s.backend_seconds for s in stats)}
    for s in stats:
        own = max(s.seconds - s.llm_seconds, 0.0)
        busy[s.name] = busy.get(s.name, 0.0) + own
    total = sum(busy.values())
    if total <= 0:
        return []
    return sorted(((name, seconds / total) for name, seconds in busy.items()), key=lambda item: -item[1])


def format_shares(shares: list[tuple[str, float]], top: int = 4) -> str:
    """``gen 62% | verify 20% | dedup 5%`` (the ``top`` largest; shares under 1% are left out)."""
    return " | ".join(f"{name} {share:.0%}" for name, share in shares[:top] if share >= 0.01)


def acceptance(kept: int, rejected: int) -> float:
    """Kept ÷ records made (every record ends kept or rejected): never above 1, also where a step fans one
    candidate out into several records (kept ÷ first-step candidates is then a yield, not an acceptance)."""
    return kept / (kept + rejected) if kept + rejected else 0.0


class RunProgress:
    """A tqdm bar over accepted records whose postfix says how fast and which stage is the bottleneck.
    Rates are over this session's wall time (a resumed run does not count the restored batches)."""

    def __init__(self, runner: Any, enabled: bool = True):
        from tqdm.auto import tqdm

        self.runner = runner
        state = runner.state
        total = runner.limits.target
        self.bar = tqdm(total=total, initial=min(len(state.kept_rows), total), unit="rec", desc="generate",
                        disable=not enabled, **bar_width(sys.stderr),
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]")
        self.start = time.perf_counter()
        self.base = (len(state.kept_rows), state.candidates, state.completion_tokens)

    def rates(self) -> dict[str, float]:
        state, elapsed = self.runner.state, max(time.perf_counter() - self.start, 1e-9)
        kept, candidates, tokens = self.base
        return {"records_per_s": (len(state.kept_rows) - kept) / elapsed,
                "candidates_per_s": (state.candidates - candidates) / elapsed,
                "tokens_per_s": (state.completion_tokens - tokens) / elapsed}

    def line(self) -> str:
        rates = self.rates()
        state = self.runner.state
        accepted = acceptance(len(state.kept_rows), len(state.rejected_rows))
        shares = format_shares(time_shares(self.runner.checkpoint_stats()))
        tokens = "? tok/s" if state.tokens_unknown else f"{rates['tokens_per_s']:.0f} tok/s"
        return (f"{rates['records_per_s']:.2f} rec/s, {rates['candidates_per_s']:.1f} cand/s, "
                f"{tokens}, acc {accepted:.0%}" + (f" | {shares}" if shares else ""))

    def update(self) -> None:
        self.bar.update(min(len(self.runner.state.kept_rows), self.runner.limits.target) - self.bar.n)
        self.bar.set_postfix_str(self.line(), refresh=False)

    def close(self) -> None:
        self.bar.close()


PhaseHook = Callable[[str, "int | None", "int | None"], None]
"""``hook(phase, done, total)``: a long command's progress, called in the driver process only. ``done`` is
the phase's rows so far (``None`` for a phase announced only as it starts); ``total`` its rows when known."""


def silent(phase: str, done: int | None = None, total: int | None = None) -> None:
    """The :data:`PhaseHook` of a run nobody watches."""


def progress_wanted(flag: bool | None, stream: Any = None) -> bool:
    """``--progress`` / ``--quiet`` when given, else whether stderr is a terminal. (``generate`` always draws its
    bar; the data commands' stderr is often captured together with their stdout by scripts, so they stay
    silent unless someone is watching.)"""
    if flag is not None:
        return flag
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@functools.lru_cache(maxsize=1)
def _bar_class() -> type:
    """tqdm without its monitor thread: a dedup forks its workers only while its process runs no other thread
    (:func:`synthgen.dedup.sketch.start_method`), and a thread left by a closed bar would make it spawn them."""
    from tqdm.auto import tqdm

    return type("PhaseBar", (tqdm,), {"monitor_interval": 0})


class PhaseProgress:
    """A :data:`PhaseHook` drawing on stderr: a tqdm bar for a counted phase, a ``label: phase...`` line for
    the others, and on :meth:`close` one line with the total time and each phase's."""

    def __init__(self, label: str, file: Any = None, unit: str = " rows"):
        self.label, self.unit = label, unit
        self.file = sys.stderr if file is None else file  # resolved now: CliRunner swaps sys.stderr
        self.phase: str | None = None
        self.bar: Any = None
        self.started = self.began = time.perf_counter()
        self.times: dict[str, float] = {}

    def __call__(self, phase: str, done: int | None = None, total: int | None = None) -> None:
        if phase != self.phase:
            self._finish()
            self._begin(phase, done, total)
        if self.bar is not None and done is not None:
            limit = max(total, done) if total is not None else None  # a total read from metadata may be short
            if limit != self.bar.total:
                self.bar.total = limit
            self.bar.update(done - self.bar.n)

    def _begin(self, phase: str, done: int | None, total: int | None) -> None:
        self.phase, self.began = phase, time.perf_counter()
        if done is None:
            self.line(f"{phase}" + (f" ({total:,}{self.unit})" if total is not None else "") + "...")
        else:
            self.bar = _bar_class()(total=total, desc=f"{self.label}: {phase}", unit=self.unit, unit_scale=True,
                                    file=self.file, mininterval=0.2, leave=True, **bar_width(self.file))

    def _finish(self) -> None:
        if self.phase is None:
            return
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.times[self.phase] = self.times.get(self.phase, 0.0) + time.perf_counter() - self.began
        self.phase = None

    def line(self, text: str) -> None:
        print(f"{self.label}: {text}", file=self.file, flush=True)

    def close(self, finished: bool = True) -> None:
        """End the last phase; when ``finished``, say how long the whole and each phase took."""
        self._finish()
        if finished and self.times:
            phases = ", ".join(f"{phase} {seconds:.1f}s" for phase, seconds in self.times.items())
            self.line(f"done in {time.perf_counter() - self.started:.1f}s ({phases})")

    def __enter__(self) -> "PhaseProgress":
        return self

    def __exit__(self, kind: Any, *exc: Any) -> None:
        self.close(finished=kind is None)


@contextlib.contextmanager
def phase_hook(progress: "PhaseHook | bool | None", label: str, unit: str = " rows") -> Iterator["PhaseHook | None"]:
    """The hook a library function reports to: the caller's callable, a :class:`PhaseProgress` on stderr for
    ``True`` (closed with the block), or ``None`` (silent, the default for Python callers)."""
    if callable(progress):
        yield progress
    elif progress:
        with PhaseProgress(label, unit=unit) as hook:
            yield hook
    else:
        yield None
