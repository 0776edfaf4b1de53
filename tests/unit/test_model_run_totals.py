"""Model-run row documents and the run totals kept by their deltas (pure)."""

from __future__ import annotations

from typing import Any

from google.cloud.firestore import Increment
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.metrics import ClassCounts, aggregate, aggregate_classes, evaluate_row
from shared.model_runs import totals
from shared.model_runs.documents import (
    RunSettings,
    data_row_copy,
    rescored,
    run_row_document,
    same_content,
)
from shared.models import Annotation, BBox, Prediction, RowMetrics
from shared.store.rows import RowChange

SETTINGS = RunSettings(frozenset({"car", "person", "__x__", "~t"}), 0.5, 0.5, version=3)
DATA_ROW = {
    "id": "r1",
    "globalKey": "street/0001.jpg",
    "metadata": {"split": "train"},
    "labels": [
        {"name": "car", "bbox": {"left": 10, "top": 20, "width": 30, "height": 40}},
        {"name": "daytime"},
    ],
    "labelClasses": ["car", "daytime"],
    "labelCount": 2,
    "sliceIds": ["catalog-slice"],
    "sliceEnteredAt": {"catalog-slice": 1},
}
METRIC_KEYS = {"tp", "fp", "fn", "tn", "precision", "recall", "f1", "iou", "confidence",
               "mislabelConfidence"}  # fmt: skip


def test_a_run_row_copies_its_data_row_but_not_its_membership() -> None:
    predictions = [
        Prediction(name="car", bbox=BBox(left=11, top=19, width=31, height=42), confidence=0.92),
        Prediction(name="person", confidence=0.4),
        Prediction(name="person"),
    ]
    doc = run_row_document(DATA_ROW, predictions, "valid", SETTINGS)
    assert {k: doc[k] for k in DATA_ROW if k not in ("sliceIds", "sliceEnteredAt")} == {
        k: v for k, v in DATA_ROW.items() if k not in ("sliceIds", "sliceEnteredAt")
    }
    assert "sliceIds" not in doc
    assert "sliceEnteredAt" not in doc
    assert doc["predictionClasses"] == ["car", "person"]
    assert doc["predictionCount"] == 3
    assert doc["predictions"][0] == {
        "name": "car",
        "bbox": {"left": 11.0, "top": 19.0, "width": 31.0, "height": 42.0},
        "confidence": 0.92,
    }
    assert doc["predictions"][2] == {"name": "person"}  # no confidence: counts as 1.0
    assert doc["split"] == "valid"
    assert doc["metricsVersion"] == 3
    assert set(doc["metrics"]) == METRIC_KEYS
    expected = evaluate_row(
        [Annotation.model_validate(label) for label in DATA_ROW["labels"]],
        predictions, SETTINGS.classes, 0.5, 0.5,
    )  # fmt: skip
    assert RowMetrics.model_validate(doc["metrics"]) == expected.metrics
    assert doc["classCounts"] == [
        {"name": name, "tp": c.tp, "fp": c.fp, "fn": c.fn} for name, c in expected.classes.items()
    ]


def test_metrics_keys_are_present_even_when_undefined() -> None:
    doc = run_row_document({"id": "r", "labels": []}, [], None, SETTINGS)
    assert doc["metrics"] == {"tp": 0, "fp": 0, "fn": 0, "tn": 4, "precision": None,
                              "recall": None, "f1": None, "iou": None, "confidence": None,
                              "mislabelConfidence": None}  # fmt: skip


