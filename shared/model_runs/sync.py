"""Model-run rows follow their data rows: :func:`sync_model_run_rows`, after every catalog write.

A model-run row copies its data row's filterable fields and is scored against its labels, so
when a data row changes (ingest rewrites it, a manifest relabels it, a metadata patch) or is
deleted, every run holding it must rewrite (or delete) its row. ``rows.mutate_rows`` calls this
after each write to the catalog, with every id it was given, written or not: so a sync cut short
by a crash is repaired by the redelivered event, whose catalog write changes nothing but still
syncs.

The runs holding a data row are found with a collection-group query on the run rows' ``id``
(``id in [...]``, 30 ids a query), rather than by a list of run ids kept on the data row: the
upload path then never writes the catalog, and nothing has to keep such a list true.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.errors import NotFound
from shared.model_runs import writes
from shared.store import model_runs as run_store


def sync_model_run_rows(row_ids: Sequence[str]) -> int:
    """Bring every model-run row of these data rows in line with them; rows rewritten or
    deleted are counted."""
    changed = 0
    for run_id, ids in run_store.runs_holding(row_ids).items():
        for start in range(0, len(ids), writes.CHUNK_ROWS):
            try:
                result = writes.refresh(run_id, ids[start : start + writes.CHUNK_ROWS])
            except NotFound:
                break  # rows of a run whose document is gone: nothing to score them with
            changed += len(result.written) + len(result.deleted)
    return changed
