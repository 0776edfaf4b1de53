"""The HTTP layer itself: auth, routing (custom methods with a colon), body limits, errors,
and the served OpenAPI document."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient
from werkzeug.test import EnvironBuilder, run_wsgi_app

from shared.api import errors as api_errors
from shared.api.endpoints import ROUTES
from shared.config import settings
from tests.functions import conftest_api as api
from tests.functions.conftest_api import assert_error

empty_firestore, api_app, client = api.empty_firestore, api.api_app, api.client


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("API_TOKEN", "s3cret-token")
    settings.cache_clear()
    return "s3cret-token"


# ---- auth -------------------------------------------------------------------------------


def test_without_a_configured_token_requests_need_no_auth(client: FlaskClient) -> None:
    assert client.get("/v1/slices").status_code == 200


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong", "Basic czNjcmV0LXRva2Vu", "Bearer", "s3cret-token", "Bearer s3cret"],
)
def test_with_a_token_every_request_needs_it(
    client: FlaskClient, token: str, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    for method, path in [("GET", "/v1/slices"), ("GET", "/v1/openapi.json"), ("GET", "/nope")]:
        response = client.open(path, method=method, headers=headers)
        assert_error(response, 401, "UNAUTHENTICATED")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_right_token_passes(client: FlaskClient, token: str) -> None:
    response = client.get("/v1/slices", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.get_json() == {"slices": [], "nextPageToken": ""}


# ---- routing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/v1",
        "/v2/slices",
        "/v1/slicez",
        "/v1/slices/abc:unknownMethod",
        "/v1/slices/abc:saveAs/more",
        "/v1/slices/a:b:saveAs",
        "/v1/dataRows/..",
        "/v1/dataRows/a%2Fb",
        "/v1/datasets/-starts-with-dash",
    ],
)
def test_unknown_paths_are_404(client: FlaskClient, path: str) -> None:
    assert_error(client.get(path), 404, "NOT_FOUND")


def test_a_method_the_path_does_not_have_is_405_with_allow(client: FlaskClient) -> None:
    response = client.put("/v1/slices", json={})
    error = assert_error(response, 405, "UNIMPLEMENTED")
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
    assert "POST" in error["message"]
    # A custom method is its own rule: GET on :saveAs is not a GET of the slice.
    assert_error(client.get("/v1/slices/abc:saveAs"), 405, "UNIMPLEMENTED")


def test_custom_methods_route_on_the_colon(client: FlaskClient) -> None:
    # Each reaches its own handler, which says the slice does not exist.
    for path in ("/v1/slices/abc:saveAs", "/v1/slices/abc:build"):
        body = {"name": "copy"} if path.endswith("saveAs") else None
        error = assert_error(client.post(path, json=body), 404, "NOT_FOUND")
        assert "'abc'" in error["message"]


def test_trailing_slash_is_the_same_resource(client: FlaskClient) -> None:
    assert client.get("/v1/slices/").status_code == 200


# ---- bodies -----------------------------------------------------------------------------


def test_malformed_json_is_400(client: FlaskClient) -> None:
    for raw in (b"{", b'{"name": }', b"\xff\xfe", b'{"name": NaN}', b"[" * 100_000):
        response = client.post("/v1/slices", data=raw, content_type="application/json")
        error = assert_error(response, 400, "INVALID_ARGUMENT")
        assert "JSON" in error["message"]


def test_a_body_that_is_not_an_object_is_400(client: FlaskClient) -> None:
    for body in ([], "name", 3, None):
        response = client.post("/v1/slices", data=json.dumps(body), content_type="application/json")
        assert_error(response, 400, "INVALID_ARGUMENT")


def test_wrong_content_type_is_415(client: FlaskClient) -> None:
    body = json.dumps({"name": "abc", "filter": ""})
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        response = client.post("/v1/slices", data=body, content_type=content_type)
        error = assert_error(response, 415, "INVALID_ARGUMENT")
        assert "application/json" in error["message"]
    response = client.post("/v1/slices", data=body, headers={"Content-Type": ""})
    assert_error(response, 415, "INVALID_ARGUMENT")
    latin = client.post("/v1/slices", data=body, content_type="application/json; charset=latin-1")
    assert_error(latin, 415, "INVALID_ARGUMENT")
    utf8 = client.post("/v1/slices", data=body, content_type="application/json; charset=UTF-8")
    assert utf8.status_code == 200


def test_a_missing_body_is_400(client: FlaskClient) -> None:
    error = assert_error(client.post("/v1/slices"), 400, "INVALID_ARGUMENT")
    assert "body" in error["message"]


def test_a_body_over_the_limit_is_413(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_REQUEST_BYTES", "1000")
    settings.cache_clear()
    big = {"name": "big one", "filter": "", "description": "x" * 2000}
    assert_error(client.post("/v1/slices", json=big), 413, "INVALID_ARGUMENT")
    # Without a Content-Length (a streamed, chunked body) the limit holds too.
    builder = EnvironBuilder(
        path="/v1/slices", method="POST", data=json.dumps(big), content_type="application/json"
    )
    environ = builder.get_environ()
    del environ["CONTENT_LENGTH"]
    environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    environ["wsgi.input_terminated"] = True  # as a server that de-chunks says
    body, status, _ = run_wsgi_app(client.application, environ, buffered=True)
    assert status.startswith("413")
    assert json.loads(b"".join(body))["error"]["code"] == 413
    environ = EnvironBuilder(
        path="/v1/slices",
        method="POST",
        data=json.dumps({"name": "streamed", "filter": ""}),
        content_type="application/json",
    ).get_environ()
    del environ["CONTENT_LENGTH"]
    environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    environ["wsgi.input_terminated"] = True
    _, status, _ = run_wsgi_app(client.application, environ, buffered=True)
    assert status.startswith("200")
    small = {"name": "small one", "filter": ""}
    assert client.post("/v1/slices", json=small).status_code == 200


def test_field_problems_are_listed_in_bad_request_details(client: FlaskClient) -> None:
    response = client.post("/v1/slices", json={"name": "x", "filter": 3, "colour": "red"})
    error = assert_error(response, 400, "INVALID_ARGUMENT")
    bad_request = next(d for d in error["details"] if d["@type"].endswith("BadRequest"))
    fields = {v["field"].split(".")[0] for v in bad_request["fieldViolations"]}
    assert {"name", "filter", "colour"} <= fields


def test_unexpected_failures_are_a_bare_500(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(**_: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr("shared.services.slices.list_slices", boom)
    error = assert_error(client.get("/v1/slices"), 500, "INTERNAL")
    assert "secret" not in error["message"]


def test_error_reasons_are_stable_names() -> None:
    assert api_errors.reason(api_errors.UnsupportedMediaType("x")) == "UNSUPPORTED_MEDIA_TYPE"


# ---- OpenAPI ----------------------------------------------------------------------------


def test_the_openapi_document_describes_every_route(client: FlaskClient) -> None:
    response = client.get("/v1/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"].startswith("3.1")
    operations = {
        (method.upper(), path): op
        for path, item in doc["paths"].items()
        for method, op in item.items()
    }
    assert set(operations) == {(route.method, route.path) for route in ROUTES}
    for route in ROUTES:
        op = operations[(route.method, route.path)]
        assert op["operationId"] == route.operation_id
        assert {"200", "401", "500"} <= set(op["responses"])
    schemas = doc["components"]["schemas"]
    # The models' own schemas, camelCase on the wire.
    assert schemas["SliceCreate"]["properties"]["name"]["maxLength"] == 30
    assert "orderBy" in schemas["SliceCreate"]["properties"]
    assert "nextPageToken" in schemas["DataRowList"]["properties"]
    assert doc["paths"]["/v1/slices/{sliceId}:saveAs"]["post"]["requestBody"]["required"]
