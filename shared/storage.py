"""Cloud Storage reads: the only module that talks to Cloud Storage.

Three reads, each bounded: an object's live generation (a metadata GET), an image's dimensions
from a ranged read of its header (never the whole object), and a manifest's lines, streamed in
ranged blocks from a byte offset with a per-line size limit. Every read names the object
generation it was given, so a later overwrite can never be read in its place. The client is
built on first use and honours STORAGE_EMULATOR_HOST (the library's own convention).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import TypeVar

import imagesize  # type: ignore[import-untyped]
import requests
from google.api_core import exceptions as gexc
from google.api_core.retry import Retry
from google.auth import exceptions as auth_exc
from google.cloud.storage import Blob, Client

from shared.config import settings
from shared.errors import TransientError

T = TypeVar("T")

# A header is read in blocks of this size; most image headers fit in the first one.
HEADER_BLOCK_BYTES = 64 * 1024
# Past this many header bytes we give up on the dimensions (a JPEG's EXIF block is <= 64 KiB).
MAX_HEADER_BYTES = 1024 * 1024
# Manifests are streamed in ranged reads of this size.
LINE_BLOCK_BYTES = 1024 * 1024

_TRANSIENT: tuple[type[BaseException], ...] = (
    gexc.ServiceUnavailable,
    gexc.InternalServerError,
    gexc.BadGateway,
    gexc.GatewayTimeout,
    gexc.TooManyRequests,
    gexc.RetryError,
    requests.ConnectionError,
    requests.Timeout,
    auth_exc.TransportError,
    ConnectionError,
    TimeoutError,
)


@cache
def client() -> Client:
    """The process's client (the emulator when STORAGE_EMULATOR_HOST is set)."""
    return Client(project=settings().project)


def _retry() -> Retry:
    """Retries inside one invocation stop early: past this budget Eventarc's retry takes over."""
    budget = float(os.environ.get("INGEST_RETRY_SECONDS", "60"))
    return Retry(initial=0.2, maximum=5.0, multiplier=2.0, timeout=budget)


def _call(what: str, action: Callable[[], T]) -> T:
    """Run one storage call; an unavailable service becomes :class:`TransientError`."""
    try:
        return action()
    except _TRANSIENT as error:
        raise TransientError(f"Cloud Storage unavailable ({what}): {error}") from error


def _blob(bucket: str, name: str, generation: int | None) -> Blob:
    return client().bucket(bucket).blob(name, generation=generation)


def live_generation(bucket: str, name: str) -> int | None:
    """The generation of the object's live version, or None when there is none."""

    def get() -> int | None:
        blob = client().bucket(bucket).get_blob(name, retry=_retry(), timeout=30)
        return int(blob.generation) if blob is not None and blob.generation else None

    return _call(f"get gs://{bucket}/{name}", get)


def read_range(bucket: str, name: str, generation: int, start: int, end: int) -> bytes | None:
    """Bytes [start, end) of one generation; None when that generation no longer exists."""
    if end <= start:
        return b""
    blob = _blob(bucket, name, generation)

    def download() -> bytes | None:
        try:
            data: bytes = blob.download_as_bytes(
                start=start, end=end - 1, checksum=None, retry=_retry(), timeout=60
            )
        except gexc.NotFound:
            return None
        except gexc.RequestRangeNotSatisfiable:
            return b""
        return data

    return _call(f"read gs://{bucket}/{name}#{generation}", download)


class ObjectGone(Exception):
    """The object generation was deleted while it was being read."""


