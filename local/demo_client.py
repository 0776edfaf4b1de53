"""What the demo talks to, as any client would: the API over HTTP and the landing bucket.

The demo never writes Firestore: data goes into the bucket, slices and model runs are created
through the API.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

UPLOAD_WORKERS = 8


class ApiError(RuntimeError):
    """An answer other than 2xx, with the AIP-193 body when there is one."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        message = body.get("error", {}).get("message") if isinstance(body, dict) else None
        super().__init__(f"{method} {path}: HTTP {status}: {message or body}")
        self.status = status
        self.body = body


@dataclass(frozen=True)
class Api:
    """A small JSON client of the slices API."""

    base: str
    token: str | None = None

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 60,
    ) -> Any:
        url = self.base + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        sent = dict(headers or {})
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=sent, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                answer = json.loads(raw)
            except ValueError:
                answer = raw.decode(errors="replace")
            raise ApiError(method, path, error.code, answer) from None

    def get(self, path: str, **query: str | int) -> Any:
        return self.retrying(lambda: self.request("GET", path, query=query))

    @staticmethod
    def retrying(call: Callable[[], Any], attempts: int = 5) -> Any:
        """``call()``, again after a pause when the API answers 5xx or does not answer (a
        request that failed that way may be repeated: the demo only makes such requests)."""
        for attempt in range(attempts):
            try:
                return call()
            except (ApiError, OSError) as error:
                if isinstance(error, ApiError) and error.status < 500:
                    raise
                if attempt == attempts - 1:
                    raise
                time.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body)

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, body)

    def list_all(self, path: str, items: str, **query: str | int) -> list[dict[str, Any]]:
        """Every item of a paged list, following nextPageToken."""
        found: list[dict[str, Any]] = []
        token = ""
        while True:
            page = self.get(path, **query, pageSize=1000, **({"pageToken": token} if token else {}))
            found += page.get(items, [])
            token = page.get("nextPageToken") or ""
            if not token:
                return found

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.get("/v1/metadataSchema")
                return
            except (OSError, ApiError) as error:
                if isinstance(error, ApiError) and error.status < 500:
                    raise
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the API at {self.base} did not answer: {error}") from None
                time.sleep(0.2)


@dataclass(frozen=True)
class Upload:
    """One object to put in the landing bucket."""

    name: str
    data: bytes
    content_type: str
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def md5(self) -> str:
        """As the storage API reports it: base64 of the digest."""
        return base64.b64encode(hashlib.md5(self.data).digest()).decode()  # noqa: S324 (GCS's)


def landing_bucket(env: Mapping[str, str]) -> storage.Bucket:
    """The landing bucket on the storage emulator (no credentials: it is local)."""
    client = storage.Client(
        project=env["GOOGLE_CLOUD_PROJECT"],
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": env["STORAGE_EMULATOR_HOST"]},
    )
    return client.bucket(env["LANDING_BUCKET"])


def _prefixes(names: Iterable[str]) -> set[str]:
    return {name.rsplit("/", 1)[0] + "/" for name in names}


def sync(
    bucket: storage.Bucket,
    uploads: Sequence[Upload],
    *,
    on_upload: Callable[[int], None] | None = None,
) -> tuple[dict[str, int], int]:
    """Put each object in the bucket unless it is already there with the same bytes, type and
    metadata; the generation of every object, and how many were uploaded."""
    present: dict[str, storage.Blob] = {}
    for prefix in sorted(_prefixes(u.name for u in uploads)):
        for blob in bucket.client.list_blobs(bucket, prefix=prefix):
            present[blob.name] = blob
    generations: dict[str, int] = {}
    todo: list[Upload] = []
    for upload in uploads:
        blob = present.get(upload.name)
        if (
            blob is not None
            and blob.md5_hash == upload.md5
            and blob.content_type == upload.content_type
            and (blob.metadata or {}) == upload.metadata
        ):
            generations[upload.name] = int(blob.generation)
        else:
            todo.append(upload)

    def put(upload: Upload) -> tuple[str, int]:
        blob = bucket.blob(upload.name)
        blob.metadata = upload.metadata or None
        blob.upload_from_string(upload.data, content_type=upload.content_type)
        if on_upload is not None:
            on_upload(1)
        return upload.name, int(blob.generation)

    pool = ThreadPoolExecutor(UPLOAD_WORKERS, thread_name_prefix="upload")
    try:
        generations.update(pool.map(put, todo))
    finally:
        # On Ctrl-C, drop the uploads not started (the emulator is about to go away).
        pool.shutdown(wait=True, cancel_futures=True)
    return generations, len(todo)
