"""The demo `make run` loads, at a small size, into the session's stack: it lands through the
bucket, its slices hold what its data says they should, and loading it again changes nothing."""

from __future__ import annotations

import io
from typing import Any

import pytest

from local import demo
from local.demo import DemoResult
from local.demo_client import Api
from shared.ids import row_id
from shared.models import AutoSlice
from tests.e2e.conftest import RunningStack

DIGITS, SHAPES = 100, 12


@pytest.fixture(scope="module")
def loaded(stack: RunningStack) -> tuple[DemoResult, str]:
    stack.require("ingest", "slices")
    out = io.StringIO()
    result = demo.load(stack.env, digits=DIGITS, shapes=SHAPES, out=out)
    return result, out.getvalue()


def _rows(api: Api, dataset: str) -> dict[str, dict[str, Any]]:
    rows = api.list_all(f"/v1/datasets/{dataset}/dataRows", "dataRows")
    return {row["id"]: row for row in rows}


def test_the_demo_lands_through_the_bucket_with_labels_and_typed_metadata(
    stack: RunningStack, api: Api, loaded: tuple[DemoResult, str]
) -> None:
    result, _ = loaded
    assert result.complete, result.problems
    assert result.uploaded == result.objects  # a fresh stack: everything went into the bucket
    for demo_set in result.sets:
        rows = _rows(api, demo_set.dataset)
        assert len(rows) == len(demo_set.images)
        for image in demo_set.images:
            row = rows[row_id(demo_set.global_key(stack.bucket, image))]
            assert row["mediaType"] == "image"
            assert row["media"]["mimeType"] == "image/png"
            assert row["media"]["width"] > 0
            assert row["metadata"] == image.metadata  # numbers as numbers, from object text
            assert [label["name"] for label in row["labels"]] == [
                label["name"] for label in image.labels
            ]


def test_the_example_slices_hold_what_the_data_says(
    api: Api, loaded: tuple[DemoResult, str]
) -> None:
    result, _ = loaded
    by_name = {s["name"]: s for s in result.catalog_slices}
    assert set(by_name) == {spec.name for spec in demo.CATALOG_SLICES}
    digits = next(s for s in result.sets if s.dataset == "digits")
    tests = sum(1 for image in digits.images if image.metadata["split"] == "test")
    assert by_name["Test digits"]["status"] == "ready"
    assert by_name["Test digits"]["rowCount"] == tests
    shapes = next(s for s in result.sets if s.dataset == "shapes")
    crowded = sum(
        1
        for image in shapes.images
        if image.metadata["lighting"] == "night" and len(image.labels) >= 4
    )
    explored = api.list_all(
        f"/v1/slices/{by_name['Crowded night scenes']['id']}/dataRows", "dataRows"
    )
    assert len(explored) == crowded
    counts = [len(row["labels"]) for row in explored]
    assert counts == sorted(counts, reverse=True)  # its order: labels.count desc


def test_each_run_has_its_nine_generated_slices_with_what_the_predictions_say(
    stack: RunningStack, api: Api, loaded: tuple[DemoResult, str]
) -> None:
    result, summary = loaded
    assert result.runs_unavailable is None
    assert [entry.demo.dataset for entry in result.runs] == [s.dataset for s in result.sets]
    for entry in result.runs:
        auto = [s for s in entry.slices if s.get("auto")]
        assert sorted(s["auto"] for s in auto) == sorted(str(kind) for kind in AutoSlice)
        assert all(s["status"] == "ready" for s in auto)
        assert entry.run["rowCount"] == len(entry.demo.images)
        assert summary.count(f'Model run "{entry.run["name"]}"') == 1

    # The digits: a row is a false positive exactly when the classifier's kept answer is not
    # its label; the most confident of them heads "Candidate mislabels".
    digits = next(e for e in result.runs if e.demo.dataset == "digits")
    threshold = digits.run["confidenceThreshold"]
    wrong = {
        row_id(digits.demo.global_key(stack.bucket, image)): image.predictions[0]["confidence"]
        for image in digits.demo.images
        if image.predictions[0]["confidence"] >= threshold
        and image.predictions[0]["name"] != image.labels[0]["name"]
    }
    by_kind = {s["auto"]: s for s in digits.slices if s.get("auto")}
    explored = api.list_all(f"/v1/slices/{by_kind['falsePositives']['id']}/dataRows", "dataRows")
    assert {row["id"] for row in explored} == set(wrong)
    top = digits.top_rows[by_kind["candidateMislabels"]["id"]]
    assert top[0]["id"] == max(wrong, key=lambda rid: (wrong[rid], rid))


def test_the_summary_says_where_and_what(
    stack: RunningStack, loaded: tuple[DemoResult, str]
) -> None:
    result, summary = loaded
    assert f"{stack.api}/v1/" in summary
    for found in result.catalog_slices:
        assert found["name"] in summary
    for entry in result.runs:
        for found in entry.slices:
            assert found["name"] in summary
    assert f"{DIGITS + SHAPES:,} rows in 2 datasets" in summary


def test_loading_again_changes_nothing(
    stack: RunningStack, api: Api, loaded: tuple[DemoResult, str]
) -> None:
    first, _ = loaded
    before = {s.dataset: _rows(api, s.dataset) for s in first.sets}
    slices_before = api.list_all("/v1/slices", "slices")

    again = demo.load(stack.env, digits=DIGITS, shapes=SHAPES, out=io.StringIO())

    assert again.complete, again.problems
    assert again.uploaded == 0  # every object was already in the bucket, as it is
    assert {s["id"] for s in again.catalog_slices} == {s["id"] for s in first.catalog_slices}
    assert [r.run["id"] for r in again.runs] == [r.run["id"] for r in first.runs]
    slices_after = api.list_all("/v1/slices", "slices")
    assert sorted(s["id"] for s in slices_after) == sorted(s["id"] for s in slices_before)
    for dataset, rows in before.items():
        assert _rows(api, dataset) == rows  # same generations, same update times