def test_rescoring_keeps_predictions_and_split_and_follows_the_data_row() -> None:
    stored = run_row_document(DATA_ROW, [Prediction(name="car", confidence=0.7)], "s", SETTINGS)
    assert same_content(stored, rescored(DATA_ROW, stored, SETTINGS))
    relabelled = {**DATA_ROW, "labels": [{"name": "car"}], "labelClasses": ["car"]}
    again = rescored(relabelled, stored, SETTINGS)
    assert not same_content(stored, again)
    assert again["metrics"]["tp"] == 1
    assert (again["split"], again["predictions"]) == ("s", stored["predictions"])
    stricter = RunSettings(SETTINGS.classes, 0.5, 0.8, version=4)
    assert rescored(relabelled, stored, stricter)["metrics"]["fn"] == 1
    assert data_row_copy(DATA_ROW) == {
        k: v for k, v in DATA_ROW.items() if k not in ("sliceIds", "sliceEnteredAt")
    }


def test_class_keys_escape_reserved_names_and_round_trip() -> None:
    for name in ("car", "__x__", "~t", "~~", "__", "a.b", "_x"):
        key = totals.class_key(name)
        assert totals.class_name(key) == name
        assert not (key.startswith("__") and key.endswith("__"))
    assert totals.class_key("car") == "car"
    assert totals.class_key("__x__") == "~__x__"


# ---- the totals invariant ------------------------------------------------------------------

NAMES = st.sampled_from(["car", "person", "__x__", "~t", "dog"])
BOXES = st.builds(
    BBox,
    left=st.integers(0, 50),
    top=st.integers(0, 50),
    width=st.integers(0, 40),
    height=st.integers(0, 40),
)
LABELS = st.lists(st.builds(Annotation, name=NAMES, bbox=st.none() | BOXES), max_size=4)
PREDICTIONS = st.lists(
    st.builds(
        Prediction,
        name=NAMES,
        bbox=st.none() | BOXES,
        confidence=st.none() | st.floats(0, 1, allow_nan=False),
    ),
    max_size=4,
)
# An operation on one of 4 rows: write it (labels, predictions) or delete it.
OPS = st.lists(
    st.tuples(st.integers(0, 3), st.none() | st.tuples(LABELS, PREDICTIONS)), max_size=12
)


def _apply(stored: dict[str, Any], fields: dict[str, Any]) -> None:
    """What Firestore does with merged Increments, in plain numbers."""
    for key, value in fields.items():
        if isinstance(value, Increment):
            stored[key] = stored.get(key, 0) + value.value
        else:
            _apply(stored.setdefault(key, {}), value)


@settings(max_examples=60, deadline=None)
@given(ops=OPS, classes=st.sampled_from([frozenset(), frozenset({"car", "__x__", "~t"})]))
def test_totals_kept_by_deltas_equal_the_aggregate_of_the_rows(
    ops: list[tuple[int, tuple[list[Annotation], list[Prediction]] | None]],
    classes: frozenset[str],
) -> None:
    settings_ = RunSettings(classes, 0.5, 0.5, 1)
    rows: dict[str, dict[str, Any]] = {}
    run: dict[str, Any] = {"classes": sorted(classes)}
    for index, op in ops:
        rid = f"r{index}"
        before = rows.get(rid)
        if op is None:
            after = None
            rows.pop(rid, None)
        else:
            labels, predictions = op
            data_row = {"id": rid, "labels": [a.model_dump(by_alias=True) for a in labels]}
            after = run_row_document(data_row, predictions, None, settings_)
            rows[rid] = after
        if before is None and after is None:
            continue
        _apply(run, totals.delta([RowChange(rid, before, after)]))

    summary = totals.summary(run)
    metrics = [RowMetrics.model_validate(doc["metrics"]) for doc in rows.values()]
    expected = aggregate(metrics)
    for key in ("rows", "tp", "fp", "fn", "tn", "precision", "recall", "f1"):
        assert summary[key] == expected[key], key
    for key in ("meanIou", "meanConfidence"):
        assert (summary[key] is None) == (expected[key] is None)
        if expected[key] is not None:
            assert abs(summary[key] - expected[key]) < 1e-9
    per_row = [
        {c["name"]: ClassCounts(c["tp"], c["fp"], c["fn"]) for c in doc["classCounts"]}
        for doc in rows.values()
    ]
    assert summary["classes"] == aggregate_classes(per_row, sorted(classes))
