"""``orderBy`` of lists and slices: which fields rows can be sorted by, and in which direction.

Sorting a slice's rows by a field F needs the composite index (sliceIds CONTAINS, F) that
Terraform declares for each field listed here, in both directions; nothing else is sortable.
These fields are always present on a row document (media fields as null when unknown), so a
sort never drops a row. ``id`` ascending sorts by the document id, which needs no index;
``id desc`` sorts by the ``id`` field, like any other field.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import InvalidArgument
from shared.filters import FieldRegistry, Scope
from shared.models import OrderBy
from shared.store.queries import ID_PATH

ID_FIELD = "id"

CATALOG_SORT_FIELDS: tuple[str, ...] = (
    ID_FIELD,
    "globalKey",
    "dataset",
    "mediaType",
    "createdAt",
    "updatedAt",
    "media.width",
    "media.height",
    "media.sizeBytes",
    "labels.count",
)
MODEL_RUN_SORT_FIELDS: tuple[str, ...] = (
    *CATALOG_SORT_FIELDS,
    "predictions.count",
    *(
        f"metrics.{name}"
        for name in ("tp", "fp", "fn", "tn", "precision", "recall", "f1", "iou", "confidence")
    ),
    "metrics.mislabelConfidence",
)


@dataclass(frozen=True)
class Ordering:
    """A sort: the public field, its document path, and the direction."""

    field: str
    path: str
    descending: bool = False

    @property
    def by_id(self) -> bool:
        return self.path == ID_PATH

    @property
    def path_parts(self) -> tuple[str, ...]:
        return tuple(self.path.split("."))

    def __str__(self) -> str:
        return f"{self.field} {'desc' if self.descending else 'asc'}"


BY_ID = Ordering(ID_FIELD, ID_PATH)


def sort_fields(registry: FieldRegistry) -> tuple[str, ...]:
    return MODEL_RUN_SORT_FIELDS if registry.scope is Scope.MODEL_RUN else CATALOG_SORT_FIELDS


def parse_ordering(text: str | None, registry: FieldRegistry) -> Ordering:
    """``"media.width desc"`` as an :class:`Ordering`; empty text sorts by id."""
    if text is None or not text.strip():
        return BY_ID
    try:
        order = OrderBy.parse(text)
    except ValueError as bad:
        raise InvalidArgument(str(bad)) from None
    allowed = sort_fields(registry)
    if order.field not in allowed:
        raise InvalidArgument(
            f"orderBy: {order.field!r:.80} is not a sort field; "
            f"sort by one of: {', '.join(allowed)}"
        )
    descending = order.direction == "desc"
    if order.field == ID_FIELD and not descending:
        return BY_ID
    # Descending by id sorts on the row's ``id`` field (equal to its document id): Firestore
    # cannot scan document ids backwards without a filter, but any field both ways.
    return Ordering(order.field, registry.lookup(order.field).document_path, descending)


def canonical_order_by(text: str | None, registry: FieldRegistry) -> str | None:
    """The stored form of a slice's ``orderBy`` (``"field asc|desc"``), or None for by id."""
    if text is None or not text.strip():
        return None
    return str(parse_ordering(text, registry))
