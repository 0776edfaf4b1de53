"""One error hierarchy for the whole product.

The HTTP function maps each class to an AIP-193 error (its ``status`` and ``code``); the event
functions record and acknowledge every :class:`PermanentError` and let only
:class:`TransientError` raise, so that Eventarc retries what can succeed later.

The split follows google.rpc's retry advice: ``ABORTED`` (a concurrency conflict) is worth
retrying from a fresh read, so :class:`Aborted` is transient; ``FAILED_PRECONDITION`` is not
until someone changes the state (a stale etag, a missing setting), so it is permanent.
"""

from __future__ import annotations

from typing import Any, ClassVar


class SlicesError(Exception):
    """Base of every error the product raises on purpose."""

    status: ClassVar[str] = "INTERNAL"
    code: ClassVar[int] = 500

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []

    @property
    def info(self) -> dict[str, str]:
        """Facts a client can act on, for the ``ErrorInfo`` detail's ``metadata`` (strings)."""
        return {}

    def to_json(self) -> dict[str, Any]:
        """The AIP-193 error body."""
        return {
            "error": {
                "code": self.code,
                "status": self.status,
                "message": self.message,
                "details": self.details,
            }
        }


class PermanentError(SlicesError):
    """Retrying cannot help: the input itself is wrong or refers to nothing."""


class InvalidArgument(PermanentError):
    status = "INVALID_ARGUMENT"
    code = 400


class FilterError(InvalidArgument):
    """A filter that does not parse or does not type-check; ``position`` is 0-based in the text.

    For a filter given as text, every error about one comparison (or one of its literals) has
    a position; the message ends with it and ``ErrorInfo.metadata.position`` carries it.
    """

    def __init__(self, message: str, *, position: int | None = None) -> None:
        super().__init__(message if position is None else f"{message} (at character {position})")
        self.position = position

    @property
    def info(self) -> dict[str, str]:
        return {} if self.position is None else {"position": str(self.position)}


class NotFound(PermanentError):
    status = "NOT_FOUND"
    code = 404


class AlreadyExists(PermanentError):
    status = "ALREADY_EXISTS"
    code = 409


class FailedPrecondition(PermanentError):
    """A stale etag, or a resource not in the state the call needs."""

    status = "FAILED_PRECONDITION"
    code = 412


class PayloadTooLarge(PermanentError):
    status = "INVALID_ARGUMENT"
    code = 413


class Unauthenticated(PermanentError):
    status = "UNAUTHENTICATED"
    code = 401


class TransientError(SlicesError):
    """A dependency is unavailable; the same call may succeed later."""

    status = "UNAVAILABLE"
    code = 503


class Aborted(TransientError):
    """Concurrent changes to the same data won every attempt: the same call may succeed when
    tried again (an event function raises it, so the event is redelivered)."""

    status = "ABORTED"
    code = 409
