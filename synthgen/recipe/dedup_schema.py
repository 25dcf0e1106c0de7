"""[dedup] table: exact and MinHash near-duplicate removal (filled in by the dedup work)."""

from __future__ import annotations

from pydantic import Field

from .base import Strict


class DedupConfig(Strict):
    exact: bool = Field(True, description="Drop exact duplicates of normalized text.")
