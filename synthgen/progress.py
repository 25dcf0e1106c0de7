"""The run's progress line: accepted records/s, candidates/s, tokens/s and where the time goes.

``gen`` is the time the backend spent generating (read-ahead included; measured inside the lock that
serializes the backend, so a step waiting for another thread's call does not count that wait); every other entry is a stage's own time (a step's time minus what it waited on the backend). The shares
are of their sum, so the largest one is the bottleneck: with a pipelined runner the backend and the
stages overlap, and the run goes as fast as its slowest part.
"""

from __future__ import annotations

import time
from typing import Any

from .pipeline import StageStats

GEN = "gen"


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
                        disable=not enabled, dynamic_ncols=True,
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
