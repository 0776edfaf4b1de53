"""Model runs through the HTTP API: runs, prediction uploads and their reports, a run's rows,
threshold changes, and the nine generated slices explored in their promised order."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from shared.auto_slices import AUTO_SLICES
from shared.documents import label_fields
from shared.ids import row_id
from shared.models import Annotation, BBox
from tests.functions import conftest_api as api
from tests.functions.conftest_api import assert_error, declare, put_rows, row_doc

empty_firestore, api_app, client = api.empty_firestore, api.api_app, api.client

CAR = {"left": 10, "top": 20, "width": 30, "height": 40}
NEAR = {"left": 11, "top": 19, "width": 31, "height": 42}
FAR = {"left": 300, "top": 300, "width": 20, "height": 20}
CLASSES = ["car", "daytime", "person"]


def key(i: int) -> str:
    return f"street/{i:04d}.jpg"


def box(name: str, bbox: dict[str, float]) -> Annotation:
    return Annotation(name=name, bbox=BBox.model_validate(bbox))


# Each row: its labels, and the predictions uploaded for it.
ROWS: list[tuple[list[Annotation], list[dict[str, Any]]]] = [
    ([box("car", CAR), Annotation(name="daytime")],
     [{"name": "car", "bbox": NEAR, "confidence": 0.92}, {"name": "daytime", "confidence": 0.81}]),
    ([box("car", CAR)], [{"name": "car", "bbox": FAR, "confidence": 0.97}]),
    ([box("car", CAR)], []),
    ([Annotation(name="daytime")], [{"name": "person", "confidence": 0.6},
                                    {"name": "daytime", "confidence": 0.55}]),
    ([], [{"name": "daytime"}]),
    ([box("car", CAR), box("car", FAR)], [{"name": "car", "bbox": NEAR, "confidence": 0.7},
                                          {"name": "car", "bbox": CAR, "confidence": 0.66}]),
    ([box("person", CAR)], [{"name": "person", "bbox": NEAR, "confidence": 0.51}]),
    ([], []),
]  # fmt: skip


@pytest.fixture
def catalog(client: FlaskClient) -> list[str]:
    declare(client, weather={"kind": "string"})
    docs = []
    for i, (labels, _) in enumerate(ROWS):
        doc = row_doc(key(i), metadata={"weather": "rain" if i % 2 else "sun"})
        doc.update(label_fields(labels))
        docs.append(doc)
    return put_rows(docs)


def create_run(client: FlaskClient, **body: Any) -> dict[str, Any]:
    body = {"name": "detector v1", "model": "yolo", "classes": CLASSES, **body}
    response = client.post("/v1/modelRuns", json=body)
    assert response.status_code == 200, response.get_json()
    run: dict[str, Any] = response.get_json()
    return run


def ndjson(*lines: dict[str, Any] | bytes) -> bytes:
    return b"".join((line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n"
                    for line in lines)  # fmt: skip


def upload(client: FlaskClient, run_id: str, body: bytes) -> dict[str, Any]:
    response = client.post(
        f"/v1/modelRuns/{run_id}/predictions", data=body, content_type="application/x-ndjson"
    )
    assert response.status_code == 200, response.get_json()
    report: dict[str, Any] = response.get_json()
    return report


def upload_all(client: FlaskClient, run_id: str) -> dict[str, Any]:
    lines = [{"globalKey": key(i), "predictions": preds} for i, (_, preds) in enumerate(ROWS)]
    return upload(client, run_id, ndjson(*lines))


def all_rows(client: FlaskClient, run_id: str, query: str = "", size: int = 3) -> list[Any]:
    rows: list[Any] = []
    token = ""
    for _ in range(50):
        response = client.get(
            f"/v1/modelRuns/{run_id}/rows?pageSize={size}&pageToken={token}{query}"
        )
        assert response.status_code == 200, response.get_json()
        page = response.get_json()
        rows += page["rows"]
        token = page["nextPageToken"]
        if not token:
            return rows
    raise AssertionError("paging did not end")


def explore(client: FlaskClient, slice_id: str, size: int = 3) -> list[str]:
    ids: list[str] = []
    token = ""
    for _ in range(50):
        response = client.get(f"/v1/slices/{slice_id}/dataRows?pageSize={size}&pageToken={token}")
        assert response.status_code == 200, response.get_json()
        page = response.get_json()
        assert page["complete"] is True
        ids += [row["id"] for row in page["dataRows"]]
        token = page["nextPageToken"]
        if not token:
            return ids
    raise AssertionError("paging did not end")


def explore_metrics(client: FlaskClient, slice_id: str, metric: str) -> list[object]:
    """One metric of a model-run slice's rows, as explore answers them (modelRunRows)."""
    page = client.get(f"/v1/slices/{slice_id}/dataRows?pageSize=1000").get_json()
    run_rows = page["modelRunRows"]
    assert [r["id"] for r in run_rows] == [r["id"] for r in page["dataRows"]]
    return [r["metrics"][metric] for r in run_rows]


