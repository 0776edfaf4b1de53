"""The nine slices every model run gets (``shared.auto_slices``), created or brought up to date.

They are ordinary slices, made and edited through the slices service (names, etags and builds
behave as for any slice), and found again by their kind (``auto``), so regenerating updates the
same nine and never adds a tenth. Regenerating restores a generated slice's filter, order and
description; a name the user gave it is kept. A deleted one is created again. When a user's
slice already holds a generated slice's name, the generated one is called "<name> (auto)".

Uploads call :func:`ensure` before they write rows, so that on a run's first upload the slices
exist while they are still empty (their builds finish at once) and every row written gets its
membership in its own write; and again when the upload completes.
"""

from __future__ import annotations

import time
from typing import Any

from shared.auto_slices import AUTO_SLICES, AutoSliceSpec
from shared.errors import Aborted, AlreadyExists, FailedPrecondition
from shared.models import Slice, SliceUpdate
from shared.services import slices as slice_service
from shared.services.filtering import both_forms, load_filter, registry_for
from shared.services.ordering import canonical_order_by
from shared.store import model_runs as run_store
from shared.store import slices as slice_store

MAX_ATTEMPTS = 3
FALLBACK_SUFFIX = " (auto)"


def ensure(run_id: str, *, build_seconds: float = 8.0) -> list[str]:
    """Create the run's missing generated slices and restore edited ones; the ids of all nine,
    in the order of DESIGN section 7. Builds advance within ``build_seconds`` in all."""
    deadline = time.monotonic() + build_seconds
    key = run_store.scope_key(run_id)
    registry = registry_for(key)
    made = []
    for spec in AUTO_SLICES:
        tree, _ = both_forms(load_filter(spec.filter, registry))
        order_by = canonical_order_by(spec.order_by, registry)
        made.append(_ensure_one(key, spec, tree, order_by, deadline))
    return made


def _remaining(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.0)


def _ensure_one(
    key: str, spec: AutoSliceSpec, tree: dict[str, Any], order_by: str | None, deadline: float
) -> str:
    for _ in range(MAX_ATTEMPTS):
        found = slice_store.find_auto_slice(key, str(spec.kind))
        if found is None:
            created = _create(key, spec, order_by, deadline)
            if created is not None:
                return created.id
            continue  # another generator made it meanwhile: update that one
        wanted = {"filter": tree, "orderBy": order_by, "description": spec.description}
        if all(found.get(field) == value for field, value in wanted.items()):
            return str(found["id"])
        update = SliceUpdate(
            filter=spec.filter, order_by=spec.order_by, description=spec.description
        )
        try:
            slice_service.update_slice(
                found["id"], update, etag=found["etag"], build_seconds=_remaining(deadline)
            )
        except FailedPrecondition:
            continue  # edited meanwhile: read it again
        return str(found["id"])
    raise Aborted(f"the {spec.name!r} slice of {key} kept changing; try again")


def _create(key: str, spec: AutoSliceSpec, order_by: str | None, deadline: float) -> Slice | None:
    """Create the slice; None if a concurrent generator created it first."""
    for name in (spec.name, spec.name + FALLBACK_SUFFIX):
        try:
            return slice_service.create_auto_slice(
                key,
                auto=str(spec.kind),
                name=name,
                description=spec.description,
                filter_value=spec.filter,
                order_by=order_by or spec.order_by,
                build_seconds=_remaining(deadline),
            )
        except AlreadyExists:
            if slice_store.find_auto_slice(key, str(spec.kind)) is not None:
                return None
    raise AlreadyExists(
        f"slices named {spec.name!r} and {spec.name + FALLBACK_SUFFIX!r} already exist in "
        f"{key}: rename one to let the generated slice be made"
    )
