"""Required fields: the named fields must be present and non-empty, read from columns an earlier verifier
set, from a JSON object in the text, or from ``Label: value`` lines."""

from __future__ import annotations

from typing import Any, Literal

from ..records import Candidate, Verdict
from .base import Verifier
from .extract import extract_json, labeled_fields
from .structured import column_value
from pydantic import Field

from ..recipe.base import Placed


MISSING_FIELD = "missing_field"


def _present(value: Any, allow_empty: bool) -> bool:
    if value is None:
        return False
    if allow_empty:
        return True
    if isinstance(value, str):
        return bool(value.strip())
    return bool(value) if isinstance(value, (list, dict)) else True


class RequiredFieldsVerifierConfig(Placed):
    type: Literal["required_fields"]
    fields: list[str] = Field(min_length=1, description="Fields that must be present and non-empty.")
    source: Literal["auto", "columns", "json", "labels"] = Field(
        "auto", description="columns (from an earlier verifier), json (object in the text), labels (Name: value).")
    allow_empty: bool = False
    to_columns: bool = Field(True, description="Fields read from the text become dataset columns.")


class RequiredFieldsVerifier(Verifier):
    """``source``: ``columns`` (set by e.g. the json verifier), ``json`` (an object in the text), ``labels``
    (``Question: … Answer: …``) or ``auto`` (columns, then JSON, then labels). With ``to_columns``, fields
    found in the text become dataset columns."""

    name = "required_fields"
    Config = RequiredFieldsVerifierConfig

    @classmethod
    def added_columns(cls, config: Any) -> set[str]:
        return set(config.fields) if config.to_columns else set()

    def __init__(self, fields: list[str], source: str = "auto", allow_empty: bool = False, to_columns: bool = True):
        self.fields, self.source = list(fields), source
        self.allow_empty, self.to_columns = allow_empty, to_columns

    def check(self, candidate: Candidate) -> Verdict:
        values, origin = self._values(candidate)
        missing = [f for f in self.fields if not _present(values.get(f), self.allow_empty)]
        if missing:
            return Verdict.reject(MISSING_FIELD, missing=missing, source=origin)
        if self.to_columns and origin != "columns":
            candidate.columns.update({f: column_value(values[f], None) for f in self.fields})
        return Verdict.accept()

    def _values(self, candidate: Candidate) -> tuple[dict[str, Any], str]:
        order = ["columns", "json", "labels"] if self.source == "auto" else [self.source]
        best: tuple[dict[str, Any], str] = ({}, order[0])
        for origin in order:
            values = self._read(candidate, origin)
            if all(_present(values.get(f), self.allow_empty) for f in self.fields):
                return values, origin
            if len(values) > len(best[0]):
                best = (values, origin)
        return best

    def _read(self, candidate: Candidate, origin: str) -> dict[str, Any]:
        if origin == "columns":
            return {f: candidate.columns[f] for f in self.fields if f in candidate.columns}
        if origin == "json":
            found = extract_json(candidate.text)
            return found[0] if found is not None and isinstance(found[0], dict) else {}
        return labeled_fields(candidate.text, self.fields)
