"""Ingest: manifest import rate against raw batched writes, and the membership cost per row.

On the Firestore and storage emulators, started here:

1. A manifest of N lines (100,000; 10,000 with ``--quick``) is imported through
   ``handle_storage_event`` (streamed ranged reads, per-line validation, chunks of 500 through
   ``rows.mutate_rows`` with membership, the report's cursor after each chunk). The baseline
   writes the same row documents in batches of 500 to the same emulator in the same run (the
   documents are built beforehand; the timer covers adding them to the batch, which encodes
   them, and the commit). Each is repeated on an emptied database, alternating;
   medians. Target: the import at least 0.7x the raw rows per second. Peak Python heap of an
   import (tracemalloc) shows that memory does not grow with the manifest.
2. Membership: the same import of M rows with 0, 100 and 1,000 saved catalog slices (random
   filters from the filters benchmark); the cost per row is the time over the 0-slice run,
   and, separately, the in-memory matching time per row.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.bench_filters import CAMERAS, CLASSES, DATASETS, SCHEMA, TAGS, make_slice
from local import emulators
from shared import storage
from shared.config import settings
from shared.documents import label_fields, set_membership
from shared.filters import to_json, to_text
from shared.ids import new_id, row_id
from shared.ingest import Action, handle_storage_event, merge
from shared.ingest.manifests import chunks
from shared.storage import Line
from shared.store import imports, slice_sets
from shared.store import slices as slice_store
from shared.store.client import db
from shared.store.schema import add_fields

TITLE = "Ingest: manifest import rate and membership cost per row"

PROJECT = "demo-bench-ingest"
BUCKET = "bench-landing"
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
BUDGET_SECONDS = 480.0


def manifest_line(rng: random.Random, index: int, prefix: str = "") -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "split": rng.choices(["train", "valid", "test"], [8, 1, 1])[0],
        "camera": rng.choice(CAMERAS),
        "capturedAt": (EPOCH + timedelta(minutes=rng.randrange(525_600))).isoformat(),
        "quality": round(rng.random(), 3),
    }
    if rng.random() < 0.8:
        metadata["weather"] = rng.choice(["sunny", "rain", "fog", "snow"])
    if rng.random() < 0.6:
        metadata["tags"] = rng.sample(TAGS, rng.randrange(4))
    labels: list[dict[str, Any]] = []
    for _ in range(rng.randrange(4)):
        box = {"left": rng.randrange(600), "top": rng.randrange(400),
               "width": rng.randrange(1, 200), "height": rng.randrange(1, 200)}  # fmt: skip
        labels.append({"name": rng.choice(CLASSES), "bbox": box})
    if rng.random() < 0.3:
        labels.append({"name": "daytime"})
    dataset = rng.choice(DATASETS)
    key = f"{dataset}/{prefix}{index:07d}.jpg"
    return {"globalKey": key, "rowData": f"gs://{BUCKET}/{key}", "dataset": dataset,
            "mediaType": "image", "metadata": metadata, "labels": labels}  # fmt: skip


def manifest(lines: int, seed: int = 11, prefix: str = "") -> bytes:
    rng = random.Random(seed)
    return b"".join(
        json.dumps(manifest_line(rng, i, prefix)).encode() + b"\n" for i in range(lines)
    )


def upload(name: str, body: bytes) -> dict[str, Any]:
    blob = storage.client().bucket(BUCKET).blob(name)
    blob.upload_from_string(body, content_type="application/x-ndjson")
    props = blob._properties
    return {**{k: props[k] for k in ("bucket", "name", "contentType")},
            "generation": str(props["generation"]), "size": str(props["size"])}  # fmt: skip


def wipe(host: str) -> None:
    emulators.wipe_firestore(host, PROJECT)
    slice_sets.clear_cache()
    add_fields(dict(SCHEMA.fields))


def import_seconds(resource: dict[str, Any]) -> float:
    return import_times(resource)[0]


def import_times(resource: dict[str, Any]) -> tuple[float, float]:
    """Wall and process CPU seconds of one whole import (one event, budget as in production)."""
    start, cpu = time.perf_counter(), time.process_time()
    outcome = handle_storage_event(
        "google.cloud.storage.object.v1.finalized", resource,
        deadline=time.monotonic() + BUDGET_SECONDS,
    )  # fmt: skip
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    if outcome.action is not Action.IMPORTED:
        raise RuntimeError(f"import did not finish: {outcome}")
    return elapsed, used


def documents(body: bytes) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """The row documents an import writes, 500 at a time, built as ingest builds them."""
    now = datetime.now(UTC)
    offset = 0
    lines = []
    for raw in body.splitlines():
        lines.append(Line(offset, offset + len(raw) + 1, raw))
        offset += len(raw) + 1
    for chunk in chunks(iter(lines), after_line=0):
        batch = []
        fields = {}
        for _, row in chunk.rows:
            metadata = {k: SCHEMA.check(k, v) for k, v in row.metadata.items()}
            fields[row_id(row.global_key)] = {
                "globalKey": row.global_key, "rowData": row.row_data, "dataset": row.dataset,
                "mediaType": str(row.media_type), "metadata": metadata, **label_fields(row.labels),
            }  # fmt: skip
        decide = merge.manifest_write(fields, f"gs://{BUCKET}/imports/raw.ndjson", 1, now)
        for rid in fields:
            doc = decide(rid, None)
            assert isinstance(doc, dict)
            doc["id"] = rid
            set_membership(doc, [], now)
            batch.append((rid, doc))
        yield batch


def raw_seconds(body: bytes) -> tuple[float, float, int]:
    """Batched writes of the same documents: wall and CPU seconds of the writes (encoding and
    commit, not the building of the documents), and the rows written."""
    wall, cpu, rows = 0.0, 0.0, 0
    collection = db().collection("dataRows")
    for batch_docs in documents(body):
        start, used = time.perf_counter(), time.process_time()
        batch = db().batch()
        for rid, doc in batch_docs:
            batch.create(collection.document(rid), doc)
        batch.commit()
        wall += time.perf_counter() - start
        cpu += time.process_time() - used
        rows += len(batch_docs)
    return wall, cpu, rows


def import_rate(lines: int, repeat: int) -> list[str]:
    """Raw writes then the import, on one emulator per repeat (a fresh one each time, so that
    hundreds of thousands of written and wiped documents never pile up in one JVM)."""
    body = manifest(lines)
    raw, imported, raw_cpu, import_cpu = [], [], [], []
    for attempt in range(repeat):
        with environment() as host:
            wipe(host)  # warm the emulator's JVM up before anything is timed
            raw_seconds(manifest(2_000, seed=1))
            import_seconds(upload("imports/warm-up.ndjson", manifest(2_000, seed=2)))
            wipe(host)
            wall, cpu, rows = raw_seconds(body)
            raw.append(rows / wall)
            raw_cpu.append(cpu / rows)
            wipe(host)
            resource = upload(f"imports/rate-{attempt}.ndjson", body)
            wall, cpu = import_times(resource)
            imported.append(lines / wall)
            import_cpu.append(cpu / lines)
            report = imports.get_report(
                imports.report_id(BUCKET, resource["name"], int(resource["generation"]))
            )
            assert report["rowsWritten"] == lines, report
        print(f"  run {attempt + 1}: raw {raw[-1]:,.0f} rows/s, import {imported[-1]:,.0f} rows/s",
              file=sys.stderr, flush=True)  # fmt: skip
    raw_rate, import_rate_ = statistics.median(raw), statistics.median(imported)
    # seconds per row -> milliseconds per 1,000 rows
    raw_ms, import_ms = statistics.median(raw_cpu) * 1e6, statistics.median(import_cpu) * 1e6
    return [
        f"Manifest of {lines:,} lines ({len(body) / 2**20:.1f} MiB), median of {repeat} runs "
        "(client CPU: this process, per 1,000 rows; the emulator's is not counted):",
        "",
        "| path | rows/s | ratio | client CPU per 1,000 rows |",
        "|---|---:|---:|---:|",
        f"| raw batched writes (500 per commit) | {raw_rate:,.0f} | 1.00 | {raw_ms:,.0f} ms |",
        f"| manifest import (stream, validate, mutate_rows) | {import_rate_:,.0f} | "
        f"{import_rate_ / raw_rate:.2f} | {import_ms:,.0f} ms |",
        "",
        f"Projected: {100_000 / import_rate_:.0f} s for 100,000 lines on this emulator "
        f"(budget {BUDGET_SECONDS:.0f} s of the function's 540 s; an import past it continues).",
    ]


def peak_heap(host: str, lines: tuple[int, ...]) -> list[str]:
    out = ["", "| manifest lines | peak Python heap during the import |", "|---:|---:|"]
    for count in lines:
        wipe(host)
        resource = upload(f"imports/heap-{count}.ndjson", manifest(count, seed=count))
        tracemalloc.start()
        try:
            import_seconds(resource)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        out.append(f"| {count:,} | {peak / 2**20:.1f} MiB |")
    return out


def save_slices(count: int) -> None:
    rng = random.Random(count)
    now = datetime.now(UTC)
    for index in range(count):
        tree = make_slice(rng)
        slice_store.create_slice({
            "id": new_id(), "name": f"bench {index}", "description": "", "scopeKey": "catalog",
            "scope": {"catalog": {}}, "filter": to_json(tree), "filterText": to_text(tree),
            "orderBy": None, "auto": None, "status": "ready",
            "progress": {"shardsDone": 16, "shardsTotal": 16}, "etag": "1",
            "buildGeneration": 1, "createdAt": now, "updatedAt": now,
        })  # fmt: skip


SLICE_COUNTS = (0, 100, 1_000)


def membership_cost(host: str, rows: int, repeat: int) -> list[str]:
    """Each repeat imports the same rows once per slice count, in turn, each on an emptied
    database, after an untimed warm-up import: no count gets a colder emulator than another."""
    out = [
        "",
        f"Membership: {rows:,} new manifest rows imported with saved catalog slices (median of "
        f"{repeat}, the slice counts taking turns on an emptied database); matching alone is "
        "the compiled slice set on the same rows, in memory:",
        "",
        "| saved slices | import rows/s | cost per row over 0 slices | matching per row | "
        "rows in at least one slice |",
        "|---:|---:|---:|---:|---:|",
    ]
    wipe(host)
    import_seconds(upload("imports/members-warm-up.ndjson", manifest(rows, seed=4, prefix="w-")))
    seconds: dict[int, list[float]] = {count: [] for count in SLICE_COUNTS}
    matching: dict[int, tuple[float, float]] = {}
    for attempt in range(repeat):
        for count in SLICE_COUNTS:
            wipe(host)
            save_slices(count)
            body = manifest(rows, seed=5, prefix=f"m{attempt}-")
            resource = upload(f"imports/members-{count}-{attempt}.ndjson", body)
            seconds[count].append(import_seconds(resource))
            if attempt == 0:
                matching[count] = _matching_per_row()
    base = statistics.median(seconds[0]) / rows
    for count in SLICE_COUNTS:
        per_row = statistics.median(seconds[count]) / rows
        match, members = matching[count]
        out.append(
            f"| {count:,} | {1 / per_row:,.0f} | {(per_row - base) * 1e6:,.0f} µs | "
            f"{match * 1e6:,.1f} µs | {members:.0%} |"
        )
    return out


def _matching_per_row() -> tuple[float, float]:
    """Seconds to match one stored row against the catalog's slice set, and the share of rows
    in at least one slice."""
    slice_set = slice_sets.current("catalog")
    docs = [s.to_dict() or {} for s in db().collection("dataRows").limit(200).stream()]
    start = time.perf_counter()
    members = sum(bool(slice_set.match(doc)) for doc in docs for _ in range(5)) / 5
    return (time.perf_counter() - start) / (5 * len(docs)), members / len(docs)


@contextmanager
def environment() -> Iterator[str]:
    jar = emulators.sdk_root() / "platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"
    port = emulators.free_port()
    argv = [
        emulators._java(), "-Duser.language=en", "-cp", str(jar),
        "com.google.cloud.datastore.emulator.firestore.CloudFirestore",
        "start", f"--host={emulators.HOST}", f"--port={port}",
    ]  # fmt: skip
    firestore = emulators.spawn("firestore", argv, port, {"JAVA_TOOL_OPTIONS": "-Xmx2g"}, None)
    gcs = None
    names = ("FIRESTORE_EMULATOR_HOST", "STORAGE_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT")
    saved = {name: os.environ.get(name) for name in names}
    try:
        firestore.wait_ready(60)
        gcs = emulators.start_storage()
        os.environ.update(
            FIRESTORE_EMULATOR_HOST=firestore.host,
            STORAGE_EMULATOR_HOST=f"http://{gcs.host}",
            GOOGLE_CLOUD_PROJECT=PROJECT,
        )
        for clear in (settings.cache_clear, db.cache_clear, storage.client.cache_clear):
            clear()
        storage.client().create_bucket(BUCKET)
        yield firestore.host
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        for clear in (settings.cache_clear, db.cache_clear, storage.client.cache_clear):
            clear()
        slice_sets.clear_cache()
        if gcs is not None:
            gcs.stop()
        firestore.stop()


def run(quick: bool) -> str:
    lines, repeat = (10_000, 3) if quick else (100_000, 3)
    out = import_rate(lines, repeat)
    with environment() as host:
        out += peak_heap(host, (2_000, 20_000) if quick else (5_000, 50_000))
    with environment() as host:
        out += membership_cost(host, 2_000 if quick else 20_000, repeat)
    return "\n".join(out)
