"""Slices through the HTTP API: create, read, list, update in place, save as, delete, build,
explore, and membership that stays true as rows change."""

from __future__ import annotations

import threading
import unicodedata
from typing import Any

import pytest
from flask.testing import FlaskClient

from shared.ids import row_id
from shared.services import slices as slice_service
from shared.store.client import MODEL_RUNS, db
from tests.functions import conftest_api as api
from tests.functions.conftest_api import assert_error, declare, put_rows, row_doc

empty_firestore, api_app, client = api.empty_firestore, api.api_app, api.client

TRAIN = 'metadata.split = "train"'


@pytest.fixture
def catalog(client: FlaskClient) -> list[str]:
    """12 rows: even ones are train, odd ones valid; widths 0..110; 'car' on every third."""
    declare(client, split={"kind": "enum", "values": ["train", "valid"]})
    docs = [
        row_doc(
            f"gs://bucket/ds/{i:02d}.png",
            metadata={"split": "train" if i % 2 == 0 else "valid"},
            width=i * 10,
            labels=["car"] if i % 3 == 0 else [],
        )
        for i in range(12)
    ]
    return put_rows(docs)


def create(client: FlaskClient, **body: Any) -> dict[str, Any]:
    body.setdefault("filter", TRAIN)
    response = client.post("/v1/slices", json=body)
    assert response.status_code == 200, response.get_json()
    created: dict[str, Any] = response.get_json()
    return created


def explore_all(client: FlaskClient, slice_id: str, query: str = "", size: int = 5) -> list[str]:
    """Every row id of a slice, page by page."""
    ids: list[str] = []
    token = ""
    for _ in range(100):
        response = client.get(
            f"/v1/slices/{slice_id}/dataRows?pageSize={size}&pageToken={token}{query}"
        )
        assert response.status_code == 200, response.get_json()
        page = response.get_json()
        assert len(page["dataRows"]) <= size
        ids += [row["id"] for row in page["dataRows"]]
        token = page["nextPageToken"]
        if not token:
            return ids
    raise AssertionError("paging did not end")


def add_model_run(run_id: str) -> None:
    db().collection(MODEL_RUNS).document(run_id).set({"id": run_id, "name": run_id})


# ---- create -----------------------------------------------------------------------------


def test_create_answers_the_slice_built(client: FlaskClient, catalog: list[str]) -> None:
    response = client.post(
        "/v1/slices",
        json={"name": "Train rows", "description": "all of train", "filter": TRAIN},
    )
    assert response.status_code == 200
    created = response.get_json()
    assert response.headers["ETag"] == f'"{created["etag"]}"'
    assert created["name"] == "Train rows"
    assert created["description"] == "all of train"
    assert created["scope"] == {"catalog": {}}
    assert created["filter"] == {"field": "metadata.split", "op": "eq", "value": "train"}
    assert created["filterText"] == TRAIN
    assert created["status"] == "ready"
    assert created["progress"]["shardsDone"] == created["progress"]["shardsTotal"] == 16
    assert created["progress"]["rowsScanned"] == 12
    assert created["rowCount"] == 6
    assert created["createdAt"] == created["updatedAt"]
    assert created["orderBy"] is None
    assert created["auto"] is None


