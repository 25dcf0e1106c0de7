"""Deduplication: exact and MinHash near-duplicates against the run, history, real data and eval sets."""

from __future__ import annotations

from typing import Any


def build_dedup_stages(config: Any, loaded: Any) -> list:
    """Stages for a recipe's [dedup] table (placeholder until the dedup stage lands)."""
    raise NotImplementedError("[dedup] is not implemented yet")
