"""Landing prediction lines in a run: the part every upload shares (bucket file, API, COCO).

Lines are parsed one by one (:mod:`lines`) and grouped into chunks of at most 499 rows; each
chunk's rows are looked up in the catalog, and a line whose data row does not exist is
rejected with a reason (never dropped in silence). Within a chunk a later line for the same row
wins, as a later upload does: a row's predictions are replaced, never merged. Counts follow the
import report's rule: ``linesRead == rowsWritten + linesRejected + linesBlank``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from shared import ndjson, storage
from shared.ids import row_id
from shared.model_runs import writes
from shared.model_runs.lines import parse_line
from shared.models import PredictionLine
from shared.store import rows as row_store
from shared.store.scopes import CATALOG

CHUNK_ROWS = writes.CHUNK_ROWS
CHUNK_LINES = 5000


BOUNDS = ndjson.Bounds(rows=CHUNK_ROWS, lines=CHUNK_LINES)
Chunk = ndjson.Chunk[PredictionLine]


def chunks(lines: Iterable[storage.Line], *, after_line: int = 0) -> Iterator[Chunk]:
    """Parse lines into chunks; line numbers continue from ``after_line`` (pure)."""
    return ndjson.chunks(ndjson.parse_lines(lines, parse_line), BOUNDS, after_line=after_line)


def target_id(line: PredictionLine) -> str:
    """The data row a line names."""
    if line.global_key is not None:
        return row_id(line.global_key)
    assert line.data_row_id is not None  # PredictionLine names exactly one
    return line.data_row_id


def _unknown(line: PredictionLine) -> str:
    if line.global_key is not None:
        return f"no data row with globalKey {line.global_key[:200]!r}"
    return f"no data row with dataRowId {line.data_row_id!r}"


def land(run_id: str, rows: list[tuple[int, PredictionLine]]) -> tuple[int, list[tuple[int, str]]]:
    """Write one chunk's lines (at most 499 rows) into the run; (lines landed, rejections)."""
    if not rows:
        return 0, []
    ids = [target_id(line) for _, line in rows]
    snapshots = row_store.snapshots(CATALOG, list(dict.fromkeys(ids)))
    found = {snapshot.id: snapshot for snapshot in snapshots if snapshot.exists}
    errors: list[tuple[int, str]] = []
    by_id: dict[str, writes.NewPredictions] = {}
    landed = 0
    for (number, line), rid in zip(rows, ids, strict=True):
        if rid not in found:
            errors.append((number, _unknown(line)))
            continue
        by_id.pop(rid, None)  # the later line wins, and keeps its place
        by_id[rid] = writes.NewPredictions(line.predictions, line.split)
        landed += 1
    if by_id:
        writes.put_predictions(run_id, by_id, data_rows=found)
    return landed, errors
