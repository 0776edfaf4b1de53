"""Prediction imports end to end on the emulators: rows per second, against manifest imports.

Each round starts from empty emulators (Firestore, and fake-gcs-server for the bucket) and
times, in wall-clock seconds, the ingest entry point (``handle_storage_event``, as the function
runs it) on objects already in the bucket:

1. a manifest of N rows with labels (the baseline: ingest's own catalog import);
2. a prediction file for those N rows in a new run with 3 classes (boxes and a classification
   per row): lines streamed from the bucket, data rows read, metrics computed, the run's nine
   generated slices made, each row written with its membership and the run's totals in the
   same commit, then the rows and thresholds re-read;
3. the same file uploaded again with other predictions (every row replaced);
4. the same lines through the API (``POST .../predictions`` as NDJSON, 500 lines a request,
   in-process HTTP client).

Reported: median rows per second over the rounds, and each as a ratio of the manifest's rate
in the same round (median of the rounds' ratios).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import functions_framework

from local import emulators
from shared import storage
from shared.config import settings
from shared.ingest import handle_storage_event
from shared.models import ModelRunCreate
from shared.services import model_runs as run_service
from shared.store import slice_sets
from shared.store.client import db

TITLE = "Prediction imports: rows per second end to end on the emulators"

PROJECT = "demo-bench-predictions"
API_SOURCE = Path(__file__).resolve().parents[1] / "functions" / "slices" / "main.py"
FINALIZED = "google.cloud.storage.object.v1.finalized"
API_LINES = 500


@contextmanager
def _environment(firestore: str, storage_host: str) -> Iterator[None]:
    keys = ("FIRESTORE_EMULATOR_HOST", "STORAGE_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(FIRESTORE_EMULATOR_HOST=firestore, GOOGLE_CLOUD_PROJECT=PROJECT,
                      STORAGE_EMULATOR_HOST=f"http://{storage_host}")  # fmt: skip
    caches = (
        settings.cache_clear,
        db.cache_clear,
        slice_sets.clear_cache,
        storage.client.cache_clear,
    )
    for clear in caches:
        clear()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        for clear in caches:
            clear()


def _box(rng: random.Random) -> dict[str, float]:
    return {"left": rng.uniform(0, 500), "top": rng.uniform(0, 400),
            "width": rng.uniform(10, 120), "height": rng.uniform(10, 120)}  # fmt: skip


def _manifest(count: int, rng: random.Random) -> bytes:
    lines = []
    for i in range(count):
        labels = [{"name": rng.choice(("car", "person")), "bbox": _box(rng)} for _ in range(3)]
        labels.append({"name": "daytime"})
        lines.append({"globalKey": f"street/{i:06d}.jpg", "rowData": f"gs://b/street/{i:06d}.jpg",
                      "dataset": "street", "metadata": {"camera": f"c{i % 7}"},
                      "labels": labels})  # fmt: skip
    return b"\n".join(json.dumps(line).encode() for line in lines) + b"\n"


def _predictions(count: int, rng: random.Random) -> list[bytes]:
    lines = []
    for i in range(count):
        predictions: list[dict[str, Any]] = [
            {"name": rng.choice(("car", "person")), "bbox": _box(rng), "confidence": rng.random()}
            for _ in range(4)
        ]
        predictions.append({"name": "daytime", "confidence": rng.random()})
        lines.append(json.dumps({"globalKey": f"street/{i:06d}.jpg",
                                 "predictions": predictions}).encode())  # fmt: skip
    return lines


def _land(bucket: str, name: str, data: bytes) -> dict[str, Any]:
    blob = storage.client().bucket(bucket).blob(name)
    blob.upload_from_string(data, content_type="application/x-ndjson")
    return {"bucket": bucket, "name": name, "generation": str(blob.generation),
            "size": str(blob.size), "contentType": blob.content_type}  # fmt: skip


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _ingest(resource: dict[str, Any]) -> None:
    outcome = handle_storage_event(FINALIZED, resource, deadline=time.monotonic() + 3600)
    if str(outcome.action) != "imported":
        raise AssertionError(f"import did not finish: {outcome}")


def _round(count: int, seed: int, client: Any) -> dict[str, float]:
    """One round on empty emulators: seconds of each step."""
    rng = random.Random(seed)
    emulators.wipe_firestore(os.environ["FIRESTORE_EMULATOR_HOST"], PROJECT)
    slice_sets.clear_cache()
    bucket = storage.client().create_bucket(f"bench-{uuid.uuid4().hex[:12]}").name
    manifest = _land(bucket, "imports/rows.ndjson", _manifest(count, rng))
    seconds = {"manifest": _timed(lambda: _ingest(manifest))}

    run = run_service.create_run(
        ModelRunCreate(name="bench", model="detector", classes=["car", "person", "daytime"])
    ).id
    first = _land(bucket, f"model-runs/{run}/a.ndjson", b"\n".join(_predictions(count, rng)))
    seconds["predictions"] = _timed(lambda: _ingest(first))
    again = _land(bucket, f"model-runs/{run}/b.ndjson", b"\n".join(_predictions(count, rng)))
    seconds["replace"] = _timed(lambda: _ingest(again))
    if run_service.get_run(run).row_count != count:
        raise AssertionError("the run does not hold every row")

    lines = _predictions(count, rng)

    def post_all() -> None:
        for start in range(0, count, API_LINES):
            body = b"\n".join(lines[start : start + API_LINES])
            response = client.post(f"/v1/modelRuns/{run}/predictions", data=body,
                                   content_type="application/x-ndjson")  # fmt: skip
            report = response.get_json()
            if response.status_code != 200 or report["linesRejected"]:
                raise AssertionError(f"upload failed: {response.status_code} {report}")

    seconds["api"] = _timed(post_all)
    return seconds


STEPS = (
    ("manifest", "manifest import (baseline: catalog rows with labels)"),
    ("predictions", "prediction file, first upload (new run)"),
    ("replace", "prediction file, every row replaced"),
    ("api", f"POST .../predictions, NDJSON, {API_LINES} lines a request"),
)


def _start_firestore() -> emulators.Emulator:
    """A Firestore emulator with room for the rounds' rows (the test harness gives it 256 MB)."""
    jar = emulators.sdk_root() / "platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"
    port = emulators.free_port()
    argv = [
        emulators._java(), "-Duser.language=en", "-cp", str(jar),
        "com.google.cloud.datastore.emulator.firestore.CloudFirestore",
        "start", f"--host={emulators.HOST}", f"--port={port}",
    ]  # fmt: skip
    emulator = emulators.spawn("firestore", argv, port, {"JAVA_TOOL_OPTIONS": "-Xmx2g"}, None)
    emulator.wait_ready(60)
    return emulator


