"""A model run's totals, kept current by Increment deltas written with its rows.

Every write of model-run rows adds ``after - before`` of each row's contribution to the run
document, in the same commit as the rows (``rows.mutate_rows(also=...)``), so the totals are
exact through conflicts, retries and crashes: a commit either lands rows and delta together or
neither. The run document holds only sums:

- ``rowCount``; ``totals`` {tp, fp, fn, tn, iouRows, confidenceRows, iouSumScaled,
  confidenceSumScaled}: the means' sums are kept in integer billionths, so that adding and
  later subtracting a row's value restores the sum exactly (float sums would drift);
- ``classTotals`` {class key: {tp, fp, fn, rows}}: ``shared.metrics.class_delta`` per row;
  class names are escaped into keys (:func:`class_key`) since Firestore reserves ``__x__``.

Ratios (micro precision, recall, F1, per class too) are derived on read by :func:`summary`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from google.cloud.firestore import DocumentReference, Increment

from shared.metrics import ClassTotals, class_delta, class_summary, ratios
from shared.model_runs.documents import class_counts_of
from shared.store.rows import Also, RowChange

SCALE = 10**9
_COUNTS = ("tp", "fp", "fn", "tn")
_ESCAPE = "~"


def class_key(name: str) -> str:
    """A class name as a map key: names starting with ``__`` (reserved) or ``~`` get a ``~``."""
    return _ESCAPE + name if name.startswith(("__", _ESCAPE)) else name


def class_name(key: str) -> str:
    return key[1:] if key.startswith(_ESCAPE) else key


def contribution(doc: Mapping[str, Any] | None) -> dict[str, int]:
    """What one stored row adds to ``totals`` (all zeros for no row)."""
    if doc is None:
        return dict.fromkeys((*_COUNTS, "iouRows", "confidenceRows", "iouSumScaled",
                              "confidenceSumScaled"), 0)  # fmt: skip
    metrics = doc.get("metrics") or {}
    iou, confidence = metrics.get("iou"), metrics.get("confidence")
    return {
        **{name: int(metrics.get(name) or 0) for name in _COUNTS},
        "iouRows": int(iou is not None),
        "confidenceRows": int(confidence is not None),
        "iouSumScaled": round(iou * SCALE) if iou is not None else 0,
        "confidenceSumScaled": round(confidence * SCALE) if confidence is not None else 0,
    }


def delta(changes: Sequence[RowChange]) -> dict[str, Any]:
    """The run document's fields to merge for these row changes (Increments; {} if none)."""
    rows = 0
    totals: dict[str, int] = {}
    classes: dict[str, ClassTotals] = {}
    for change in changes:
        rows += (change.after is not None) - (change.before is not None)
        before, after = contribution(change.before), contribution(change.after)
        for name, value in after.items():
            totals[name] = totals.get(name, 0) + value - before[name]
        per_class = class_delta(class_counts_of(change.before), class_counts_of(change.after))
        for name, change_of_class in per_class.items():
            old = classes.get(name, ClassTotals())
            classes[name] = ClassTotals(*(a + b for a, b in zip(old, change_of_class, strict=True)))
    fields: dict[str, Any] = {}
    if rows:
        fields["rowCount"] = Increment(rows)
    nonzero = {name: Increment(value) for name, value in totals.items() if value}
    if nonzero:
        fields["totals"] = nonzero
    class_fields = {
        class_key(name): {k: Increment(v) for k, v in t._asdict().items() if v}
        for name, t in classes.items()
        if any(t)
    }
    if class_fields:
        fields["classTotals"] = class_fields
    return fields


def also_for(run: DocumentReference) -> Also:
    """The ``also`` of ``mutate_rows`` that keeps ``run``'s totals."""

    def also(changes: Sequence[RowChange]) -> dict[DocumentReference, dict[str, Any]]:
        fields = delta(changes)
        return {run: fields} if fields else {}

    return also


def summary(run: Mapping[str, Any]) -> dict[str, Any]:
    """The run's aggregate metrics as the API shows them, from its stored sums.

    ``rows tp fp fn tn``, micro ``precision recall f1``, ``meanIou`` and ``meanConfidence``
    (over the rows that have one), and ``classes``: per class ``tp fp fn tn`` and ratios.
    """
    totals = {k: int(v) for k, v in (run.get("totals") or {}).items()}
    row_count = int(run.get("rowCount") or 0)
    tp, fp, fn = (totals.get(name, 0) for name in ("tp", "fp", "fn"))
    iou_rows, confidence_rows = totals.get("iouRows", 0), totals.get("confidenceRows", 0)
    per_class = {
        class_name(key): ClassTotals(*(int(value.get(k) or 0) for k in ClassTotals._fields))
        for key, value in (run.get("classTotals") or {}).items()
    }
    per_class = {name: counts for name, counts in per_class.items() if any(counts)}
    return {
        "rows": row_count,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": totals.get("tn", 0),
        **ratios(tp, fp, fn),
        "meanIou": totals.get("iouSumScaled", 0) / SCALE / iou_rows if iou_rows else None,
        "meanConfidence": (
            totals.get("confidenceSumScaled", 0) / SCALE / confidence_rows
            if confidence_rows
            else None
        ),
        "classes": class_summary(per_class, run.get("classes") or (), row_count),
    }
