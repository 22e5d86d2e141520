"""The shape every PATCH body shares: a partial update.

Generated API clients send an unset optional field as ``null``. Every PATCH model here
reads ``null`` as "leave this field unchanged" (so ``{"status": null}`` never reaches
the database as a NULL, where it was a 500 before, and a body of nulls changes nothing
and answers the resource as it is); an empty body ``{}`` is a 422 "nothing to change".
The OpenAPI schema says both: each field is nullable with that meaning, and the object
has ``minProperties: 1``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, model_validator

NULL_MEANS_UNCHANGED = "null (or leaving it out) leaves the field unchanged"


class PatchModel(BaseModel):
    """Base of PATCH bodies: nulls dropped before validation, at least one field given."""

    @model_validator(mode="before")
    @classmethod
    def _null_is_unchanged(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if not data:
                raise ValueError("nothing to change: give at least one field")
            return {k: v for k, v in data.items() if v is not None}
        return data

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema, handler):  # type: ignore[override]
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        target["minProperties"] = 1
        target.setdefault("description", (cls.__doc__ or "").strip())
        target["description"] += f" Partial update: {NULL_MEANS_UNCHANGED}; at least one field must be given."
        return schema
