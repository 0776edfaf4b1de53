"""Page tokens round-trip their cursor and refuse anything else with a clear 400."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared import page_tokens
from shared.errors import InvalidArgument
from shared.int64 import INT64_MAX, INT64_MIN
from shared.services.resource_ids import RESOURCE_ID_PATTERN

NOW = datetime(2026, 5, 1, 10, tzinfo=UTC)

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=INT64_MIN, max_value=INT64_MAX),
    st.floats(allow_nan=False),
    st.text(),
    st.datetimes(timezones=st.just(UTC)),
)


@given(st.lists(values, max_size=2), st.from_regex(RESOURCE_ID_PATTERN, fullmatch=True))
def test_tokens_round_trip(cursor: list[Any], last_id: str) -> None:
    token = page_tokens.encode("q", cursor, last_id)
    assert page_tokens.decode(token, "q") == (cursor, last_id)


def test_a_token_of_another_query_is_refused() -> None:
    token = page_tokens.encode("filter-a", [1], "x")
    with pytest.raises(InvalidArgument, match="another query"):
        page_tokens.decode(token, "filter-b")


@pytest.mark.parametrize(
    "token",
    ["", "!!!", "bm90IGpzb24", "W10", "x" * 5000, page_tokens.encode("q", [], "x")[:-3] + "$$$"],
)
def test_garbage_is_a_clear_error(token: str) -> None:
    with pytest.raises(InvalidArgument, match="pageToken"):
        page_tokens.decode(token, "q")


@pytest.mark.parametrize(
    "payload",
    [
        {"q": "q", "v": [{"$dt": "nope"}], "id": "x"},
        {"q": "q", "v": [{"$dt": "2026-01-01", "x": 1}], "id": "x"},
        {"q": "q", "v": [[1]], "id": "x"},
        {"q": "q", "v": [], "id": 7},
        {"q": "q", "v": [], "id": "a/b"},
        {"q": "q", "v": [], "id": ""},
        {"q": "q", "v": [], "id": ".."},
        {"q": "q", "v": [], "id": "x" * 129},
        {"q": "q", "v": [INT64_MAX + 1], "id": "x"},
        {"q": "q", "v": [INT64_MIN - 1], "id": "x"},
        {"q": "q", "v": [{"$dt": "2026-05-01T10:00:00"}], "id": "x"},
        {"q": "q", "v": [{"$dt": "9999-12-31T23:59:59-05:00"}], "id": "x"},
        {"q": "q", "v": [{"$dt": "0001-01-01T00:00:00+05:00"}], "id": "x"},
        ["q"],
    ],
)
def test_a_forged_payload_is_refused(payload: Any) -> None:
    token = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
    with pytest.raises(InvalidArgument, match="pageToken"):
        page_tokens.decode(token, "q")


def test_a_newest_first_token_gives_its_time_and_id() -> None:
    token = page_tokens.encode("q", [NOW], "abc")
    assert page_tokens.decode_time(token, "q") == (NOW, "abc")


@pytest.mark.parametrize("cursor", [[], ["2026-05-01T10:00:00+00:00"], [7], [NOW, NOW]])
def test_a_newest_first_token_needs_exactly_one_time(cursor: list[Any]) -> None:
    token = page_tokens.encode("q", cursor, "abc")
    with pytest.raises(InvalidArgument, match="pageToken is not valid"):
        page_tokens.decode_time(token, "q")
