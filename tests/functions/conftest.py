"""Fixtures of the ingest tests: a bucket on the storage emulator, CloudEvents, the function.

Nothing here is autouse (the API tests of this folder bring their own fixtures): an ingest test
module asks for ``landing`` (an empty Firestore and a fresh bucket) and ``ingest_client``.
Events are built from the object resources the storage emulator answers, the same JSON API
shape Eventarc delivers (generation, metageneration and size as strings).
"""

from __future__ import annotations

import json
import struct
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import functions_framework
import pytest
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent
from flask.testing import FlaskClient

from local.emulators import wipe_firestore
from shared import storage
from shared.store import slice_sets
from shared.store.client import db
from tests.conftest import PROJECT

SOURCE = Path(__file__).resolve().parents[2] / "functions" / "ingest" / "main.py"
EVENT_TYPE = "google.cloud.storage.object.v1.{}"
Mode = Literal["binary", "structured"]


def storage_event(
    kind: str, resource: dict[str, Any], *, event_id: str | None = None
) -> CloudEvent:
    """A CloudEvent as Eventarc builds it for ``kind`` (finalized, deleted, archived)."""
    attributes = {
        "type": EVENT_TYPE.format(kind),
        "source": f"//storage.googleapis.com/projects/_/buckets/{resource.get('bucket', '')}",
        "subject": f"objects/{resource.get('name', '')}",
        "id": event_id or uuid.uuid4().hex,
        "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
    }
    return CloudEvent(attributes, resource)


def post_event(client: FlaskClient, event: CloudEvent, mode: Mode = "binary") -> int:
    """Deliver one event in a CloudEvents HTTP content mode; the HTTP status."""
    headers, body = to_binary(event) if mode == "binary" else to_structured(event)
    response = client.post("/", headers=dict(headers), data=body)
    return int(response.status_code)


@dataclass
class Landing:
    """A fresh bucket; uploads return the object resource an event carries."""

    bucket: str

    def upload(
        self,
        name: str,
        data: bytes,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        blob = storage.client().bucket(self.bucket).blob(name)
        if metadata:
            blob.metadata = metadata
        blob.upload_from_string(data, content_type=content_type or "application/octet-stream")
        return resource_of(blob)

    def delete(self, name: str, generation: int | None = None) -> None:
        storage.client().bucket(self.bucket).blob(name, generation=generation).delete()


def resource_of(blob: Any) -> dict[str, Any]:
    """The object resource in the JSON API's shape, with the fields Eventarc's data has."""
    keep = ("bucket", "name", "generation", "metageneration", "contentType", "size", "md5Hash",
            "crc32c", "timeCreated", "updated", "metadata")  # fmt: skip
    resource = {key: blob._properties[key] for key in keep if key in blob._properties}
    for key in ("generation", "metageneration", "size"):
        resource[key] = str(resource[key])
    return resource


@pytest.fixture
def empty_stores(firestore_host: str, storage_host: str) -> None:
    wipe_firestore(firestore_host, PROJECT)
    slice_sets.clear_cache()
    db.cache_clear()
    storage.client.cache_clear()


@pytest.fixture
def landing(empty_stores: None) -> Landing:
    # Versioned, as the landing bucket is: an overwritten generation stays readable.
    bucket = storage.client().bucket(f"landing-{uuid.uuid4().hex[:12]}")
    bucket.versioning_enabled = True
    storage.client().create_bucket(bucket)
    return Landing(bucket.name)


@pytest.fixture(scope="session")
def ingest_app() -> Any:
    return functions_framework.create_app(target="ingest", source=str(SOURCE))


@pytest.fixture
def ingest_client(ingest_app: Any) -> FlaskClient:
    return ingest_app.test_client()  # type: ignore[no-any-return]


def ndjson(*lines: dict[str, Any] | str | bytes) -> bytes:
    """A manifest body: dicts as JSON lines, strings and bytes as they are."""
    out = []
    for line in lines:
        if isinstance(line, dict):
            out.append(json.dumps(line).encode())
        elif isinstance(line, str):
            out.append(line.encode())
        else:
            out.append(line)
    return b"\n".join(out) + b"\n"


def tiny_png(width: int, height: int) -> bytes:
    """A valid grayscale PNG, so ingest sees a real image header."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\x80" * width for _ in range(height)))
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def jpeg_header(width: int, height: int, *, exif_bytes: int = 0, tail_bytes: int = 0) -> bytes:
    """A JPEG's markers up to its frame header: an APP1 (EXIF) block of ``exif_bytes`` before
    the SOF0 that holds the size, then ``tail_bytes`` of scan data. Enough for any header reader;
    a large ``tail_bytes`` makes an object whose whole download would show."""
    out = b"\xff\xd8"
    if exif_bytes:
        body = b"Exif\x00\x00" + b"\x00" * (exif_bytes - 6)
        out += b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    frame = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    out += b"\xff\xc0" + struct.pack(">H", len(frame) + 2) + frame
    return out + b"\xff\xda" + b"\x00" * tail_bytes + b"\xff\xd9"
