"""[dedup] table: exact and MinHash near-duplicate removal, history index and eval decontamination.

Defaults follow DESIGN.md §7: NFKC + casefold + whitespace exact keys; 128 permutations; word 5-grams
(3-grams when the texts are under ~50 words); LSH candidates at Jaccard 0.7, drop at estimated 0.8;
13-gram eval decontamination.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BeforeValidator, Field, model_validator

from .base import Expects, Placed, Strict


class TextSource(Strict):
    """A table of texts to compare with: a path (relative to the recipe), optionally its column and split."""

    path: Path = Field(description="jsonl, csv, parquet or a saved datasets folder, relative to the recipe.")
    field: str | None = Field(None, description="Column holding the text; default: [dedup] text_field.")
    split: str | None = Field(None, description="Split, when the folder holds a DatasetDict.")


def _path_or_table(value: Any) -> Any:
    return {"path": value} if isinstance(value, (str, Path)) else value


Source = Annotated[TextSource, BeforeValidator(_path_or_table, json_schema_input_type=Union[str, TextSource])]


def _history_location(value: Any) -> Any:
    """A ``redis://`` / ``rediss://`` / ``unix://`` URL stays a string; anything else is a folder path."""
    if isinstance(value, str) and value.startswith(("redis://", "rediss://", "unix://")):
        return value
    return Path(value) if isinstance(value, str) else value


HistoryLocation = Annotated[Union[Path, str], BeforeValidator(_history_location),
                            Expects("a folder path or a redis:// URL")]
NGram = Union[Literal["auto"], Annotated[int, Field(ge=1, le=64)]]


class DedupConfig(Placed):
    exact: bool = Field(True, description="Drop exact duplicates of normalized text (NFKC, casefold, whitespace).")
    near: bool = Field(True, description="Drop MinHash near-duplicates.")
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations.")
    seed: int = Field(1, ge=0, description="Permutation seed (datasketch's default is 1).")
    ngram: NGram = Field("auto", description="Word shingle size; auto = 5 for texts of ~50+ words, else 3.")
    lsh_threshold: float = Field(0.7, gt=0.0, lt=1.0, description="Jaccard the LSH bands are tuned for.")
    threshold: float = Field(0.8, gt=0.0, le=1.0, description="Drop when the estimated Jaccard reaches this.")
    bands: int | None = Field(None, ge=1, description="LSH bands; default: optimal for lsh_threshold.")
    rows: int | None = Field(None, ge=1, description="Rows per band; set together with bands.")
    text_field: str = Field("text", description="Default text column of against_real and eval_sets files.")
    against_real: list[Source] = Field(default_factory=list, description="Real data the output must not copy.")
    history: HistoryLocation | None = Field(
        None, description="History index, read and extended: a folder (relative to the recipe), or "
                          "redis://host:port/db for one shared through Redis (datasketch MinHashLSH).")
    eval_sets: list[Source] = Field(default_factory=list, description="Eval sets to decontaminate against.")
    decontam_ngram: int = Field(13, ge=3, le=64, description="Word n-gram size of eval decontamination.")
    decontam_min_tokens: int = Field(8, ge=1, description="Eval texts shorter than this are not matched.")

    @model_validator(mode="after")
    def _consistent(self) -> "DedupConfig":
        if (self.bands is None) != (self.rows is None):
            raise ValueError("set bands and rows together (or neither, to derive them from lsh_threshold)")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands × rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}: "
                             "did you forget num_perm?")
        if self.lsh_threshold > self.threshold:
            raise ValueError(f"lsh_threshold ({self.lsh_threshold}) is above threshold ({self.threshold}): "
                             "LSH would miss pairs you mean to drop; set it ~0.1 below")
        if not (self.exact or self.near or self.eval_sets):
            raise ValueError("exact and near are both off and no eval_sets are given: nothing to do")
        return self
