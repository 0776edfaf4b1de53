"""Model-run rows on the emulator: writes, exact totals, data-row sync, resumable recomputes."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.documents import label_fields
from shared.errors import NotFound
from shared.ids import row_id
from shared.metrics import ClassCounts, aggregate, aggregate_classes
from shared.model_runs import recompute, sync, writes
from shared.model_runs.documents import RunSettings, run_row_document
from shared.model_runs.totals import summary
from shared.models import (
    Annotation,
    BBox,
    DataRowUpdate,
    ModelRunCreate,
    ModelRunUpdate,
    Prediction,
    RowMetrics,
)
from shared.services import data_rows
from shared.services import model_runs as run_service
from shared.store import model_runs as run_store
from shared.store import rows as row_store
from shared.store.scopes import CATALOG
from tests.integration.store_helpers import row_doc

CAR = BBox(left=10, top=20, width=30, height=40)
NEAR = BBox(left=11, top=19, width=31, height=42)


def labelled(key: str, *labels: Annotation, **fields: Any) -> dict[str, Any]:
    return row_doc(key, **label_fields(labels), **fields)


def put_catalog(*docs: dict[str, Any]) -> list[str]:
    by_id = {row_id(doc["globalKey"]): doc for doc in docs}
    row_store.mutate_rows(CATALOG, list(by_id), lambda rid, _current: dict(by_id[rid]))
    return list(by_id)


def new_run(**fields: Any) -> str:
    body = ModelRunCreate(name="run", model="detector", classes=["car", "daytime"], **fields)
    return run_service.create_run(body).id


def predict(*predictions: Prediction, split: str | None = None) -> writes.NewPredictions:
    return writes.NewPredictions(list(predictions), split)


def run_rows(run_id: str) -> dict[str, dict[str, Any]]:
    collection = row_store.rows_collection(run_store.scope_key(run_id))
    return {s.id: s.to_dict() or {} for s in collection.stream()}


def assert_totals_match_rows(run_id: str) -> dict[str, Any]:
    """The run's stored totals equal the aggregate of its stored rows, recomputed here."""
    run = run_store.get_run(run_id)
    rows = run_rows(run_id).values()
    expected = aggregate(RowMetrics.model_validate(doc["metrics"]) for doc in rows)
    got = summary(run)
    for key in ("rows", "tp", "fp", "fn", "tn", "precision", "recall", "f1"):
        assert got[key] == expected[key], key
    for key in ("meanIou", "meanConfidence"):
        assert (got[key] is None) == (expected[key] is None), key
        if got[key] is not None:
            assert abs(got[key] - expected[key]) < 1e-9
    per_row = [
        {c["name"]: ClassCounts(c["tp"], c["fp"], c["fn"]) for c in doc["classCounts"]}
        for doc in rows
    ]
    assert got["classes"] == aggregate_classes(per_row, run["classes"])
    return got


def test_predictions_land_scored_with_a_copy_of_the_data_row() -> None:
    a, b = put_catalog(
        labelled("street/a.jpg", Annotation(name="car", bbox=CAR), Annotation(name="daytime"),
                 metadata={"weather": "rain"}),
        labelled("street/b.jpg", Annotation(name="car", bbox=CAR)),
    )  # fmt: skip
    run = new_run()
    result = writes.put_predictions(run, {
        a: predict(Prediction(name="car", bbox=NEAR, confidence=0.9),
                   Prediction(name="daytime", confidence=0.8), split="train"),
        b: predict(Prediction(name="daytime", confidence=0.3)),
    })  # fmt: skip
    assert result.written == {a, b}
    rows = run_rows(run)
    catalog = row_store.get_row(CATALOG, a)
    assert catalog is not None
    for key in ("globalKey", "metadata", "labels", "labelClasses", "createdAt", "media"):
        assert rows[a][key] == catalog[key], key
    assert rows[a]["metrics"]["tp"] == 2
    assert rows[a]["split"] == "train"
    assert rows[b]["metrics"] == {"tp": 0, "fp": 0, "fn": 1, "tn": 1, "precision": None,
                                  "recall": 0.0, "f1": 0.0, "iou": 0.0, "confidence": None,
                                  "mislabelConfidence": None}  # fmt: skip
    got = assert_totals_match_rows(run)
    assert (got["rows"], got["tp"], got["fn"]) == (2, 2, 1)


def test_reuploading_replaces_a_rows_predictions_and_moves_the_totals_by_the_difference() -> None:
    (a,) = put_catalog(labelled("street/a.jpg", Annotation(name="car", bbox=CAR)))
    run = new_run()
    writes.put_predictions(run, {a: predict(Prediction(name="car", bbox=NEAR),
                                            Prediction(name="car", bbox=CAR))})  # fmt: skip
    assert_totals_match_rows(run)
    writes.put_predictions(run, {a: predict(Prediction(name="daytime", confidence=0.6))})
    row = run_rows(run)[a]
    assert row["predictions"] == [{"name": "daytime", "confidence": 0.6}]
    assert row["predictionClasses"] == ["daytime"]
    got = assert_totals_match_rows(run)
    assert (got["tp"], got["fp"], got["fn"]) == (0, 1, 1)
    assert got["classes"]["car"] == {"tp": 0, "fp": 0, "fn": 1, "tn": 0, "precision": None,
                                     "recall": 0.0, "f1": 0.0}  # fmt: skip
    # The same upload again writes nothing.
    before = run_store.run_ref(run).get().update_time
    again = writes.put_predictions(run, {a: predict(Prediction(name="daytime", confidence=0.6))})
    assert again.written == set()
    assert run_store.run_ref(run).get().update_time == before


