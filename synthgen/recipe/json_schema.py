"""The recipe's JSON Schema for editors (``synthgen schema``): it accepts exactly the forms the loader accepts.

Two loader rules are not visible to pydantic's schema generator and are added here:

- ``key = false`` turns an optional, non-boolean setting off (:meth:`.base.Strict._false_means_off`), so
  each such property also accepts ``false``;
- a text source is a path string or a ``{path, field, split}`` table (its ``json_schema_input_type``).
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from .base import Strict, _optional_non_bool

_METADATA_KEYS = ("title", "description", "default", "examples", "deprecated")
FALSE_MEANS_OFF = {"const": False, "description": "false turns this optional setting off"}


def _also_false(prop: dict[str, Any]) -> dict[str, Any]:
    """``prop`` widened to accept ``false``; its title, description and default stay at the top."""
    meta = {key: value for key, value in prop.items() if key in _METADATA_KEYS}
    body = {key: value for key, value in prop.items() if key not in _METADATA_KEYS}
    options = body["anyOf"] if list(body) == ["anyOf"] else [body]
    return {**meta, "anyOf": [*options, FALSE_MEANS_OFF]}


class RecipeJsonSchema(GenerateJsonSchema):
    """Pydantic's generator, plus ``false`` on every field the loader's false-means-off rule applies to."""

    def model_schema(self, schema: Any) -> dict[str, Any]:
        json_schema = super().model_schema(schema)
        cls = schema.get("cls")
        if not (isinstance(cls, type) and issubclass(cls, Strict)):
            return json_schema
        properties = json_schema.get("properties", {})
        for name, field in cls.model_fields.items():
            key = field.alias or name
            if key in properties and _optional_non_bool(field.annotation):
                properties[key] = _also_false(properties[key])
        return json_schema


def recipe_json_schema() -> dict[str, Any]:
    """The JSON Schema (Draft 2020-12) of a recipe, as ``synthgen schema`` prints it."""
    from .schema import Recipe

    return Recipe.model_json_schema(schema_generator=RecipeJsonSchema)


__all__ = ["FALSE_MEANS_OFF", "RecipeJsonSchema", "recipe_json_schema"]
