"""Integration tier: every test starts from an empty Firestore emulator."""

from __future__ import annotations

import pytest

from local.emulators import wipe_firestore
from shared.store import slice_sets
from shared.store.client import db
from tests.conftest import PROJECT


@pytest.fixture(autouse=True)
def _empty_firestore(firestore_host: str) -> None:
    wipe_firestore(firestore_host, PROJECT)
    slice_sets.clear_cache()
    db.cache_clear()