def test_the_filter_may_be_a_json_tree(client: FlaskClient, catalog: list[str]) -> None:
    tree = {
        "and": [
            {"field": "metadata.split", "op": "eq", "value": "train"},
            {"field": "labels.classes", "op": "contains", "value": "car"},
        ]
    }
    created = create(client, name="train cars", filter=tree)
    assert created["filterText"] == 'metadata.split = "train" AND labels.classes CONTAINS "car"'
    assert created["rowCount"] == 2  # rows 0 and 6


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("ab", False),
        ("abc", True),
        ("x" * 30, True),
        ("x" * 31, False),
        ("   ab   ", False),  # 2 after trimming
        ("  abc  ", True),
        ("名前の", True),  # 3 characters, 9 bytes
        ("🚗" * 30, True),
        ("é" * 31, False),
        ("Ünïcødé slice ✓", True),
        ("e\u0301" * 30, True),  # NFD: 60 code points, 30 characters once composed
        ("e\u0301" * 31, False),
        ("e\u0301e\u0301", False),  # 4 code points, 2 characters
        ("  e\u0301te  ", True),
    ],
)
def test_name_length_is_3_to_30_characters_after_trimming(
    client: FlaskClient, name: str, ok: bool
) -> None:
    response = client.post("/v1/slices", json={"name": name, "filter": ""})
    if ok:
        assert response.status_code == 200, response.get_json()
        stored = unicodedata.normalize("NFC", name.strip())
        assert response.get_json()["name"] == stored
        assert client.get(f"/v1/slices/{response.get_json()['id']}").get_json()["name"] == stored
    else:
        error = assert_error(response, 400, "INVALID_ARGUMENT")
        assert "name" in error["message"]


@pytest.mark.parametrize("length", [0, 1, 500])
def test_a_description_of_up_to_500_characters_is_kept(client: FlaskClient, length: int) -> None:
    description = "é" * length  # characters, not bytes
    body = {"name": f"described {length}", "filter": "", "description": description}
    response = client.post("/v1/slices", json=body)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["description"] == description
    stored = client.get(f"/v1/slices/{response.get_json()['id']}").get_json()
    assert stored["description"] == description


def test_a_description_over_500_characters_is_400_and_creates_nothing(client: FlaskClient) -> None:
    too_long = {"name": "described 501", "filter": "", "description": "x" * 501}
    error = assert_error(client.post("/v1/slices", json=too_long), 400, "INVALID_ARGUMENT")
    violations = error["details"][1]["fieldViolations"]
    assert [v["field"] for v in violations] == ["description"]
    assert client.get("/v1/slices").get_json()["slices"] == []


def test_names_are_unique_per_scope_case_insensitively(client: FlaskClient) -> None:
    create(client, name="Cars", filter="")
    for taken in ("cars", "CARS", "  Cars "):
        response = client.post("/v1/slices", json={"name": taken, "filter": ""})
        error = assert_error(response, 409, "ALREADY_EXISTS")
        assert "Cars" in error["message"] or "cars" in error["message"].lower()
    add_model_run("run1")
    in_run = create(client, name="cars", filter="", scope={"modelRun": "run1"})
    assert in_run["scope"] == {"modelRun": "run1"}
    again = client.post(
        "/v1/slices", json={"name": "CARS", "filter": "", "scope": {"modelRun": "run1"}}
    )
    assert_error(again, 409, "ALREADY_EXISTS")
    unicode_name = create(client, name="Straße", filter="")
    assert unicode_name["name"] == "Straße"
    assert_error(
        client.post("/v1/slices", json={"name": "STRASSE", "filter": ""}), 409, "ALREADY_EXISTS"
    )


def test_names_collide_however_their_accents_are_composed(client: FlaskClient) -> None:
    composed = create(client, name="Caf\u00e9", filter="")  # é as one code point (NFC)
    for taken in ("Cafe\u0301", "CAFE\u0301", "caf\u00e9"):  # e + combining acute (NFD)
        response = client.post("/v1/slices", json={"name": taken, "filter": ""})
        assert_error(response, 409, "ALREADY_EXISTS")
    decomposed = create(client, name="Cre\u0300me", filter="")
    assert decomposed["name"] == "Cr\u00e8me"  # stored composed
    assert_error(
        client.post("/v1/slices", json={"name": "CR\u00c8ME", "filter": ""}), 409, "ALREADY_EXISTS"
    )
    renamed = client.patch(
        f"/v1/slices/{decomposed['id']}", json={"name": "cafe\u0301", "etag": decomposed["etag"]}
    )
    assert_error(renamed, 409, "ALREADY_EXISTS")
    saved_as = client.post(f"/v1/slices/{composed['id']}:saveAs", json={"name": "CAFE\u0301"})
    assert_error(saved_as, 409, "ALREADY_EXISTS")
    listed = client.get("/v1/slices").get_json()["slices"]
    assert sorted(s["name"] for s in listed) == ["Caf\u00e9", "Cr\u00e8me"]


