"""What the API answers for exceptions it did not raise itself (the client's, werkzeug's)."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc

from shared.api.errors import as_slices_error
from shared.errors import Aborted, TransientError


def _gave_up() -> ValueError:
    """What a Firestore transaction raises once every attempt was aborted."""
    try:
        try:
            raise gexc.Aborted("Transaction lock timeout.")
        except gexc.Aborted as last:
            raise ValueError("Failed to commit transaction in 5 attempts.") from last
    except ValueError as error:
        return error


@pytest.mark.parametrize(
    "error", [gexc.Aborted("Transaction lock timeout."), _gave_up()], ids=["raw", "transaction"]
)
def test_a_write_aborted_by_concurrent_ones_is_409_aborted(error: BaseException) -> None:
    mapped = as_slices_error(error)
    assert isinstance(mapped, Aborted)
    assert (mapped.code, mapped.status) == (409, "ABORTED")
    assert mapped.message.endswith("try again")


def test_an_aborted_write_is_transient_so_events_are_redelivered() -> None:
    assert issubclass(Aborted, TransientError)


def test_any_other_value_error_stays_an_internal_error() -> None:
    assert as_slices_error(ValueError("a bug")).code == 500
