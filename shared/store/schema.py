"""The catalog's metadata schema, one document: ``config/metadataSchema``.

Fields are only ever added (or enums widened), never retyped: stored values and saved
filters stay valid against every later version.
"""

from __future__ import annotations

from collections.abc import Mapping

from google.cloud import firestore

from shared.errors import InvalidArgument
from shared.metadata import MetadataField, MetadataKind, MetadataSchema
from shared.store.client import CONFIG, db

SCHEMA_DOCUMENT = "metadataSchema"


def schema_ref() -> firestore.DocumentReference:
    return db().collection(CONFIG).document(SCHEMA_DOCUMENT)


def load_schema() -> MetadataSchema:
    return schema_from(schema_ref().get())


def schema_from(snapshot: firestore.DocumentSnapshot) -> MetadataSchema:
    return (
        MetadataSchema.model_validate(snapshot.to_dict()) if snapshot.exists else MetadataSchema()
    )


def merge_fields(
    current: MetadataSchema, additions: Mapping[str, MetadataField], *, first_wins: bool = False
) -> MetadataSchema:
    """The schema with ``additions``; an existing field may only widen its enum values.

    With ``first_wins`` (ingest inferring types), an addition that conflicts with an existing
    field is ignored instead of refused: the caller re-checks its values against the result.
    """
    fields = dict(current.fields)
    for name, field in additions.items():
        existing = fields.get(name)
        if existing is None:
            fields[name] = field
            continue
        if first_wins:
            continue
        if existing.kind != field.kind:
            raise InvalidArgument(
                f"metadata field {name!r} is a {existing.kind}; a field's kind cannot change"
            )
        if field.kind is MetadataKind.ENUM:
            missing = set(existing.values or []) - set(field.values or [])
            if missing:
                raise InvalidArgument(
                    f"enum {name!r} cannot drop values in use: {', '.join(sorted(missing))}"
                )
            fields[name] = field
    return MetadataSchema(fields=fields, version=current.version)


def add_fields(
    additions: Mapping[str, MetadataField], *, first_wins: bool = False
) -> MetadataSchema:
    """Add fields in a transaction, so two writers declaring one field agree on its kind."""
    client = db()

    @firestore.transactional  # type: ignore[untyped-decorator]
    def apply(transaction: firestore.Transaction) -> MetadataSchema:
        current = schema_from(schema_ref().get(transaction=transaction))
        merged = merge_fields(current, additions, first_wins=first_wins)
        if merged.fields == current.fields:
            return current
        merged.version = current.version + 1
        transaction.set(schema_ref(), merged.model_dump(mode="json"))
        return merged

    result: MetadataSchema = apply(client.transaction())
    return result
