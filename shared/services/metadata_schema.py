"""The metadata schema: the typed user fields that filters check against.

A patch adds fields or widens an enum's values; it never retypes a field or drops an enum value
(rows and saved filters stay valid): see :func:`shared.store.schema.merge_fields`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.metadata import MAX_FIELDS, FieldName, MetadataField, MetadataSchema
from shared.services.problems import invalid_fields
from shared.store import schema as schema_store


class MetadataSchemaPatch(BaseModel):
    """Fields to add (or enums to widen), by name."""

    model_config = ConfigDict(extra="forbid")

    fields: dict[FieldName, MetadataField] = Field(max_length=MAX_FIELDS)


def get_schema() -> MetadataSchema:
    return schema_store.load_schema()


def patch_schema(patch: MetadataSchemaPatch) -> MetadataSchema:
    try:
        return schema_store.add_fields(patch.fields)
    except ValidationError as too_many:  # the merged schema is over a limit
        raise invalid_fields(
            [{"field": "fields", "description": e["msg"]} for e in too_many.errors()]
        ) from None