def test_model_run_rows_follow_their_data_rows_changes_and_deletion() -> None:
    a, b = put_catalog(
        labelled("street/a.jpg", Annotation(name="car", bbox=CAR)),
        labelled("street/b.jpg", Annotation(name="car", bbox=CAR)),
    )
    first, second = new_run(), new_run()
    for run in (first, second):
        writes.put_predictions(run, {a: predict(Prediction(name="car", bbox=NEAR)),
                                     b: predict(Prediction(name="car", bbox=NEAR))})  # fmt: skip

    # A metadata patch through the API's service: the copies follow in the same call.
    data_rows.update_row(a, DataRowUpdate(metadata={"weather": "fog"}))
    for run in (first, second):
        assert run_rows(run)[a]["metadata"] == {"weather": "fog"}

    # New labels (a manifest or COCO import rewriting the row) rescore the row.
    relabel = {**labelled("street/b.jpg", Annotation(name="daytime"))}
    put_catalog(relabel)
    for run in (first, second):
        row = run_rows(run)[b]
        assert row["labelClasses"] == ["daytime"]
        assert (row["metrics"]["tp"], row["metrics"]["fp"], row["metrics"]["fn"]) == (0, 1, 1)
        assert_totals_match_rows(run)

    data_rows.delete_row(a)
    for run in (first, second):
        assert set(run_rows(run)) == {b}
        got = assert_totals_match_rows(run)
        assert got["rows"] == 1


def test_the_runs_holding_rows_are_found_for_more_ids_than_the_parallel_queries_cover() -> None:
    ids = put_catalog(*(labelled(f"street/{i:03d}.jpg") for i in range(400)))
    assert run_store.runs_holding(ids) == {}  # no run at all yet
    first, second = new_run(), new_run()
    assert run_store.runs_holding(ids) == {}  # runs, but none holds these rows
    writes.put_predictions(first, {rid: predict() for rid in ids[:350]})
    writes.put_predictions(second, {rid: predict() for rid in ids[100:]})
    # 400 ids are 14 queries of 30, more than run at once.
    assert len(ids) > run_store.MAX_IN_VALUES * run_store.PARALLEL_QUERIES
    found = run_store.runs_holding([*ids, "f" * 32])
    assert {run: sorted(held) for run, held in found.items()} == {
        first: sorted(ids[:350]),
        second: sorted(ids[100:]),
    }


def test_a_sync_repairs_copies_left_stale_and_skips_runs_that_are_gone() -> None:
    (a,) = put_catalog(labelled("street/a.jpg", Annotation(name="car", bbox=CAR)))
    run = new_run()
    writes.put_predictions(run, {a: predict(Prediction(name="car", bbox=NEAR))})
    # As if a crash had cut the sync short: the data row changed, its copy did not.
    ref = row_store.rows_collection(CATALOG).document(a)
    ref.update({"metadata": {"weather": "snow"}})
    assert run_rows(run)[a]["metadata"] == {}
    assert sync.sync_model_run_rows([a]) == 1
    assert run_rows(run)[a]["metadata"] == {"weather": "snow"}
    assert sync.sync_model_run_rows([a]) == 0

    orphan = row_store.rows_collection(run_store.scope_key("gone")).document(a)
    orphan.set({"id": a})
    assert sync.sync_model_run_rows([a, "f" * 32]) == 0


def test_rows_written_with_old_thresholds_are_rescored_by_the_writer() -> None:
    (a,) = put_catalog(labelled("street/a.jpg", Annotation(name="car", bbox=CAR)))
    run = new_run()
    writes.put_predictions(run, {a: predict(Prediction(name="car", bbox=NEAR, confidence=0.6))})
    # The thresholds change between a writer's read and its write: the writer's re-read
    # after its commit sees the new version and rewrites its rows.
    real_get_run = run_store.get_run
    calls = {"n": 0}

    def stale_first(run_id: str) -> dict[str, Any]:
        calls["n"] += 1
        doc = real_get_run(run_id)
        if calls["n"] == 1:
            run_store.update_run(run_id, {"confidenceThreshold": 0.7}, rescore=True)
        return doc

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(run_store, "get_run", stale_first)
        result = writes.put_predictions(
            run, {a: predict(Prediction(name="car", bbox=NEAR, confidence=0.65))}
        )
    assert result.rounds == 2
    row = run_rows(run)[a]
    assert row["metricsVersion"] == 2
    assert (row["metrics"]["tp"], row["metrics"]["fn"]) == (0, 1)  # 0.65 < 0.7: dropped
    assert row["predictions"][0]["confidence"] == 0.65