# ---- runs -------------------------------------------------------------------------------


def test_a_run_is_created_with_default_thresholds_and_read_back(client: FlaskClient) -> None:
    run = create_run(client, classes=["car", "car", "person"])
    assert (run["iouThreshold"], run["confidenceThreshold"]) == (0.5, 0.5)
    assert run["classes"] == ["car", "person"]
    assert (run["status"], run["rowCount"]) == ("ready", 0)
    assert run["metrics"]["rows"] == 0
    assert set(run["metrics"]["classes"]) == {"car", "person"}
    got = client.get(f"/v1/modelRuns/{run['id']}")
    assert got.status_code == 200
    assert got.get_json() == run


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"iouThreshold": 0}, "iouThreshold"),
        ({"iouThreshold": 1}, "iouThreshold"),
        ({"iouThreshold": 1.5}, "iouThreshold"),
        ({"confidenceThreshold": -0.1}, "confidenceThreshold"),
        ({"confidenceThreshold": 1.01}, "confidenceThreshold"),
        ({"name": ""}, "name"),
        ({"colour": "red"}, "colour"),
        ({"classes": [""]}, "classes.0"),
    ],
)
def test_bad_runs_are_refused(client: FlaskClient, body: dict[str, Any], field: str) -> None:
    response = client.post("/v1/modelRuns", json={"name": "r", "model": "m", **body})
    error = assert_error(response, 400, "INVALID_ARGUMENT")
    fields = [v["field"] for v in error["details"][1]["fieldViolations"]]
    assert field in fields


def test_thresholds_at_the_edges_of_their_ranges_are_accepted(client: FlaskClient) -> None:
    run = create_run(client, iouThreshold=0.01, confidenceThreshold=1)
    assert (run["iouThreshold"], run["confidenceThreshold"]) == (0.01, 1)
    assert create_run(client, confidenceThreshold=0)["confidenceThreshold"] == 0


def test_runs_are_listed_newest_first_in_pages(client: FlaskClient) -> None:
    made = [create_run(client, name=f"run {i}")["id"] for i in range(5)]
    seen: list[str] = []
    token = ""
    while True:
        page = client.get(f"/v1/modelRuns?pageSize=2&pageToken={token}").get_json()
        seen += [run["id"] for run in page["modelRuns"]]
        token = page["nextPageToken"]
        if not token:
            break
    assert seen == made[::-1]
    assert_error(client.get("/v1/modelRuns?pageToken=garbage"), 400, "INVALID_ARGUMENT")


def test_unknown_runs_are_404(client: FlaskClient) -> None:
    for response in (
        client.get("/v1/modelRuns/nope"),
        client.patch("/v1/modelRuns/nope", json={"name": "x"}),
        client.post("/v1/modelRuns/nope/predictions", json={"lines": []}),
        client.post("/v1/modelRuns/nope/slices:generate"),
        client.get("/v1/modelRuns/nope/rows"),
        client.get(f"/v1/modelRuns/nope/rows/{'a' * 32}"),
    ):
        assert_error(response, 404, "NOT_FOUND")


# ---- uploads ----------------------------------------------------------------------------


