"""Data rows, datasets and the metadata schema through the HTTP API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient

from shared.ids import row_id
from tests.functions import conftest_api as api
from tests.functions.conftest_api import assert_error, declare, put_rows, row_doc

empty_firestore, api_app, client = api.empty_firestore, api.api_app, api.client


@pytest.fixture
def catalog(client: FlaskClient) -> dict[str, str]:
    """Two datasets: 'cars' (6 rows, widths 0..50) and 'bikes' (4 rows); key -> id."""
    declare(
        client,
        split={"kind": "enum", "values": ["train", "valid"]},
        score={"kind": "number"},
        tags={"kind": "tags"},
    )
    docs = [
        row_doc(
            f"gs://b/cars/{i}.png",
            dataset="cars",
            metadata={"split": "train" if i < 3 else "valid", "score": i / 10},
            width=i * 10,
            labels=["car"],
            created=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=i),
        )
        for i in range(6)
    ] + [
        row_doc(f"gs://b/bikes/{i}.png", dataset="bikes", metadata={"split": "train"}, width=5)
        for i in range(4)
    ]
    put_rows(docs)
    return {doc["globalKey"]: row_id(doc["globalKey"]) for doc in docs}


def list_all(
    client: FlaskClient, path: str, query: str = "", size: int = 3
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    token = ""
    for _ in range(200):
        response = client.get(f"{path}?pageSize={size}&pageToken={token}{query}")
        assert response.status_code == 200, response.get_json()
        page = response.get_json()
        assert set(page) == {"dataRows", "nextPageToken"}
        rows += page["dataRows"]
        token = page["nextPageToken"]
        if not token:
            return rows
    raise AssertionError("paging did not end")


def q(text: str) -> str:
    return "&filter=" + quote(text)


# ---- All data ---------------------------------------------------------------------------


def test_all_data_pages_through_every_row_once(
    client: FlaskClient, catalog: dict[str, str]
) -> None:
    rows = list_all(client, "/v1/dataRows")
    assert [r["id"] for r in rows] == sorted(catalog.values())
    first = rows[0]
    assert set(first) >= {"id", "globalKey", "rowData", "dataset", "media", "metadata", "labels"}
    assert first["labels"] in ([{"name": "car"}], [])


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ('dataset = "cars"', [f"gs://b/cars/{i}.png" for i in range(6)]),
        (
            'metadata.split = "train" AND dataset = "cars"',
            [f"gs://b/cars/{i}.png" for i in range(3)],
        ),
        ("media.width > 25", [f"gs://b/cars/{i}.png" for i in (3, 4, 5)]),
        ("metadata.score BETWEEN 0.1 AND 0.3", [f"gs://b/cars/{i}.png" for i in (1, 2, 3)]),
        ('NOT labels.classes CONTAINS "car"', [f"gs://b/bikes/{i}.png" for i in range(4)]),
        ('globalKey STARTS WITH "gs://b/bikes/"', [f"gs://b/bikes/{i}.png" for i in range(4)]),
        (
            'createdAt BETWEEN "2026-01-05T00:00:00Z" AND "2026-02-01T00:00:00+01:00"',
            ["gs://b/cars/4.png", "gs://b/cars/5.png"],
        ),
        ('metadata.split = "valid" OR media.width = 5', None),
    ],
)
def test_filters_select_exactly_the_matching_rows(
    client: FlaskClient, catalog: dict[str, str], text: str, keys: list[str] | None
) -> None:
    if keys is None:
        keys = [f"gs://b/cars/{i}.png" for i in (3, 4, 5)] + [
            f"gs://b/bikes/{i}.png" for i in range(4)
        ]
    for size in (1, 2, 50):
        rows = list_all(client, "/v1/dataRows", q(text), size=size)
        assert sorted(r["id"] for r in rows) == sorted(catalog[k] for k in keys)


def test_the_json_tree_form_is_accepted(client: FlaskClient, catalog: dict[str, str]) -> None:
    tree = {"field": "media.width", "op": "gte", "value": 40}
    rows = list_all(client, "/v1/dataRows", "&filter=" + quote(json.dumps(tree)))
    assert {r["globalKey"] for r in rows} == {"gs://b/cars/4.png", "gs://b/cars/5.png"}


def test_order_by_sorts_and_pages(client: FlaskClient, catalog: dict[str, str]) -> None:
    rows = list_all(client, "/v1/dataRows", "&orderBy=media.width desc" + q('dataset = "cars"'))
    assert [r["media"]["width"] for r in rows] == [50, 40, 30, 20, 10, 0]
    rows = list_all(client, "/v1/dataRows", "&orderBy=createdAt" + q("media.width >= 20"), size=2)
    assert [r["globalKey"] for r in rows] == [f"gs://b/cars/{i}.png" for i in (2, 3, 4, 5)]


def test_a_selective_filter_answers_short_pages_with_a_token(
    client: FlaskClient, catalog: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A budget of 2 reads per page: the residual (score > 0.35) rejects most rows.
    monkeypatch.setattr("shared.services.listing.read_budget", lambda _size: 2)
    pages = []
    token = ""
    while True:
        response = client.get(
            f"/v1/dataRows?pageSize=10&pageToken={token}" + q("metadata.score > 0.35")
        )
        page = response.get_json()
        pages.append(page)
        token = page["nextPageToken"]
        if not token:
            break
    assert len(pages) >= 5  # ten rows, two reads a page
    assert any(p["nextPageToken"] and len(p["dataRows"]) < 10 for p in pages)
    found = sorted(r["id"] for p in pages for r in p["dataRows"])
    assert found == sorted(catalog[f"gs://b/cars/{i}.png"] for i in (4, 5))


def test_list_errors(client: FlaskClient, catalog: dict[str, str]) -> None:
    for query in (
        q("media.width ="),
        q("metadata.unknown = 1"),
        q('media.width = "x"'),
        "&filter=" + quote("{not json"),
        "&filter=" + quote('{"field": "dataset"}'),
        "&orderBy=labels.classes",
        "&orderBy=media.width%20up",
        "&pageSize=-1",
        "&pageSize=1.5",
        "&pageToken=bm9wZQ",
    ):
        assert_error(client.get(f"/v1/dataRows?{query}"), 400, "INVALID_ARGUMENT")
    token = client.get("/v1/dataRows?pageSize=2").get_json()["nextPageToken"]
    other = client.get(f"/v1/dataRows?pageSize=2&pageToken={token}" + q('dataset = "cars"'))
    error = assert_error(other, 400, "INVALID_ARGUMENT")
    assert "pageToken" in error["message"]


@pytest.mark.parametrize(
    ("text", "at"),
    [
        ('dataset = "cars" AND metadata.split = 5', "5"),
        ('dataset = "cars" AND metadata.nope EXISTS', "metadata.nope"),
        ('dataset = "cars" AND', None),  # a syntax error: the end of the text
    ],
)
def test_a_filter_error_says_where_in_the_text(
    client: FlaskClient, catalog: dict[str, str], text: str, at: str | None
) -> None:
    error = assert_error(client.get(f"/v1/dataRows?{q(text)}"), 400, "INVALID_ARGUMENT")
    position = len(text) if at is None else text.index(at)
    assert error["message"].endswith(f"(at character {position})")
    info = error["details"][0]
    assert info["reason"] == "FILTER_ERROR"
    assert info["metadata"] == {"position": str(position)}


# ---- one row ----------------------------------------------------------------------------


def test_get_a_row_and_unknown_rows(client: FlaskClient, catalog: dict[str, str]) -> None:
    rid = catalog["gs://b/cars/1.png"]
    row = client.get(f"/v1/dataRows/{rid}").get_json()
    assert row["globalKey"] == "gs://b/cars/1.png"
    assert row["metadata"] == {"split": "train", "score": 0.1}
    assert row["media"] == {"mimeType": "image/png", "sizeBytes": 100, "width": 10, "height": None}
    for method in ("get", "delete"):
        assert_error(getattr(client, method)("/v1/dataRows/0000"), 404, "NOT_FOUND")
    patch = client.patch("/v1/dataRows/0000", json={"metadata": {"split": "train"}})
    assert_error(patch, 404, "NOT_FOUND")


def test_patch_merges_metadata_and_null_removes(
    client: FlaskClient, catalog: dict[str, str]
) -> None:
    rid = catalog["gs://b/cars/1.png"]
    before = client.get(f"/v1/dataRows/{rid}").get_json()
    response = client.patch(
        f"/v1/dataRows/{rid}",
        json={"metadata": {"score": 0.9, "split": None, "tags": ["b", "a", "a"]}},
    )
    assert response.status_code == 200, response.get_json()
    row = response.get_json()
    assert row["metadata"] == {"score": 0.9, "tags": ["a", "b"]}
    assert row["updatedAt"] > before["updatedAt"]
    assert row["createdAt"] == before["createdAt"]
    assert client.get(f"/v1/dataRows/{rid}").get_json() == row


def test_patch_checks_types_and_declares_new_fields(
    client: FlaskClient, catalog: dict[str, str]
) -> None:
    rid = catalog["gs://b/cars/1.png"]
    for bad in (
        {"score": "high"},
        {"split": "test"},
        {"tags": "one"},
        {"bad name": 1},
        {"x": True},
    ):
        response = client.patch(f"/v1/dataRows/{rid}", json={"metadata": bad})
        error = assert_error(response, 400, "INVALID_ARGUMENT")
        assert "metadata." in error["message"]
    assert client.get(f"/v1/dataRows/{rid}").get_json()["metadata"] == {
        "split": "train",
        "score": 0.1,
    }
    assert_error(client.patch(f"/v1/dataRows/{rid}", json={}), 400, "INVALID_ARGUMENT")
    assert_error(client.patch(f"/v1/dataRows/{rid}", json={"labels": []}), 400, "INVALID_ARGUMENT")

    when = "2026-02-01T12:00:00+00:00"
    response = client.patch(f"/v1/dataRows/{rid}", json={"metadata": {"reviewedAt": when}})
    assert response.status_code == 200
    schema = client.get("/v1/metadataSchema").get_json()
    assert schema["fields"]["reviewedAt"] == {"kind": "datetime", "values": None}
    rows = list_all(client, "/v1/dataRows", q('metadata.reviewedAt >= "2026-01-31T00:00:00Z"'))
    assert [r["id"] for r in rows] == [rid]


@pytest.mark.parametrize(
    ("patch", "bad_field"),
    [
        ({"score": 2**63}, "metadata.score"),
        ({"score": -(2**63) - 1}, "metadata.score"),
        ({"count": 2**63}, "metadata.count"),  # not declared yet
        ({"count": 1, "score": 2**64}, "metadata.score"),  # a good new field beside a bad one
        ({"count": 1, "split": "test"}, "metadata.split"),
        ({"count": -(10**30)}, "metadata.count"),
        ({"seenAt": "9999-12-31T23:59:59-05:00"}, "metadata.seenAt"),  # past year 9999 UTC
        ({"seenAt": "0001-01-01T00:00:00+05:00"}, "metadata.seenAt"),  # before year 1 UTC
        ({"note": "\ud800"}, "metadata.note"),  # an unpaired surrogate: JSON can, UTF-8 cannot
        ({"tags": ["ok", "\udfff"]}, "metadata.tags"),
    ],
)
def test_a_refused_patch_changes_neither_the_row_nor_the_schema(
    client: FlaskClient, catalog: dict[str, str], patch: dict[str, Any], bad_field: str
) -> None:
    rid = catalog["gs://b/cars/1.png"]
    row_before = client.get(f"/v1/dataRows/{rid}").get_json()
    schema_before = client.get("/v1/metadataSchema").get_json()

    response = client.patch(f"/v1/dataRows/{rid}", json={"metadata": patch})

    error = assert_error(response, 400, "INVALID_ARGUMENT")
    violations = error["details"][1]["fieldViolations"]
    assert [v["field"] for v in violations] == [bad_field]
    assert client.get(f"/v1/dataRows/{rid}").get_json() == row_before
    assert client.get("/v1/metadataSchema").get_json() == schema_before


def test_the_largest_64_bit_integers_are_stored(
    client: FlaskClient, catalog: dict[str, str]
) -> None:
    rid = catalog["gs://b/cars/1.png"]
    for value in (2**63 - 1, -(2**63)):
        response = client.patch(f"/v1/dataRows/{rid}", json={"metadata": {"count": value}})
        assert response.status_code == 200, response.get_json()
        assert client.get(f"/v1/dataRows/{rid}").get_json()["metadata"]["count"] == value


def test_a_patch_of_an_unknown_row_declares_nothing(client: FlaskClient) -> None:
    schema_before = client.get("/v1/metadataSchema").get_json()
    response = client.patch("/v1/dataRows/nope", json={"metadata": {"count": 1}})
    assert_error(response, 404, "NOT_FOUND")
    assert client.get("/v1/metadataSchema").get_json() == schema_before


def test_delete_a_row(client: FlaskClient, catalog: dict[str, str]) -> None:
    rid = catalog["gs://b/cars/1.png"]
    response = client.delete(f"/v1/dataRows/{rid}")
    assert response.status_code == 200
    assert response.get_json() == {}
    assert_error(client.get(f"/v1/dataRows/{rid}"), 404, "NOT_FOUND")
    assert rid not in [r["id"] for r in list_all(client, "/v1/dataRows")]


# ---- datasets ---------------------------------------------------------------------------


def test_datasets_list_get_and_their_rows(client: FlaskClient, catalog: dict[str, str]) -> None:
    first = client.get("/v1/datasets?pageSize=1").get_json()
    assert [d["id"] for d in first["datasets"]] == ["bikes"]
    second = client.get(f"/v1/datasets?pageSize=1&pageToken={first['nextPageToken']}").get_json()
    assert [d["id"] for d in second["datasets"]] == ["cars"]
    last = client.get(f"/v1/datasets?pageSize=1&pageToken={second['nextPageToken']}").get_json()
    assert last == {"datasets": [], "nextPageToken": ""}

    cars = client.get("/v1/datasets/cars").get_json()
    assert cars["id"] == "cars"
    assert cars["name"] == "cars"
    assert_error(client.get("/v1/datasets/planes"), 404, "NOT_FOUND")
    assert_error(client.get("/v1/datasets/planes/dataRows"), 404, "NOT_FOUND")

    rows = list_all(client, "/v1/datasets/bikes/dataRows")
    assert sorted(r["id"] for r in rows) == sorted(
        catalog[f"gs://b/bikes/{i}.png"] for i in range(4)
    )
    rows = list_all(client, "/v1/datasets/cars/dataRows", q('metadata.split = "valid"'))
    assert sorted(r["globalKey"] for r in rows) == [f"gs://b/cars/{i}.png" for i in (3, 4, 5)]
    rows = list_all(client, "/v1/datasets/cars/dataRows", "&orderBy=media.width desc", size=4)
    assert [r["media"]["width"] for r in rows] == [50, 40, 30, 20, 10, 0]
    none = list_all(client, "/v1/datasets/cars/dataRows", q('dataset = "bikes"'))
    assert none == []
    assert_error(client.get("/v1/datasets/cars/dataRows?filter=%3D"), 400, "INVALID_ARGUMENT")


# ---- metadata schema --------------------------------------------------------------------


def test_metadata_schema_adds_fields_and_widens_enums(client: FlaskClient) -> None:
    assert client.get("/v1/metadataSchema").get_json() == {"fields": {}, "version": 0}
    declare(client, split={"kind": "enum", "values": ["train"]}, weather={"kind": "string"})
    schema = client.get("/v1/metadataSchema").get_json()
    assert schema["version"] == 1
    assert schema["fields"]["split"] == {"kind": "enum", "values": ["train"]}
    response = client.patch(
        "/v1/metadataSchema",
        json={"fields": {"split": {"kind": "enum", "values": ["train", "test"]}}},
    )
    assert response.status_code == 200
    assert response.get_json()["fields"]["split"]["values"] == ["train", "test"]
    assert response.get_json()["version"] == 2
    # The new value is usable in a filter at once.
    created = client.post("/v1/slices", json={"name": "tests", "filter": 'metadata.split = "test"'})
    assert created.status_code == 200


@pytest.mark.parametrize(
    "fields",
    [
        {"split": {"kind": "string"}},  # a retype
        {"split": {"kind": "enum", "values": ["valid"]}},  # drops 'train'
        {"bad-name": {"kind": "string"}},
        {"x": {"kind": "colour"}},
        {"x": {"kind": "enum"}},
        {"x": {"kind": "string", "values": ["a"]}},
    ],
)
def test_metadata_schema_refuses_what_would_break_rows(
    client: FlaskClient, fields: dict[str, Any]
) -> None:
    declare(client, split={"kind": "enum", "values": ["train"]})
    response = client.patch("/v1/metadataSchema", json={"fields": fields})
    assert_error(response, 400, "INVALID_ARGUMENT")
    assert client.get("/v1/metadataSchema").get_json()["fields"] == {
        "split": {"kind": "enum", "values": ["train"]}
    }
    assert_error(client.patch("/v1/metadataSchema", json={}), 400, "INVALID_ARGUMENT")
