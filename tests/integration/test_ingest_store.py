"""Ingest's storage reads (storage emulator) and its store modules (Firestore emulator)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from shared import storage
from shared.store import imports, objects
from shared.store.objects import Claim
from tests.functions.conftest import jpeg_header, tiny_png

NOW = datetime(2026, 5, 1, 10, tzinfo=UTC)


def new_bucket(*, versioned: bool) -> str:
    storage.client.cache_clear()
    created = storage.client().bucket(f"it-{uuid.uuid4().hex[:12]}")
    created.versioning_enabled = versioned
    storage.client().create_bucket(created)
    return str(created.name)


@pytest.fixture
def bucket(storage_host: str) -> str:
    return new_bucket(versioned=True)


@pytest.fixture
def plain_bucket(storage_host: str) -> str:
    """Not versioned: an overwritten generation is gone at once."""
    return new_bucket(versioned=False)


def put(bucket: str, name: str, data: bytes) -> tuple[int, int]:
    blob = storage.client().bucket(bucket).blob(name)
    blob.upload_from_string(data)
    return int(blob.generation), int(blob.size)


def test_an_image_header_is_read_in_ranges_never_the_whole_object(bucket: str) -> None:
    generation, size = put(bucket, "a.jpg", jpeg_header(1920, 1080, exif_bytes=65_000,
                                                        tail_bytes=5_000_000))  # fmt: skip
    header = storage.read_image_header(bucket, "a.jpg", generation, size)
    assert (header.width, header.height) == (1920, 1080)
    assert header.bytes_read <= 2 * storage.HEADER_BLOCK_BYTES
    generation, size = put(bucket, "b.png", tiny_png(33, 44) + b"\x00" * 2_000_000)
    header = storage.read_image_header(bucket, "b.png", generation, size)
    assert (header.width, header.height, header.bytes_read) == (33, 44, storage.HEADER_BLOCK_BYTES)


def test_an_unreadable_header_gives_no_size_within_the_read_budget(bucket: str) -> None:
    generation, size = put(bucket, "noise.png", b"\x00" * 3_000_000)
    assert storage.read_image_header(bucket, "noise.png", generation, size).width is None
    # A JPEG whose frame header lies past the budget: given up on, not downloaded.
    body = b"\xff\xd8" + (b"\xff\xe1\xff\xfe" + b"\x00" * 65_532) * 40 + jpeg_header(5, 5)[2:]
    generation, size = put(bucket, "late.jpg", body)
    header = storage.read_image_header(bucket, "late.jpg", generation, size)
    assert header.width is None
    assert header.bytes_read <= storage.MAX_HEADER_BYTES + storage.HEADER_BLOCK_BYTES


def test_overwritten_generations_stay_readable_in_a_versioned_bucket(bucket: str) -> None:
    first, size = put(bucket, "x.png", tiny_png(2, 2))
    second, _ = put(bucket, "x.png", tiny_png(3, 3))
    assert storage.live_generation(bucket, "x.png") == second
    assert storage.read_image_header(bucket, "x.png", first, size).width == 2
    storage.client().bucket(bucket).blob("x.png").delete()
    assert storage.live_generation(bucket, "x.png") is None
    assert storage.live_generation(bucket, "never.png") is None


def test_a_generation_that_is_gone_raises_object_gone(plain_bucket: str) -> None:
    first, size = put(plain_bucket, "x.png", tiny_png(2, 2))
    put(plain_bucket, "x.png", tiny_png(3, 3))
    with pytest.raises(storage.ObjectGone):
        storage.read_image_header(plain_bucket, "x.png", first, size)
    with pytest.raises(storage.ObjectGone):
        list(storage.iter_lines(plain_bucket, "x.png", first, size=size, max_line_bytes=20))


def test_lines_stream_from_an_offset_in_small_blocks(bucket: str) -> None:
    body = b"alpha\r\nbeta\n\n" + b"g" * 50 + b"\ndelta"
    generation, size = put(bucket, "m.ndjson", body)
    lines = list(storage.iter_lines(bucket, "m.ndjson", generation, size=size, start=7,
                                    max_line_bytes=20, block_bytes=3))  # fmt: skip
    assert [line.data for line in lines] == [b"beta", b"", None, b"delta"]
    assert [line.end for line in lines] == [12, 13, 64, 69]
    assert list(storage.iter_lines(bucket, "m.ndjson", generation, size=size, start=size,
                                   max_line_bytes=20)) == []  # fmt: skip


def test_concurrent_claims_on_one_object_keep_the_highest_generation() -> None:
    def claim(generation: int) -> Claim:
        return objects.claim("b", "o", generation, deleted=generation % 3 == 0, kind="media",
                             now=NOW)  # fmt: skip

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(claim, range(1, 13)))
    assert Claim.APPLY in answers
    record = objects.get_record("b", "o")
    assert record is not None
    assert (record.generation, record.deleted) == (12, True)
    assert claim(12) is Claim.REPEAT
    assert claim(11) is Claim.STALE


def report(now: datetime) -> str:
    doc = imports.new_report("b", "imports/m.ndjson", 7, kind="manifest", status="running", now=now)
    doc.update(cursor={"offset": 0, "line": 0}, leaseOwner=None, leaseUntil=None)
    return str(imports.open_report(doc)["id"])


def test_a_lease_excludes_other_workers_until_it_expires() -> None:
    report_id = report(NOW)
    assert imports.acquire_lease(report_id, "a", now=NOW, until=NOW + timedelta(minutes=9))
    assert imports.acquire_lease(report_id, "b", now=NOW + timedelta(minutes=5),
                                 until=NOW + timedelta(minutes=14)) is None  # fmt: skip
    imports.save_progress(report_id, "a", expected_offset=0, fields={"cursor": {"offset": 10,
                          "line": 1}}, now=NOW)  # fmt: skip
    # "a" stalls; once its lease has expired "b" takes over, and "a" can write no more.
    later = NOW + timedelta(minutes=10)
    assert imports.acquire_lease(report_id, "b", now=later, until=later + timedelta(minutes=9))
    with pytest.raises(imports.LeaseLost):
        imports.save_progress(report_id, "a", expected_offset=10, fields={}, now=later)
    with pytest.raises(imports.LeaseLost):
        imports.save_progress(report_id, "b", expected_offset=0, fields={}, now=later)
    imports.save_progress(report_id, "b", expected_offset=10, fields={"status": "done"}, now=later)
    assert imports.acquire_lease(report_id, "c", now=later, until=later) is None


def test_a_worker_that_wrote_the_report_last_moves_its_cursor_and_no_one_else() -> None:
    report_id = report(NOW)
    assert imports.acquire_lease(report_id, "a", now=NOW, until=NOW + timedelta(minutes=9))
    cursor = {"offset": 10, "line": 1}
    first = imports.save_progress(report_id, "a", expected_offset=0, fields={"cursor": cursor},
                                  now=NOW)  # fmt: skip
    cursor = {"offset": 20, "line": 2}
    second = imports.save_progress(report_id, "a", expected_offset=10, written_at=first,
                                   fields={"cursor": cursor}, now=NOW)  # fmt: skip
    assert second > first
    assert imports.get_report(report_id)["cursor"] == {"offset": 20, "line": 2}

    # "b" takes the expired lease: "a"'s next write, sure of its last one, is refused all the same.
    later = NOW + timedelta(minutes=10)
    assert imports.acquire_lease(report_id, "b", now=later, until=later + timedelta(minutes=9))
    with pytest.raises(imports.LeaseLost):
        imports.save_progress(report_id, "a", expected_offset=20, written_at=second,
                              fields={"cursor": {"offset": 30, "line": 3}}, now=later)  # fmt: skip
    stored = imports.get_report(report_id)
    assert (stored["leaseOwner"], stored["cursor"]) == ("b", {"offset": 20, "line": 2})
    # Nor is a write by "b" from a cursor it did not read.
    with pytest.raises(imports.LeaseLost):
        imports.save_progress(report_id, "b", expected_offset=0, written_at=second, fields={},
                              now=later)  # fmt: skip


def test_opening_a_report_again_keeps_the_first_one() -> None:
    first = imports.new_report("b", "cams/a.png", 4, kind="object", status="failed", now=NOW)
    first.update(message="first", errors=[])
    assert imports.open_report(first) == first
    again = {**first, "message": "second", "createdAt": NOW + timedelta(hours=1)}
    assert imports.open_report(again) == first
    assert imports.get_report(first["id"]) == first


def test_reports_are_listed_newest_first_and_by_object() -> None:
    ids = []
    for generation in (1, 2, 3):
        created = NOW + timedelta(minutes=generation)
        doc = imports.new_report("b", "imports/x.ndjson", generation, kind="manifest",
                                 status="done", now=created)  # fmt: skip
        imports.open_report(doc)
        ids.append(doc["id"])
    first = imports.list_reports(limit=2)
    assert [d["id"] for d in first] == [ids[2], ids[1]]
    rest = imports.list_reports(limit=2, after=(first[-1]["createdAt"], first[-1]["id"]))
    assert [d["id"] for d in rest] == [ids[0]]
    assert [d["generation"] for d in imports.reports_for_object("b", "imports/x.ndjson")] == [
        3,
        2,
        1,
    ]
    assert imports.unfinished() == []