def test_an_upload_reports_every_line_and_lands_the_good_ones(
    client: FlaskClient, catalog: list[str]
) -> None:
    run = create_run(client)["id"]
    body = ndjson(
        {"globalKey": key(0), "predictions": ROWS[0][1]},
        {"dataRowId": row_id(key(1)), "predictions": ROWS[1][1], "split": "valid"},
        {"globalKey": "street/unknown.jpg", "predictions": []},
        b'{"globalKey": "street/0002.jpg", "predictions": [{"name": "car", "confidence": NaN}]}',
        b'{"globalKey": "street/0002.jpg", "predictions": [{"name": "car", "confidence": -1}]}',
        b'{"globalKey": "street/0002.jpg", "predictions": [{"name": "car", "confidence": 2}]}',
        b'{"globalKey": "street/0002.jpg", "predictions": [',
        b"",
        {"globalKey": key(3)},
    )
    report = upload(client, run, body)
    assert [report[k] for k in ("linesRead", "rowsWritten", "linesRejected", "linesBlank")] == [
        9, 2, 6, 1,
    ]  # fmt: skip
    assert report["errors"] == [
        {"line": 3, "reason": "no data row with globalKey 'street/unknown.jpg'"},
        {"line": 4, "reason": "predictions[0].confidence: must be a number from 0 to 1, got nan"},
        {"line": 5, "reason": "predictions[0].confidence: must be a number from 0 to 1, got -1"},
        {"line": 6, "reason": "predictions[0].confidence: must be a number from 0 to 1, got 2"},
        {"line": 7, "reason": "invalid JSON: Expecting value (column 50)"},
        {"line": 9, "reason": "predictions: Field required"},
    ]
    rows = {row["id"]: row for row in all_rows(client, run)}
    assert set(rows) == {row_id(key(0)), row_id(key(1))}
    first = rows[row_id(key(0))]
    assert first["dataRow"]["globalKey"] == key(0)
    assert first["predictions"] == [{"bbox": None, "confidence": None, **p} for p in ROWS[0][1]]
    assert (first["metrics"]["tp"], first["metrics"]["fp"], first["metrics"]["fn"]) == (2, 0, 0)
    assert rows[row_id(key(1))]["split"] == "valid"
    assert client.get(f"/v1/modelRuns/{run}").get_json()["rowCount"] == 2


def test_the_json_form_takes_the_same_lines(client: FlaskClient, catalog: list[str]) -> None:
    run = create_run(client)["id"]
    response = client.post(
        f"/v1/modelRuns/{run}/predictions",
        json={"lines": [{"globalKey": key(0), "predictions": ROWS[0][1]}, [1], {"x": 1}]},
    )
    assert response.status_code == 200, response.get_json()
    report = response.get_json()
    assert (report["rowsWritten"], report["linesRejected"]) == (1, 2)
    assert [error["line"] for error in report["errors"]] == [2, 3]
    assert_error(
        client.post(f"/v1/modelRuns/{run}/predictions", data=b"x", content_type="text/plain"),
        415,
        "INVALID_ARGUMENT",
    )


def test_reuploading_a_row_replaces_its_predictions(
    client: FlaskClient, catalog: list[str]
) -> None:
    run = create_run(client)["id"]
    upload(client, run, ndjson({"globalKey": key(0), "predictions": ROWS[0][1]}))
    upload(client, run, ndjson({"globalKey": key(0), "predictions": [{"name": "person"}]}))
    (row,) = all_rows(client, run)
    assert row["predictions"] == [{"name": "person", "bbox": None, "confidence": None}]
    assert (row["metrics"]["tp"], row["metrics"]["fp"], row["metrics"]["fn"]) == (0, 1, 2)
    metrics = client.get(f"/v1/modelRuns/{run}").get_json()["metrics"]
    assert (metrics["rows"], metrics["tp"], metrics["fp"], metrics["fn"]) == (1, 0, 1, 2)


# ---- a run's rows -----------------------------------------------------------------------


