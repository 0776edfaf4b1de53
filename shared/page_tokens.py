"""Opaque page tokens: the sort values and id of the last row a page returned.

A token is base64url JSON. It is not secret (it only says where to resume), but it is checked:
a token that does not decode, or was made for another query, is a clear 400.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from shared.errors import InvalidArgument

MAX_TOKEN_LENGTH = 4096


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) != {"$dt"} or not isinstance(value["$dt"], str):
            raise InvalidArgument("pageToken is not valid")
        return datetime.fromisoformat(value["$dt"])
    if isinstance(value, list):
        raise InvalidArgument("pageToken is not valid")
    return value


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
