"""The nine slices generated for every model run (DESIGN section 7), as data.

Each kind has a display name, a filter in the canonical JSON form and an ``orderBy``. The four
"low" slices sort ascending, so that the worst rows come first; the slices that hold only rows
with a metric (``exists``) leave out rows where it is undefined (a ratio whose denominator is 0).
Regenerating a run's slices looks them up by kind, so the same nine are updated, not duplicated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from shared.models import AutoSlice


@dataclass(frozen=True, slots=True)
class AutoSliceSpec:
    """One auto-generated slice: ``filter`` and ``order_by`` are built fresh on each access."""

    kind: AutoSlice
    name: str
    description: str
    metric: str  # the filter field's name under ``metrics.``
    op: Literal["gt", "exists"]
    sort_metric: str
    direction: Literal["asc", "desc"]

    @property
    def filter(self) -> dict[str, Any]:
        """The canonical filter tree, e.g. ``{"field": "metrics.tp", "op": "gt", "value": 0}``."""
        leaf: dict[str, Any] = {"field": f"metrics.{self.metric}", "op": self.op}
        if self.op == "gt":
            leaf["value"] = 0
        return leaf

    @property
    def order_by(self) -> str:
        """E.g. ``"metrics.precision asc"``."""
        return f"metrics.{self.sort_metric} {self.direction}"


def _count(kind: AutoSlice, name: str, metric: str, description: str) -> AutoSliceSpec:
    return AutoSliceSpec(kind, name, description, metric, "gt", metric, "desc")


def _low(kind: AutoSlice, name: str, metric: str, description: str) -> AutoSliceSpec:
    return AutoSliceSpec(kind, name, description, metric, "exists", metric, "asc")


AUTO_SLICES: tuple[AutoSliceSpec, ...] = (
    _count(AutoSlice.TRUE_POSITIVES, "True positives", "tp",
           "Rows with at least one correct prediction, most first."),
    _count(AutoSlice.TRUE_NEGATIVES, "True negatives", "tn",
           "Rows where classes are rightly absent, most first."),
    _count(AutoSlice.FALSE_POSITIVES, "False positives", "fp",
           "Rows with predictions that match no label, most first."),
    _count(AutoSlice.FALSE_NEGATIVES, "False negatives", "fn",
           "Rows with labels that no prediction found, most first."),
    _low(AutoSlice.LOW_PRECISION, "Low precision", "precision",
         "Rows by precision, lowest first."),
    _low(AutoSlice.LOW_RECALL, "Low recall", "recall", "Rows by recall, lowest first."),
    _low(AutoSlice.LOW_F1, "Low F1", "f1", "Rows by F1 score, lowest first."),
    _low(AutoSlice.LOW_CONFIDENCE, "Low confidence", "confidence",
         "Rows by mean prediction confidence, lowest first."),
    AutoSliceSpec(AutoSlice.CANDIDATE_MISLABELS, "Candidate mislabels",
                  "Rows with false positives, the most confident first: the label may be wrong.",
                  "fp", "gt", "mislabelConfidence", "desc"),
)  # fmt: skip

_BY_KIND = {spec.kind: spec for spec in AUTO_SLICES}


def auto_slice(kind: AutoSlice) -> AutoSliceSpec:
    """The spec of one kind."""
    return _BY_KIND[kind]
