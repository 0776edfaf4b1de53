"""Which fields a filter may name, in which scope, with which type, stored at which path.

A filter field is a public name (``labels.classes``); its :class:`FieldSpec` says where the
value lives in a row document (``labelClasses``) so that evaluation, the planner and the store
agree on one layout. Field names come only from here: generated code never sees user text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum

from shared.errors import FilterError
from shared.metadata import MetadataKind, MetadataSchema


class FieldType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    DATETIME = "datetime"
    BOOLEAN = "boolean"
    STRING_LIST = "string list"


class Scope(StrEnum):
    CATALOG = "catalog"
    MODEL_RUN = "modelRun"


@dataclass(frozen=True)
class FieldSpec:
    """A filterable field: its public name, type, document path and, for enums, its values."""

    name: str
    type: FieldType
    path: tuple[str, ...]
    enum: frozenset[str] | None = None

    @property
    def document_path(self) -> str:
        """The dotted path Firestore queries use."""
        return ".".join(self.path)


def _spec(name: str, type_: FieldType, path: str | None = None) -> FieldSpec:
    return FieldSpec(name, type_, tuple((path or name).split(".")))


CATALOG_FIELDS: tuple[FieldSpec, ...] = (
    _spec("id", FieldType.STRING),
    _spec("globalKey", FieldType.STRING),
    _spec("dataset", FieldType.STRING),
    _spec("mediaType", FieldType.STRING),
    _spec("createdAt", FieldType.DATETIME),
    _spec("updatedAt", FieldType.DATETIME),
    _spec("media.mimeType", FieldType.STRING),
    _spec("media.sizeBytes", FieldType.NUMBER),
    _spec("media.width", FieldType.NUMBER),
    _spec("media.height", FieldType.NUMBER),
    _spec("labels.classes", FieldType.STRING_LIST, "labelClasses"),
    _spec("labels.count", FieldType.NUMBER, "labelCount"),
)

METRIC_NAMES: tuple[str, ...] = (
    "tp", "fp", "fn", "tn", "precision", "recall", "f1", "iou", "confidence", "mislabelConfidence",
)  # fmt: skip

MODEL_RUN_FIELDS: tuple[FieldSpec, ...] = (
    _spec("predictions.classes", FieldType.STRING_LIST, "predictionClasses"),
    _spec("predictions.count", FieldType.NUMBER, "predictionCount"),
    _spec("split", FieldType.STRING),
    *(_spec(f"metrics.{name}", FieldType.NUMBER) for name in METRIC_NAMES),
)

_METADATA_TYPES: Mapping[MetadataKind, FieldType] = {
    MetadataKind.STRING: FieldType.STRING,
    MetadataKind.ENUM: FieldType.STRING,
    MetadataKind.NUMBER: FieldType.NUMBER,
    MetadataKind.DATETIME: FieldType.DATETIME,
    MetadataKind.TAGS: FieldType.STRING_LIST,
}


class FieldRegistry:
    """The fields of one scope, with the catalog's metadata schema folded in.

    ``extra`` adds fields beyond the fixed ones and the schema's (e.g. a boolean flag).
    """

    def __init__(
        self, scope: Scope, schema: MetadataSchema | None = None, extra: Iterable[FieldSpec] = ()
    ) -> None:
        self.scope = scope
        fixed = CATALOG_FIELDS + (MODEL_RUN_FIELDS if scope is Scope.MODEL_RUN else ())
        self._fields: dict[str, FieldSpec] = {spec.name: spec for spec in (*fixed, *extra)}
        for name, field in (schema.fields if schema else {}).items():
            self._fields[f"metadata.{name}"] = FieldSpec(
                f"metadata.{name}",
                _METADATA_TYPES[field.kind],
                ("metadata", name),
                frozenset(field.values) if field.values is not None else None,
            )

    def lookup(self, name: str) -> FieldSpec:
        """The field called ``name``, or a :class:`FilterError` that lists what exists."""
        spec = self._fields.get(name)
        if spec is None:
            if name.startswith("metadata."):
                raise FilterError(f"unknown metadata field {name!r}: declare it in the schema")
            if self.scope is Scope.CATALOG and any(s.name == name for s in MODEL_RUN_FIELDS):
                raise FilterError(f"field {name!r} exists only in a model run's scope")
            raise FilterError(f"unknown field {name!r}; known: {', '.join(sorted(self._fields))}")
        return spec

    def __contains__(self, name: object) -> bool:
        return name in self._fields

    def __iter__(self) -> Iterator[FieldSpec]:
        return iter(self._fields.values())