def test_a_runs_rows_filter_on_metrics_predictions_and_catalog_fields_in_any_order(
    client: FlaskClient, catalog: list[str]
) -> None:
    run = create_run(client)["id"]
    upload_all(client, run)
    everything = all_rows(client, run)
    assert len(everything) == len(ROWS)
    assert [row["id"] for row in everything] == sorted(row["id"] for row in everything)

    def ids(query: str) -> list[str]:
        return [row["id"] for row in all_rows(client, run, query)]

    by_id = {row["id"]: row for row in everything}
    with_fp = [r for r in everything if r["metrics"]["fp"] > 0]
    assert ids("&filter=metrics.fp > 0") == [r["id"] for r in with_fp]
    cars = ids('&filter=predictions.classes CONTAINS "car"')
    assert {by_id[i]["dataRow"]["globalKey"] for i in cars} == {key(0), key(1), key(5)}
    rainy = ids('&filter=metadata.weather = "rain" AND metrics.recall EXISTS')
    assert all(by_id[i]["dataRow"]["metadata"]["weather"] == "rain" for i in rainy)
    assert all(by_id[i]["metrics"]["recall"] is not None for i in rainy)
    ordered = all_rows(client, run, "&orderBy=metrics.confidence desc")
    values = [(row["metrics"]["confidence"], row["id"]) for row in ordered]
    known = [v for v in values if v[0] is not None]
    assert known == sorted(known, reverse=True)
    assert len(values) == len(ROWS)  # rows without a confidence are not dropped
    assert_error(client.get(f"/v1/modelRuns/{run}/rows?filter=metrics.f1 > \"x\""), 400,
                 "INVALID_ARGUMENT")  # fmt: skip
    got = client.get(f"/v1/modelRuns/{run}/rows/{row_id(key(0))}")
    assert got.status_code == 200
    assert got.get_json() == by_id[row_id(key(0))]


def test_a_metadata_patch_reaches_the_runs_rows(client: FlaskClient, catalog: list[str]) -> None:
    run = create_run(client)["id"]
    upload_all(client, run)
    response = client.patch(f"/v1/dataRows/{row_id(key(0))}", json={"metadata": {"weather": "fog"}})
    assert response.status_code == 200, response.get_json()
    row = client.get(f"/v1/modelRuns/{run}/rows/{row_id(key(0))}").get_json()
    assert row["dataRow"]["metadata"]["weather"] == "fog"
    assert client.delete(f"/v1/dataRows/{row_id(key(0))}").status_code == 200
    gone = client.get(f"/v1/modelRuns/{run}/rows/{row_id(key(0))}")
    assert_error(gone, 404, "NOT_FOUND")
    assert client.get(f"/v1/modelRuns/{run}").get_json()["rowCount"] == len(ROWS) - 1


# ---- thresholds -------------------------------------------------------------------------


def test_a_threshold_patch_rescores_every_row_and_the_slices_follow(
    client: FlaskClient, catalog: list[str]
) -> None:
    run = create_run(client)["id"]
    upload_all(client, run)
    slices = {s["auto"]: s for s in generated(client, run)}
    before = set(explore(client, slices["falsePositives"]["id"]))
    assert row_id(key(6)) not in before  # its person box is a true positive at 0.51
    assert row_id(key(3)) in before  # person 0.6 is a false positive

    response = client.patch(f"/v1/modelRuns/{run}", json={"confidenceThreshold": 0.65})
    assert response.status_code == 200, response.get_json()
    patched = response.get_json()
    assert (patched["status"], patched["confidenceThreshold"]) == ("ready", 0.65)
    rows = {row["id"]: row for row in all_rows(client, run)}
    assert rows[row_id(key(6))]["metrics"]["fn"] == 1  # 0.51 is dropped now
    assert rows[row_id(key(3))]["metrics"]["fp"] == 0  # so is 0.6
    after = set(explore(client, slices["falsePositives"]["id"]))
    assert after == {i for i, row in rows.items() if row["metrics"]["fp"] > 0}
    assert row_id(key(3)) not in after
    assert patched["metrics"]["fn"] == sum(row["metrics"]["fn"] for row in rows.values())
    assert_error(client.patch(f"/v1/modelRuns/{run}", json={"iouThreshold": None}), 400,
                 "INVALID_ARGUMENT")  # fmt: skip
    assert_error(client.patch(f"/v1/modelRuns/{run}", json={"iouThreshold": 1}), 400,
                 "INVALID_ARGUMENT")  # fmt: skip
    renamed = client.patch(f"/v1/modelRuns/{run}", json={"name": "renamed"}).get_json()
    assert (renamed["name"], renamed["status"]) == ("renamed", "ready")


# ---- generated slices -------------------------------------------------------------------


def generated(client: FlaskClient, run_id: str) -> list[dict[str, Any]]:
    response = client.post(f"/v1/modelRuns/{run_id}/slices:generate")
    assert response.status_code == 200, response.get_json()
    slices: list[dict[str, Any]] = response.get_json()["slices"]
    return slices


