"""Where the rows of a scope live: the catalog's data rows, or one model run's rows."""

from __future__ import annotations

from google.cloud import firestore

from shared.errors import InvalidArgument
from shared.filters.fields import Scope
from shared.store.client import DATA_ROWS, MODEL_RUN_ROWS, MODEL_RUNS, db

CATALOG = "catalog"
MODEL_RUN_PREFIX = "modelRun:"


def scope_kind(scope_key: str) -> Scope:
    return Scope.CATALOG if scope_key == CATALOG else Scope.MODEL_RUN


def model_run_of(scope_key: str) -> str | None:
    return scope_key.removeprefix(MODEL_RUN_PREFIX) if scope_key != CATALOG else None


def rows_collection(scope_key: str) -> firestore.CollectionReference:
    """``dataRows`` for the catalog, ``modelRuns/<id>/rows`` for a model run."""
    if scope_key == CATALOG:
        return db().collection(DATA_ROWS)
    if not scope_key.startswith(MODEL_RUN_PREFIX) or "/" in scope_key:
        raise InvalidArgument(f"unknown scope {scope_key!r}")
    run_id = scope_key.removeprefix(MODEL_RUN_PREFIX)
    return db().collection(MODEL_RUNS).document(run_id).collection(MODEL_RUN_ROWS)
