"""Shared fixtures: emulators started once per session on free ports, stopped by PID."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from local import emulators
from shared.config import settings

# demo- project ids can never reach a real Google Cloud project.
PROJECT = "demo-slices-test"


@pytest.fixture(scope="session")
def firestore_host() -> Iterator[str]:
    """The Firestore emulator's host:port; reuses FIRESTORE_EMULATOR_HOST when already set."""
    existing = os.environ.get("FIRESTORE_EMULATOR_HOST")
    if existing:
        yield existing
        return
    emulator = emulators.start_firestore()
    os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
    try:
        yield emulator.host
    finally:
        emulator.stop()
        os.environ.pop("FIRESTORE_EMULATOR_HOST", None)


@pytest.fixture(scope="session")
def storage_host() -> Iterator[str]:
    """The storage emulator's base URL; reuses STORAGE_EMULATOR_HOST when already set."""
    existing = os.environ.get("STORAGE_EMULATOR_HOST")
    if existing:
        yield existing
        return
    emulator = emulators.start_storage()
    os.environ["STORAGE_EMULATOR_HOST"] = f"http://{emulator.host}"
    try:
        yield os.environ["STORAGE_EMULATOR_HOST"]
    finally:
        emulator.stop()
        os.environ.pop("STORAGE_EMULATOR_HOST", None)


@pytest.fixture(autouse=True)
def _project_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    settings.cache_clear()
    yield
    settings.cache_clear()
