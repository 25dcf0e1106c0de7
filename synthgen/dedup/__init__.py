"""Deduplication: exact and MinHash near-duplicates against the run, history, real data and eval sets.

- :class:`Deduplicator` (engine): ``check(ids, texts) → [Match | None]``, first seen wins;
- :class:`MinHasher`: vectorized signatures, bit-compatible with ``datasketch.MinHash`` (affine32);
- :class:`HistoryIndex`: the on-disk index of earlier runs' kept records; ``redis_history``: the same
  shared through Redis (datasketch ``MinHashLSH`` fed ``LeanMinHash``);
- :class:`Decontaminator`: eval-set 13-gram overlap;
- :func:`build_dedup_stages`: the pipeline stages of a recipe's ``[dedup]`` table;
- :func:`dedup_rows`: dedup of a list of rows in memory; ``streaming`` (``synthgen dedup --workers N``) and
  ``ray_exec`` (``--executor ray``) give the same decisions on tables of any size.
"""

from __future__ import annotations

from .build import build_dedup_stages, load_texts
from .decontam import EVAL_CONTAMINATION, Decontaminator
from .deduplicator import Deduplicator, DedupParams
from .index import HistoryIndex
from .lsh import candidate_probability, optimal_params
from .minhash import MinHasher, estimate_jaccard
from .normalize import exact_key, normalize_text, tokenize
from .scopes import EMPTY_TEXT, EXACT_DUPLICATE, NEAR_DUPLICATE, Match
from .stage import INVALID_TEXT, DecontamStage, DedupStage
from .table import MISSING_TEXT, DedupResult, dedup_rows

__all__ = [
    "EMPTY_TEXT", "EVAL_CONTAMINATION", "EXACT_DUPLICATE", "INVALID_TEXT", "MISSING_TEXT", "NEAR_DUPLICATE",
    "Decontaminator", "DecontamStage", "DedupParams", "DedupResult", "DedupStage", "Deduplicator",
    "HistoryIndex", "Match", "MinHasher", "build_dedup_stages", "candidate_probability", "dedup_rows",
    "estimate_jaccard", "exact_key", "load_texts", "normalize_text", "optimal_params", "tokenize",
]
