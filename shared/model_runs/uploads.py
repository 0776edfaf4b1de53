"""Landing prediction lines in a run: the part every upload shares (bucket file, API, COCO).

Lines are parsed one by one (:mod:`lines`) and grouped into chunks of at most 499 rows; each
chunk's rows are looked up in the catalog, and a line whose data row does not exist is
rejected with a reason (never dropped in silence). Within a chunk a later line for the same row
wins, as a later upload does: a row's predictions are replaced, never merged. Counts follow the
import report's rule: ``linesRead == rowsWritten + linesRejected + linesBlank``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from shared import storage
from shared.ids import row_id
from shared.model_runs import writes
from shared.model_runs.lines import Blank, parse_line
from shared.models import PredictionLine
from shared.store import rows as row_store
from shared.store.scopes import CATALOG

CHUNK_ROWS = writes.CHUNK_ROWS
CHUNK_LINES = 5000


@dataclass
class Chunk:
    """Consecutive lines, ending at byte ``end`` of their object (0 when not from a file)."""

    end: int = 0
    lines: int = 0
    blank: int = 0
    rows: list[tuple[int, PredictionLine]] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def full(self) -> bool:
        return len(self.rows) >= CHUNK_ROWS or self.lines >= CHUNK_LINES


def chunks(lines: Iterable[storage.Line], *, after_line: int = 0) -> Iterator[Chunk]:
    """Parse lines into chunks; line numbers continue from ``after_line`` (pure)."""
    chunk = Chunk()
    number = after_line
    for line in lines:
        number += 1
        chunk.lines += 1
        chunk.end = line.end
        parsed = parse_line(line.data, first=line.start == 0)
        if isinstance(parsed, Blank):
            chunk.blank += 1
        elif isinstance(parsed, str):
            chunk.errors.append((number, parsed))
        else:
            chunk.rows.append((number, parsed))
        if chunk.full:
            yield chunk
            chunk = Chunk()
    if chunk.lines:
        yield chunk


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