def test_a_model_run_scope_needs_the_run(client: FlaskClient) -> None:
    body = {"name": "no run", "filter": "", "scope": {"modelRun": "missing"}}
    error = assert_error(client.post("/v1/slices", json=body), 404, "NOT_FOUND")
    assert "missing" in error["message"]


@pytest.mark.parametrize(
    ("filter_value", "words"),
    [
        ('metadata.split = "train', "unterminated"),
        ("metadata.nope = 1", "metadata.nope"),
        ('media.width = "wide"', "number"),
        ("metrics.f1 > 0.5", "model run"),
        ({"field": "dataset", "op": "near", "value": "x"}, "operator"),
        ("NOT " * 12 + 'dataset = "a"', "levels deep"),
        ("dataset IN (" + ", ".join(f'"{i}"' for i in range(31)) + ")", "at most 30"),
    ],
)
def test_bad_filters_are_400_saying_why(
    client: FlaskClient, catalog: list[str], filter_value: Any, words: str
) -> None:
    response = client.post("/v1/slices", json={"name": "bad filter", "filter": filter_value})
    error = assert_error(response, 400, "INVALID_ARGUMENT")
    assert words in error["message"]
    assert error["details"][0]["reason"] == "FILTER_ERROR"
    assert client.get("/v1/slices").get_json()["slices"] == []


def test_order_by_must_be_a_sort_field(client: FlaskClient, catalog: list[str]) -> None:
    for bad in ("metadata.split", "media.width sideways", "a b c", "metrics.f1"):
        body = {"name": "ordered", "filter": "", "orderBy": bad}
        error = assert_error(client.post("/v1/slices", json=body), 400, "INVALID_ARGUMENT")
        assert "orderBy" in error["message"]
    created = create(client, name="ordered", filter="", orderBy="media.width DESC")
    assert created["orderBy"] == "media.width desc"


# ---- read and list ----------------------------------------------------------------------


def test_get_unknown_slice_is_404(client: FlaskClient) -> None:
    for path in ("/v1/slices/nope", "/v1/slices/nope/dataRows"):
        assert_error(client.get(path), 404, "NOT_FOUND")
    assert_error(client.delete("/v1/slices/nope"), 404, "NOT_FOUND")
    assert_error(
        client.patch("/v1/slices/nope", json={"name": "abc", "etag": "1"}), 404, "NOT_FOUND"
    )


def test_get_shows_both_filter_forms_and_counts(client: FlaskClient, catalog: list[str]) -> None:
    created = create(client, name="train", filter=TRAIN, orderBy="media.width desc")
    response = client.get(f"/v1/slices/{created['id']}")
    assert response.status_code == 200
    got = response.get_json()
    assert got == created
    assert response.headers["ETag"] == '"1"'


def test_list_pages_newest_first_and_filters_by_scope(client: FlaskClient) -> None:
    add_model_run("run1")
    names = [f"slice {i}" for i in range(5)]
    for name in names:
        create(client, name=name, filter="")
    create(client, name="in run", filter="", scope={"modelRun": "run1"})
    seen: list[str] = []
    token = ""
    while True:
        page = client.get(f"/v1/slices?scope=catalog&pageSize=2&pageToken={token}").get_json()
        seen += [s["name"] for s in page["slices"]]
        token = page["nextPageToken"]
        if not token:
            break
    assert seen == list(reversed(names))
    run = client.get("/v1/slices?scope=modelRun:run1").get_json()["slices"]
    assert [s["name"] for s in run] == ["in run"]
    everything = client.get("/v1/slices").get_json()["slices"]
    assert len(everything) == 6
    assert_error(client.get("/v1/slices?scope=elsewhere"), 400, "INVALID_ARGUMENT")
    assert_error(client.get("/v1/slices?pageToken=garbage"), 400, "INVALID_ARGUMENT")
    assert_error(client.get("/v1/slices?pageSize=-1"), 400, "INVALID_ARGUMENT")
    assert_error(client.get("/v1/slices?pageSize=many"), 400, "INVALID_ARGUMENT")