def _catalog_of(count: int) -> list[str]:
    docs = [
        labelled(
            f"street/{i:03d}.jpg", Annotation(name="car", bbox=CAR), Annotation(name="daytime")
        )
        for i in range(count)
    ]
    return put_catalog(*docs)


def test_a_threshold_change_rescores_every_row_resumably() -> None:
    ids = _catalog_of(40)
    run = new_run()
    writes.put_predictions(run, {
        rid: predict(Prediction(name="car", bbox=NEAR, confidence=i / 40),
                     Prediction(name="daytime", confidence=0.55))
        for i, rid in enumerate(ids)
    })  # fmt: skip
    assert_totals_match_rows(run)

    changed = run_service.update_run(
        run, ModelRunUpdate(confidence_threshold=0.6), request_seconds=0
    )
    assert changed.status == "computing"
    assert changed.confidence_threshold == 0.6
    steps = 0
    while True:
        steps += 1
        report = recompute.advance(run, deadline=time.monotonic() - 1, chunk_rows=4)
        if report.ready:
            break
        assert steps < 100
    assert steps > 3  # it really stopped at its deadline and resumed from its cursors

    settings = RunSettings.from_run(run_store.get_run(run))
    assert settings.version == 2
    catalog = row_store.get_rows(CATALOG, ids)
    for rid, row in run_rows(run).items():
        assert row["metricsVersion"] == 2
        predictions = [Prediction.model_validate(p) for p in row["predictions"]]
        fresh = run_row_document(catalog[rid], predictions, None, settings)
        assert row["metrics"] == fresh["metrics"]
        assert row["metrics"]["confidence"] is None or row["metrics"]["confidence"] >= 0.6
    got = assert_totals_match_rows(run)
    assert got["classes"]["daytime"]["fn"] == 40  # 0.55 < 0.6 everywhere
    final = run_service.get_run(run)
    assert final.status == "ready"


def test_a_newer_threshold_change_supersedes_a_running_recompute() -> None:
    ids = _catalog_of(12)
    run = new_run()
    writes.put_predictions(run, {rid: predict(Prediction(name="daytime", confidence=0.5))
                                 for rid in ids})  # fmt: skip
    run_service.update_run(run, ModelRunUpdate(confidence_threshold=0.4), request_seconds=0)
    version = run_store.get_run(run)["metricsVersion"]
    run_service.update_run(run, ModelRunUpdate(iou_threshold=0.7), request_seconds=0)
    with pytest.raises(run_store.RecomputeSuperseded):
        run_store.advance_recompute_shard(run, version=version, shard="0", cursor="x", scanned=1)
    report = recompute.advance(run, deadline=time.monotonic() + 30)
    assert report.ready
    assert {row["metricsVersion"] for row in run_rows(run).values()} == {version + 1}
    assert_totals_match_rows(run)


def test_unknown_runs_are_not_found() -> None:
    with pytest.raises(NotFound):
        run_service.get_run("nope")
    with pytest.raises(NotFound):
        run_service.update_run("nope", ModelRunUpdate(name="x"))


def test_each_new_instances_file_starts_a_new_image_map_and_old_ones_go() -> None:
    now = datetime(2026, 5, 1, tzinfo=UTC)
    a1 = {"uri": "gs://b/imports/instances_d.json", "generation": 1}
    a2 = {**a1, "generation": 2}
    other = {"uri": "gs://b/imports/d/instances.json", "generation": 1}
    first = run_store.take_coco_ground_truth("d", {1: "car"}, a1, now=now)
    assert first == 1
    run_store.put_coco_images("d", {1: "k1", 2: "k2"}, image_map=1)
    assert run_store.take_coco_ground_truth("d", {1: "car"}, a1, now=now) == 1  # a repeat
    assert run_store.take_coco_ground_truth("d", {3: "bus"}, a2, now=now) == 2
    assert run_store.take_coco_ground_truth("d", {1: "car"}, a1, now=now) is None  # late, older
    run_store.put_coco_images("d", {2: "k2"}, image_map=2)
    truth = run_store.coco_ground_truth("d")
    assert truth == run_store.CocoTruth({3: "bus"}, 2)  # categories replaced, not merged
    assert run_store.coco_image_ids("d", image_map=2) == [2]
    assert run_store.coco_image_keys("d", [1, 2], image_map=2) == {2: "k2"}
    assert run_store.drop_older_coco_images("d", image_map=2) == 1  # image 1; 2 was rewritten
    run_store.put_coco_images("d", {9: "k9"}, image_map=1)  # an older import still writing
    assert run_store.drop_older_coco_images("d", image_map=2) == 1
    assert run_store.drop_older_coco_images("d", image_map=2) == 0
    assert run_store.coco_image_keys("d", [1, 2, 9], image_map=2) == {2: "k2"}
    # Another file for the dataset takes over too: the import that starts last holds it.
    assert run_store.take_coco_ground_truth("d", {1: "car"}, other, now=now) == 3
    assert run_store.coco_datasets(limit=5) == ["d"]