class _HeaderReader(io.RawIOBase):
    """A seekable view of an object that fetches ranged blocks on demand, up to a byte budget."""

    def __init__(self, bucket: str, name: str, generation: int, size: int) -> None:
        super().__init__()
        self._where = (bucket, name, generation)
        self._size = size
        self._pos = 0
        self._blocks: dict[int, bytes] = {}
        self.fetched = 0
        # imagesize turns every exception into "unknown size"; these must not be lost that way.
        self.failure: ObjectGone | TransientError | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def _block(self, index: int) -> bytes:
        if index not in self._blocks:
            if self.fetched >= MAX_HEADER_BYTES:
                raise OSError("header larger than the read budget")
            start = index * HEADER_BLOCK_BYTES
            try:
                data = read_range(*self._where, start, min(start + HEADER_BLOCK_BYTES, self._size))
            except TransientError as error:
                self.failure = error
                raise
            if data is None:
                self.failure = ObjectGone()
                raise self.failure
            self.fetched += len(data)
            self._blocks[index] = data
        return self._blocks[index]

    def read(self, size: int = -1) -> bytes:
        end = self._size if size < 0 else min(self._size, self._pos + size)
        out = bytearray()
        while self._pos < end:
            index, within = divmod(self._pos, HEADER_BLOCK_BYTES)
            block = self._block(index)
            piece = block[within : within + end - self._pos]
            if not piece:
                break
            out += piece
            self._pos += len(piece)
        return bytes(out)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


@dataclass(frozen=True)
class ImageHeader:
    """What the header said: the size as displayed (EXIF orientation applied), or None."""

    width: int | None
    height: int | None
    bytes_read: int


def read_image_header(bucket: str, name: str, generation: int, size: int) -> ImageHeader:
    """An image's width and height from ranged reads of its header (at most 1 MiB of it).

    An unknown or unreadable format gives no size. Raises :class:`ObjectGone` when the
    generation no longer exists and :class:`TransientError` when storage is unavailable.
    """
    reader = _HeaderReader(bucket, name, generation, size)
    width, height = imagesize.get(reader, exif_rotation=True)
    if reader.failure is not None:
        raise reader.failure
    if width <= 0 or height <= 0:
        return ImageHeader(None, None, reader.fetched)
    return ImageHeader(int(width), int(height), reader.fetched)


@dataclass(frozen=True)
class Line:
    """One line of a stream: ``data`` without its line end, or None when it was too long.

    ``start`` and ``end`` are byte offsets in the object; ``end`` is just past the newline, so it
    is where the next line starts (the resume cursor).
    """

    start: int
    end: int
    data: bytes | None


def iter_lines(
    bucket: str,
    name: str,
    generation: int,
    *,
    size: int,
    start: int = 0,
    max_line_bytes: int,
    block_bytes: int = LINE_BLOCK_BYTES,
) -> Iterator[Line]:
    """The lines of one object generation from byte ``start`` on, in bounded memory.

    A line longer than ``max_line_bytes`` is skipped without being held (``data`` None). A final
    line without a newline is yielded too. Raises :class:`ObjectGone` if the generation is
    deleted mid-stream.
    """

    def blocks() -> Iterator[bytes]:
        offset = start
        while offset < size:
            data = read_range(bucket, name, generation, offset, min(offset + block_bytes, size))
            if data is None:
                raise ObjectGone
            if not data:
                return
            offset += len(data)
            yield data

    return split_lines(blocks(), start=start, max_line_bytes=max_line_bytes)


def split_lines(blocks: Iterator[bytes], *, start: int, max_line_bytes: int) -> Iterator[Line]:
    """Cut a stream of byte blocks into :class:`Line` s (pure; :func:`iter_lines` feeds it)."""
    pending = bytearray()
    too_long = False
    line_start = offset = start
    for block in blocks:
        pos = 0
        while pos < len(block):
            newline = block.find(b"\n", pos)
            stop = len(block) if newline < 0 else newline
            if not too_long:
                if len(pending) + stop - pos > max_line_bytes:
                    too_long = True
                    pending.clear()
                else:
                    pending += block[pos:stop]
            if newline < 0:
                break
            end = offset + newline + 1
            yield Line(line_start, end, None if too_long else bytes(pending))
            pending.clear()
            too_long = False
            line_start = end
            pos = newline + 1
        offset += len(block)
    if pending or too_long:
        yield Line(line_start, offset, None if too_long else bytes(pending))