# ---- update in place and save as --------------------------------------------------------


def test_update_needs_the_current_etag(client: FlaskClient, catalog: list[str]) -> None:
    created = create(client, name="train", filter=TRAIN)
    path = f"/v1/slices/{created['id']}"
    error = assert_error(client.patch(path, json={"name": "renamed"}), 400, "INVALID_ARGUMENT")
    assert "etag" in error["message"]
    stale = client.patch(path, json={"name": "renamed", "etag": "0"})
    assert_error(stale, 412, "FAILED_PRECONDITION")
    assert client.get(path).get_json() == created  # a stale etag changes nothing
    mismatch = client.patch(
        path, json={"name": "renamed", "etag": "1"}, headers={"If-Match": '"2"'}
    )
    assert_error(mismatch, 400, "INVALID_ARGUMENT")

    by_header = client.patch(path, json={"name": "renamed"}, headers={"If-Match": '"1"'})
    assert by_header.status_code == 200
    updated = by_header.get_json()
    assert updated["name"] == "renamed"
    assert updated["etag"] != created["etag"]
    assert by_header.headers["ETag"] == f'"{updated["etag"]}"'
    assert updated["updatedAt"] > created["updatedAt"]
    assert updated["createdAt"] == created["createdAt"]
    by_body = client.patch(path, json={"description": "now described", "etag": updated["etag"]})
    assert by_body.get_json()["description"] == "now described"
    assert by_body.get_json()["name"] == "renamed"


def test_a_new_filter_rebuilds_membership(client: FlaskClient, catalog: list[str]) -> None:
    created = create(client, name="train", filter=TRAIN)
    path = f"/v1/slices/{created['id']}"
    assert created["rowCount"] == 6
    response = client.patch(path, json={"filter": "media.width >= 80", "etag": created["etag"]})
    assert response.status_code == 200, response.get_json()
    updated = response.get_json()
    assert updated["filterText"] == "media.width >= 80"
    assert updated["status"] == "ready"
    assert updated["rowCount"] == 4  # widths 80, 90, 100, 110
    expected = {row_id(f"gs://bucket/ds/{i:02d}.png") for i in (8, 9, 10, 11)}
    assert set(explore_all(client, created["id"])) == expected


def test_renaming_onto_a_taken_name_is_409(client: FlaskClient) -> None:
    create(client, name="first", filter="")
    second = create(client, name="second", filter="")
    response = client.patch(
        f"/v1/slices/{second['id']}", json={"name": "FIRST", "etag": second["etag"]}
    )
    assert_error(response, 409, "ALREADY_EXISTS")
    # Renaming to another case of its own name is fine.
    ok = client.patch(f"/v1/slices/{second['id']}", json={"name": "SECOND", "etag": "1"})
    assert ok.get_json()["name"] == "SECOND"


@pytest.mark.parametrize(
    "body",
    [{"name": None}, {"filter": None}, {"name": "ab"}, {"orderBy": "nope"}, {"filter": "x ="}],
)
def test_bad_updates_are_400_and_change_nothing(
    client: FlaskClient, catalog: list[str], body: dict[str, Any]
) -> None:
    created = create(client, name="train", filter=TRAIN)
    path = f"/v1/slices/{created['id']}"
    assert_error(client.patch(path, json={**body, "etag": "1"}), 400, "INVALID_ARGUMENT")
    assert client.get(path).get_json() == created


