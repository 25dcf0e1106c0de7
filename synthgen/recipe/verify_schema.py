"""[[verify]] tables: one model per verifier, selected by ``type``."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from .base import Strict


class NonEmptyVerifierConfig(Strict):
    type: Literal["non_empty"]
    strip: bool = True


class LengthVerifierConfig(Strict):
    type: Literal["length"]
    unit: Literal["chars", "words"] = "chars"
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _bounds(self) -> "LengthVerifierConfig":
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


VerifierConfig = Annotated[Union[NonEmptyVerifierConfig, LengthVerifierConfig], Field(discriminator="type")]


