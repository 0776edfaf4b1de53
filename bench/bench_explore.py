"""Explore and ad-hoc listing: documents read and latency as the catalog grows.

A catalog of 1,000, then 10,000, then 100,000 rows (half of them in the slice), on the
Firestore emulator, through the in-process HTTP client (the whole handler: auth, routing,
service, store, JSON). For each size: the first and the fifth page (50 rows) of

- the slice in its own order (``media.width desc``: the ``(sliceIds, media.width)`` index),
- the slice by id,
- "All data" with a filter the planner pushes down whole (``metadata.split = "train"``),
- "All data" with filters evaluated in memory (numbers stay in the residual): one row in four
  matches, and one in twenty.

Documents read are counted at the client (every document a query or a get returned, which is
what Firestore bills). Time is measured two ways: the wall time of the request, and the CPU
time of this process during it (the handler, the client library, JSON: everything but the
database). The emulator has no indexes and scans the collection for every query, so its own
time grows with the catalog whatever the query; each size therefore also times a bare
``limit(50)`` query on the emulator, the floor any request pays there. On Firestore, query
latency depends on the rows returned, not on the collection. Targets: explore reads one page
of documents (plus the slice's own document) at every size, and the work it adds (CPU time,
wall time over the emulator's floor) stays flat; a residual page reads at most its budget.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import functions_framework
from google.cloud.firestore_v1.document import DocumentReference
from google.cloud.firestore_v1.query import Query

from local import emulators
from shared.config import settings
from shared.documents import label_fields, media_fields
from shared.ids import row_id
from shared.models import Annotation, Media
from shared.services.paging import read_budget
from shared.store import rows as row_store
from shared.store import slice_sets
from shared.store.client import db
from shared.store.scopes import CATALOG

TITLE = "Explore: documents read and latency as the catalog grows"

PAGE = 50
REPEAT = 7
REPEAT_LARGE = 3  # above LARGE rows each emulator query takes seconds
LARGE = 20_000
WRITE_BATCH = 500
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
SOURCE = Path(__file__).resolve().parents[1] / "functions" / "slices" / "main.py"


class Reads:
    """Documents returned to this process by queries and gets, while counting."""

    count = 0

    @classmethod
    @contextmanager
    def counting(cls) -> Iterator[None]:
        stream, get = Query.stream, DocumentReference.get

        def counted_stream(self: Query, *args: Any, **kwargs: Any) -> Iterator[Any]:
            for snapshot in stream(self, *args, **kwargs):
                cls.count += 1
                yield snapshot

        def counted_get(self: DocumentReference, *args: Any, **kwargs: Any) -> Any:
            cls.count += 1
            return get(self, *args, **kwargs)

        Query.stream = counted_stream
        DocumentReference.get = counted_get
        try:
            yield
        finally:
            Query.stream = stream
            DocumentReference.get = get


def _row(i: int, rng: random.Random) -> dict[str, Any]:
    key = f"gs://bench/cars/{i:07d}.jpg"
    labels = [
        Annotation(name=rng.choice(["car", "bus", "person"])) for _ in range(rng.randint(0, 3))
    ]
    return {
        "globalKey": key,
        "rowData": key,
        "dataset": "cars",
        "mediaType": "image",
        **media_fields(Media(mime_type="image/jpeg", size_bytes=rng.randint(10_000, 900_000),
                             width=rng.choice([640, 1280, 1920, 3840]) + rng.randint(0, 99),
                             height=720)),
        "metadata": {"split": rng.choice(["train", "valid"]), "score": rng.random()},
        **label_fields(labels),
        "createdAt": EPOCH + timedelta(seconds=i),
        "updatedAt": EPOCH + timedelta(seconds=i),
        "generation": 1,
    }  # fmt: skip


def _fresh(docs: dict[str, dict[str, Any]], rid: str, _current: object) -> dict[str, Any]:
    return dict(docs[rid])


def _grow(start: int, end: int, rng: random.Random) -> None:
    """Write rows [start, end) through the store, membership set as ingest sets it."""
    for low in range(start, end, WRITE_BATCH):
        batch = [_row(i, rng) for i in range(low, min(low + WRITE_BATCH, end))]
        docs = {row_id(doc["globalKey"]): doc for doc in batch}
        row_store.mutate_rows(CATALOG, list(docs), partial(_fresh, docs))


def _page_query(client: Any, path: str, query: str, page: int) -> str | None:
    """The URL of page ``page`` (1-based); None past the end.

    A token is bound to the query, not to the page size, so one request of (page - 1) pages
    gives the token of page ``page``. With a residual filter a page may come back short, so
    that request is repeated until it has skipped enough rows.
    """
    token = ""
    skipped = 0
    while skipped < (page - 1) * PAGE:
        size = (page - 1) * PAGE - skipped
        body = client.get(f"{path}?pageSize={size}&pageToken={token}{query}").get_json()
        skipped += len(body["dataRows"])
        token = body["nextPageToken"]
        if not token:
            return None
    return f"{path}?pageSize={PAGE}&pageToken={token}{query}"


@dataclass(frozen=True)
class Measure:
    wall: float  # median seconds
    cpu: float  # median seconds of this process's CPU
    reads: int
    rows: int


def _measure(client: Any, url: str, repeat: int) -> Measure:
    """Medians of repeated requests (after one warm-up), documents read, rows returned."""
    walls, cpus = [], []
    reads = rows = 0
    for attempt in range(repeat + 1):
        Reads.count = 0
        with Reads.counting():
            start, start_cpu = time.perf_counter(), time.process_time()
            response = client.get(url)
            wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        assert response.status_code == 200, response.get_json()
        if attempt == 0:
            continue  # warm-up: compiled filters, connection
        walls.append(wall)
        cpus.append(cpu)
        reads, rows = Reads.count, len(response.get_json()["dataRows"])
    return Measure(statistics.median(walls), statistics.median(cpus), reads, rows)


def _floor(repeat: int) -> float:
    """Median seconds of a bare ``limit(50)`` query: what any query costs on this emulator."""
    query = db().collection("dataRows").limit(PAGE)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        list(query.stream())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _start_emulator() -> emulators.Emulator:
    """A Firestore emulator with room for 100,000 rows (the test harness gives it 256 MB)."""
    return emulators.start_firestore(heap="2g")


@contextmanager
def _environment(host: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("FIRESTORE_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT")}
    os.environ["FIRESTORE_EMULATOR_HOST"] = host
    os.environ["GOOGLE_CLOUD_PROJECT"] = "demo-bench"
    for cache_clear in (settings.cache_clear, db.cache_clear, slice_sets.clear_cache):
        cache_clear()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        for cache_clear in (settings.cache_clear, db.cache_clear, slice_sets.clear_cache):
            cache_clear()


def run(quick: bool) -> str:
    sizes = (500, 2_000, 5_000) if quick else (1_000, 10_000, 100_000)
    emulator = _start_emulator()
    try:
        with _environment(emulator.host):
            return _run(sizes)
    finally:
        emulator.stop()


def _run(sizes: tuple[int, ...]) -> str:
    rng = random.Random(7)
    app = functions_framework.create_app(target="slices", source=str(SOURCE))
    client = app.test_client()
    declared = client.patch(
        "/v1/metadataSchema",
        json={"fields": {"split": {"kind": "enum", "values": ["train", "valid"]},
                         "score": {"kind": "number"}}},
    )  # fmt: skip
    assert declared.status_code == 200
    made = client.post(
        "/v1/slices",
        json={"name": "train", "filter": 'metadata.split = "train"', "orderBy": "media.width desc"},
    ).get_json()
    slice_path = f"/v1/slices/{made['id']}/dataRows"
    # (name, path, query, pages): a residual page costs several emulator scans, so only the
    # first page of those is measured.
    cases: list[tuple[str, str, str, tuple[int, ...]]] = [
        ("explore, slice order (media.width desc)", slice_path, "", (1, 5)),
        ("explore, by id", slice_path, "&orderBy=id", (1, 5)),
        ("all data, pushed filter", "/v1/dataRows",
         "&filter=" + quote('metadata.split = "train"'), (1, 5)),
        ("all data, residual filter (1 row in 4)", "/v1/dataRows",
         "&filter=" + quote("metadata.score >= 0.75"), (1,)),
        ("all data, residual filter (1 row in 20)", "/v1/dataRows",
         "&filter=" + quote("metadata.score >= 0.95"), (1,)),
    ]  # fmt: skip
    results: dict[tuple[str, int, int], Measure] = {}
    floors: dict[int, float] = {}
    written = 0
    load_seconds: dict[int, float] = {}
    for size in sizes:
        start = time.perf_counter()
        _grow(written, size, rng)
        load_seconds[size] = time.perf_counter() - start
        written = size
        repeat = REPEAT_LARGE if size > LARGE else REPEAT
        floors[size] = _floor(repeat)
        for name, path, query, pages in cases:
            for page in pages:
                url = _page_query(client, path, query, page)
                if url is not None:
                    results[(name, size, page)] = _measure(client, url, repeat)
    return _report(sizes, cases, results, floors, load_seconds)


def _report(
    sizes: tuple[int, ...],
    cases: list[tuple[str, str, str, tuple[int, ...]]],
    results: dict[tuple[str, int, int], Measure],
    floors: dict[int, float],
    load_seconds: dict[int, float],
) -> str:
    lines = [
        f"Page size {PAGE}; medians of {REPEAT} requests ({REPEAT_LARGE} above {LARGE:,} rows) "
        "after one warm-up. *Documents read* include one document of context: the slice for "
        "explore, the metadata schema for a filter. *CPU ms* is this process's CPU time during "
        "the request (everything but the database); *CPU ratio* compares it with the same "
        "request on the smallest catalog that has the page (1.00 = flat). *Wall ÷ floor* "
        "divides the wall time by the emulator's floor at that size (a bare limit(50) query), "
        f"so that the emulator's own scan cost cancels out. A residual page reads at most "
        f"{read_budget(PAGE)} documents; short of 50 matches by then, it answers fewer rows "
        "and a token.",
        "",
        "| request | page | catalog rows | documents read | rows returned | CPU ms | CPU ratio "
        "| wall ms | wall ÷ floor |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, _, _, pages in cases:
        for page in pages:
            measured = [size for size in sizes if (name, size, page) in results]
            if not measured:
                continue
            baseline = results[(name, measured[0], page)].cpu
            for size in sizes:
                if (name, size, page) not in results:
                    lines.append(f"| {name} | {page} | {size:,} | no such page | | | | | |")
                    continue
                m = results[(name, size, page)]
                lines.append(
                    f"| {name} | {page} | {size:,} | {m.reads} | {m.rows} | {m.cpu * 1000:.1f} "
                    f"| {m.cpu / baseline:.2f} | {m.wall * 1000:.0f} "
                    f"| {m.wall / floors[size]:.2f} |"
                )
    lines += [
        "",
        "The emulator's floor (a bare limit(50) query, wall ms): "
        + ", ".join(f"{floors[s] * 1000:.0f} at {s:,} rows" for s in sizes)
        + ". Loading the catalog through the store (membership evaluated on write, 500 rows a "
        "commit): "
        + ", ".join(f"{s:,} rows in {load_seconds[s]:.0f} s" for s in sizes)
        + " (cumulative).",
    ]
    return "\n".join(lines)
