"""The Firestore client, built lazily on first use and reused across invocations."""

from __future__ import annotations

from functools import cache

from google.cloud import firestore

from shared.config import settings

DATASETS = "datasets"
DATA_ROWS = "dataRows"
MODEL_RUNS = "modelRuns"
MODEL_RUN_ROWS = "rows"  # subcollection of each model run
SLICES = "slices"
SLICE_NAMES = "sliceNames"
SLICE_SETS = "sliceSets"
SLICE_CLEANUPS = "sliceCleanups"  # deleted slices whose id may still be on rows
BUILD_SHARDS = "buildShards"  # subcollection of each slice
CONFIG = "config"
IMPORT_REPORTS = "importReports"
OBJECTS = "objects"
ACTIONS = "actions"
ACTION_RUNS = "actionRuns"

# The most writes one commit may carry.
MAX_BATCH_WRITES = 500


@cache
def db() -> firestore.Client:
    """The process's client; the emulator is used when FIRESTORE_EMULATOR_HOST is set."""
    return firestore.Client(project=settings().project)