def run(quick: bool) -> str:
    count = 500 if quick else 5000
    rounds = 1 if quick else 3
    firestore = _start_firestore()
    gcs = emulators.start_storage()
    try:
        with _environment(firestore.host, gcs.host):
            client = functions_framework.create_app(target="slices", source=str(API_SOURCE))
            _round(min(count, 500), 99, client.test_client())  # warm the JVMs up, untimed
            results = [_round(count, seed, client.test_client()) for seed in range(rounds)]
    finally:
        gcs.stop()
        firestore.stop()
    rows = [
        "| step | rows/s (median) | times the manifest rate (median; each round's range) |",
        "|---|---:|---:|",
    ]
    for step, label in STEPS:
        rate = statistics.median(count / r[step] for r in results)
        ratios = [r["manifest"] / r[step] for r in results]
        spread = f" ({min(ratios):.2f} to {max(ratios):.2f})" if len(ratios) > 1 else ""
        rows.append(f"| {label} | {rate:,.0f} | {statistics.median(ratios):.2f}{spread} |")
    return (
        f"{count:,} rows, {rounds} round(s) after an untimed warm-up, each on empty emulators "
        "(Firestore emulator, fake-gcs-server); 3 labelled boxes and a classification per row, "
        "4 predicted boxes and a classification per line; wall time of the ingest entry point "
        "on objects already in the bucket (API: the in-process HTTP client). A ratio compares "
        "a step with the manifest import of the same round.\n\n" + "\n".join(rows)
    )
