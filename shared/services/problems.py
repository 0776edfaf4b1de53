"""AIP-193 error details that services attach to the errors they raise."""

from __future__ import annotations

from typing import Any

from shared.errors import InvalidArgument

BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


def bad_request(violations: list[dict[str, str]]) -> dict[str, Any]:
    """A ``google.rpc.BadRequest`` detail: ``[{"field": ..., "description": ...}, ...]``."""
    return {"@type": BAD_REQUEST, "fieldViolations": violations}


def invalid(field: str, description: str) -> InvalidArgument:
    """A 400 about one field, with the field named in the details."""
    violation = {"field": field, "description": description}
    return InvalidArgument(f"{field}: {description}", details=[bad_request([violation])])


def invalid_fields(violations: list[dict[str, str]]) -> InvalidArgument:
    """A 400 about several fields; the message names the first."""
    first = violations[0]
    more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
    return InvalidArgument(
        f"{first['field']}: {first['description']}{more}", details=[bad_request(violations)]
    )