def expected_order(rows: list[dict[str, Any]], metric: str, op: str, sort: str,
                   desc: bool) -> list[str]:  # fmt: skip
    """What a slice must hold, in order: Firestore sorts by the field, then by id, both in the
    slice's direction."""
    if op == "gt":
        chosen = [row for row in rows if row["metrics"][metric] > 0]
    else:
        chosen = [row for row in rows if row["metrics"][metric] is not None]
    ordered = sorted(chosen, key=lambda row: (row["metrics"][sort], row["id"]), reverse=desc)
    return [row["id"] for row in ordered]


def test_an_upload_makes_the_nine_slices_and_each_explores_in_its_promised_order(
    client: FlaskClient, catalog: list[str]
) -> None:
    run = create_run(client)["id"]
    upload_all(client, run)
    listed = client.get(f"/v1/slices?scope=modelRun:{run}&pageSize=100").get_json()["slices"]
    assert sorted(s["auto"] for s in listed) == sorted(str(spec.kind) for spec in AUTO_SLICES)
    rows = all_rows(client, run)
    by_id = {row["id"]: row for row in rows}
    by_kind = {s["auto"]: s for s in listed}
    nonempty = 0
    for spec in AUTO_SLICES:
        made = by_kind[str(spec.kind)]
        assert (made["name"], made["status"]) == (spec.name, "ready")
        assert made["orderBy"] == spec.order_by
        assert made["scope"] == {"modelRun": run}
        want = expected_order(rows, spec.metric, spec.op, spec.sort_metric,
                              spec.direction == "desc")  # fmt: skip
        assert explore(client, made["id"]) == want, spec.kind
        assert explore_metrics(client, made["id"], spec.sort_metric) == [
            by_id[row_id]["metrics"][spec.sort_metric] for row_id in want
        ], spec.kind
        assert made["rowCount"] == len(want)
        nonempty += bool(want)
    assert nonempty == 9  # the data exercises every slice


def test_regenerating_updates_the_same_nine_and_restores_what_was_edited(
    client: FlaskClient, catalog: list[str]
) -> None:
    run = create_run(client)["id"]
    upload_all(client, run)
    first = generated(client, run)
    assert [s["auto"] for s in first] == [str(spec.kind) for spec in AUTO_SLICES]
    assert [s["id"] for s in generated(client, run)] == [s["id"] for s in first]

    tp = first[0]
    edit = client.patch(
        f"/v1/slices/{tp['id']}",
        json={"name": "My TPs", "filter": "metrics.tp > 1", "etag": tp["etag"]},
    )
    assert edit.status_code == 200, edit.get_json()
    fp = first[2]
    assert client.delete(f"/v1/slices/{fp['id']}").status_code == 200

    again = generated(client, run)
    assert len(again) == 9
    restored = again[0]
    assert restored["id"] == tp["id"]
    assert (restored["name"], restored["filter"]) == ("My TPs", tp["filter"])
    assert again[2]["auto"] == "falsePositives"
    assert again[2]["id"] != fp["id"]
    listed = client.get(f"/v1/slices?scope=modelRun:{run}&pageSize=100").get_json()["slices"]
    assert len(listed) == 9


def test_generated_slices_are_ordinary_slices(client: FlaskClient, catalog: list[str]) -> None:
    run = create_run(client)["id"]
    taken = client.post("/v1/slices", json={"name": "True positives", "filter": "metrics.tp > 5",
                                            "scope": {"modelRun": run}})  # fmt: skip
    assert taken.status_code == 200, taken.get_json()
    upload_all(client, run)
    slices = generated(client, run)
    assert slices[0]["name"] == "True positives (auto)"
    low_f1 = slices[6]
    copy = client.post(
        f"/v1/slices/{low_f1['id']}:saveAs",
        json={"name": "Rainy low F1", "filter": 'metrics.f1 EXISTS AND metadata.weather = "rain"'},
    )
    assert copy.status_code == 200, copy.get_json()
    saved = copy.get_json()
    assert (saved["auto"], saved["orderBy"]) == (None, "metrics.f1 asc")
    rows = [r for r in all_rows(client, run) if r["dataRow"]["metadata"]["weather"] == "rain"]
    want = expected_order(rows, "f1", "exists", "f1", desc=False)
    assert explore(client, saved["id"]) == want
    other = client.get(f"/v1/slices/{slices[8]['id']}/dataRows?orderBy=metrics.fp desc")
    assert other.status_code == 200
