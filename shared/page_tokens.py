"""Opaque page tokens: the sort values and id of the last row a page returned.

A token is base64url JSON. It is not secret (it only says where to resume), but a client can
edit it, so it is checked: a token that does not decode, was made for another query, or holds
what no page could have written (an id that is not a resource id, an integer beyond 64 bits, a
time without an offset or outside Firestore's range) is a clear 400.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from shared.errors import InvalidArgument
from shared.int64 import fits_int64
from shared.rfc3339 import parse_datetime
from shared.services.resource_ids import is_resource_id

MAX_TOKEN_LENGTH = 4096


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) != {"$dt"} or not isinstance(value["$dt"], str):
            raise InvalidArgument("pageToken is not valid")
        return _decode_time(value["$dt"])
    if isinstance(value, list):
        raise InvalidArgument("pageToken is not valid")
    if isinstance(value, int) and not isinstance(value, bool) and not fits_int64(value):
        raise InvalidArgument("pageToken is not valid")
    return value


def _decode_time(text: str) -> datetime:
    """A time as :func:`encode` writes it (RFC 3339, with its offset, in Firestore's range)."""
    moment = parse_datetime(text)
    if moment is None:
        raise ValueError("not a time a page could have written")
    return moment.astimezone(UTC)


def encode(query_key: str, values: list[Any], last_id: str) -> str:
    payload = {"q": query_key, "v": [_encode_value(v) for v in values], "id": last_id}
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode(token: str, query_key: str) -> tuple[list[Any], str]:
    """The sort values and last id of a token made by :func:`encode` for the same query."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidArgument("pageToken is too long")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError) as bad:
        raise InvalidArgument("pageToken is not valid") from bad
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("v"), list)
        or not isinstance(payload.get("id"), str)
        # The id becomes a document reference: "a/b" would name another collection.
        or not is_resource_id(payload["id"])
    ):
        raise InvalidArgument("pageToken is not valid")
    if payload.get("q") != query_key:
        raise InvalidArgument("pageToken belongs to another query: keep filter and orderBy")
    try:
        values = [_decode_value(v) for v in payload["v"]]
    except ValueError as bad:
        raise InvalidArgument("pageToken is not valid") from bad
    return values, payload["id"]


def decode_time(token: str, query_key: str) -> tuple[datetime, str]:
    """The time and last id of a newest-first list's token (its one sort value is a time)."""
    values, last_id = decode(token, query_key)
    if len(values) != 1 or not isinstance(values[0], datetime):
        raise InvalidArgument("pageToken is not valid")
    return values[0], last_id