def test_two_updates_from_one_etag_exactly_one_wins(
    client: FlaskClient, api_app: Any, catalog: list[str]
) -> None:
    created = create(client, name="raced", filter=TRAIN)
    path = f"/v1/slices/{created['id']}"
    start = threading.Barrier(2)
    results: dict[str, Any] = {}

    def edit(name: str) -> None:
        own_client = api_app.test_client()
        start.wait()
        results[name] = own_client.patch(path, json={"name": name, "etag": created["etag"]})

    threads = [threading.Thread(target=edit, args=(name,)) for name in ("left one", "right one")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    codes = sorted(r.status_code for r in results.values())
    assert codes == [200, 412]
    winner = next(name for name, r in results.items() if r.status_code == 200)
    final = client.get(path).get_json()
    assert final["name"] == winner
    assert final["etag"] == results[winner].get_json()["etag"]
    loser = next(r for r in results.values() if r.status_code == 412)
    assert_error(loser, 412, "FAILED_PRECONDITION")


def test_save_as_creates_a_new_slice_and_leaves_the_original(
    client: FlaskClient, catalog: list[str]
) -> None:
    original = create(client, name="train", description="the original", filter=TRAIN)
    path = f"/v1/slices/{original['id']}"
    response = client.post(
        f"{path}:saveAs",
        json={"name": "train cars", "filter": f'{TRAIN} AND labels.classes CONTAINS "car"'},
    )
    assert response.status_code == 200, response.get_json()
    copy = response.get_json()
    assert copy["id"] != original["id"]
    assert copy["name"] == "train cars"
    assert copy["description"] == "the original"
    assert copy["rowCount"] == 2
    assert copy["etag"] == "1"
    assert client.get(path).get_json() == original
    assert set(explore_all(client, original["id"])) != set(explore_all(client, copy["id"]))
    plain = client.post(f"{path}:saveAs", json={"name": "plain copy", "description": ""})
    assert plain.get_json()["filter"] == original["filter"]
    assert plain.get_json()["description"] == ""
    assert_error(client.post(f"{path}:saveAs", json={"name": "TRAIN"}), 409, "ALREADY_EXISTS")
    assert_error(client.post(f"{path}:saveAs", json={}), 400, "INVALID_ARGUMENT")
    stale = client.post(f"{path}:saveAs", json={"name": "stale copy"}, headers={"If-Match": "7"})
    assert_error(stale, 412, "FAILED_PRECONDITION")
    assert client.get(path).get_json() == original


# ---- delete -----------------------------------------------------------------------------


def test_delete_removes_the_slice_and_its_membership(
    client: FlaskClient, catalog: list[str]
) -> None:
    created = create(client, name="train", filter=TRAIN)
    other = create(client, name="everything", filter="")
    response = client.delete(f"/v1/slices/{created['id']}")
    assert response.status_code == 200
    assert response.get_json() == {}
    assert_error(client.get(f"/v1/slices/{created['id']}"), 404, "NOT_FOUND")
    for rid in catalog:
        row = client.get(f"/v1/dataRows/{rid}").get_json()
        assert row["sliceIds"] == [other["id"]]
    # The name is free again.
    assert create(client, name="TRAIN", filter=TRAIN)["rowCount"] == 6
    assert_error(client.delete(f"/v1/slices/{created['id']}"), 404, "NOT_FOUND")


# ---- builds -----------------------------------------------------------------------------


def test_a_build_past_the_request_budget_is_continued_by_build(
    client: FlaskClient, catalog: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(slice_service, "REQUEST_BUILD_SECONDS", 0.0)
    monkeypatch.setattr("shared.builds.CHUNK_ROWS", 1)
    created = create(client, name="slow", filter=TRAIN)
    assert created["status"] == "building"
    assert created["progress"]["shardsDone"] < 16
    page = client.get(f"/v1/slices/{created['id']}/dataRows").get_json()
    assert page["complete"] is False
    for _ in range(100):
        built = client.post(f"/v1/slices/{created['id']}:build").get_json()
        if built["status"] == "ready":
            break
        assert built["progress"]["rowsScanned"] >= created["progress"]["rowsScanned"]
    assert built["status"] == "ready"
    assert built["rowCount"] == 6
    assert built["progress"]["rowsScanned"] == 12
    assert client.get(f"/v1/slices/{created['id']}/dataRows").get_json()["complete"] is True
    # Building a ready slice changes nothing.
    again = client.post(f"/v1/slices/{created['id']}:build")
    assert again.status_code == 200
    assert again.get_json() == built


# ---- explore ----------------------------------------------------------------------------


def test_explore_pages_through_the_slice_in_its_order(
    client: FlaskClient, catalog: list[str]
) -> None:
    created = create(client, name="by width", filter=TRAIN, orderBy="media.width desc")
    train = [row_id(f"gs://bucket/ds/{i:02d}.png") for i in (10, 8, 6, 4, 2, 0)]
    assert explore_all(client, created["id"], size=4) == train
    assert explore_all(client, created["id"], size=1) == train
    assert explore_all(client, created["id"], "&orderBy=media.width", size=4) == train[::-1]
    assert explore_all(client, created["id"], "&orderBy=id", size=5) == sorted(train)
    first = client.get(f"/v1/slices/{created['id']}/dataRows?pageSize=2").get_json()
    assert set(first) == {"dataRows", "nextPageToken", "complete", "modelRunRows"}
    assert first["complete"] is True
    assert first["modelRunRows"] is None  # a catalog slice has no model-run rows
    assert [r["media"]["width"] for r in first["dataRows"]] == [100, 80]
    assert all(created["id"] in r["sliceIds"] for r in first["dataRows"])


def test_explore_errors(client: FlaskClient, catalog: list[str]) -> None:
    created = create(client, name="train", filter=TRAIN)
    path = f"/v1/slices/{created['id']}/dataRows"
    token = client.get(f"{path}?pageSize=2").get_json()["nextPageToken"]
    assert token
    # A token is bound to its query: another order cannot use it.
    other_order = client.get(f"{path}?pageSize=2&orderBy=media.width&pageToken={token}")
    assert_error(other_order, 400, "INVALID_ARGUMENT")
    for query in ("orderBy=metadata.split", "pageToken=%%%", "pageSize=-3", "pageToken=e30"):
        assert_error(client.get(f"{path}?{query}"), 400, "INVALID_ARGUMENT")
    big = client.get(f"{path}?pageSize=5000")
    assert big.status_code == 200  # coerced down to the maximum
    assert len(big.get_json()["dataRows"]) == 6


# ---- dynamic membership -----------------------------------------------------------------


def test_rows_enter_and_leave_slices_as_they_change(
    client: FlaskClient, catalog: list[str]
) -> None:
    created = create(client, name="train", filter=TRAIN)
    valid_row = row_id("gs://bucket/ds/01.png")
    train_row = row_id("gs://bucket/ds/00.png")
    assert valid_row not in explore_all(client, created["id"])

    patched = client.patch(f"/v1/dataRows/{valid_row}", json={"metadata": {"split": "train"}})
    assert patched.status_code == 200
    assert created["id"] in patched.get_json()["sliceIds"]
    assert valid_row in explore_all(client, created["id"])

    client.patch(f"/v1/dataRows/{train_row}", json={"metadata": {"split": "valid"}})
    assert train_row not in explore_all(client, created["id"])

    assert client.delete(f"/v1/dataRows/{valid_row}").status_code == 200
    members = explore_all(client, created["id"])
    assert valid_row not in members
    assert client.get(f"/v1/slices/{created['id']}").get_json()["rowCount"] == len(members) == 5

    # A row that lands later is in the slice at once.
    put_rows([row_doc("gs://bucket/ds/new.png", metadata={"split": "train"})])
    assert row_id("gs://bucket/ds/new.png") in explore_all(client, created["id"])
