"""Which errors an event function retries, and what the API answers for each."""

from __future__ import annotations

import json

import pytest

from shared.api.errors import error_response
from shared.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermanentError,
    SlicesError,
    TransientError,
)


@pytest.mark.parametrize(
    ("error", "transient", "code", "status"),
    [
        (Aborted("kept changing"), True, 409, "ABORTED"),
        (TransientError("down"), True, 503, "UNAVAILABLE"),
        (FailedPrecondition("stale etag"), False, 412, "FAILED_PRECONDITION"),
        (AlreadyExists("taken"), False, 409, "ALREADY_EXISTS"),
        (InvalidArgument("bad"), False, 400, "INVALID_ARGUMENT"),
        (NotFound("gone"), False, 404, "NOT_FOUND"),
    ],
)
def test_contention_is_retried_by_events_and_keeps_its_http_answer(
    error: SlicesError, transient: bool, code: int, status: str
) -> None:
    # The ingest function acknowledges PermanentError and lets TransientError raise.
    assert isinstance(error, TransientError) is transient
    assert isinstance(error, PermanentError) is not transient
    response = error_response(error)
    assert response.status_code == code
    assert json.loads(response.get_data())["error"]["status"] == status
