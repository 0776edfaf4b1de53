"""A data row's media type and MIME type, from the object's content type and its extension.

The content type wins when it says something; a generic one (missing, ``application/octet-
stream``, ``binary/octet-stream``) falls back to the extension.
"""

from __future__ import annotations

import mimetypes
from functools import cache

from shared.models import MediaType

GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})

_DOCUMENT_TYPES = frozenset(
    {
        "application/pdf",
        "application/msword",
        "application/rtf",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.ms-powerpoint",
    }
)
_TEXT_TYPES = frozenset({"application/json", "application/xml", "application/x-ndjson"})

# Extensions the platform's table may lack or map differently.
_EXTRA_EXTENSIONS = {
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".jsonl": "application/x-ndjson",
    ".ndjson": "application/x-ndjson",
    ".md": "text/markdown",
}


@cache
def _table() -> mimetypes.MimeTypes:
    """Python's built-in table only: the machine's /etc/mime.types must not change answers."""
    return mimetypes.MimeTypes(filenames=())


def mime_type(content_type: str | None, name: str) -> str | None:
    """The MIME type (without parameters), from the content type or else the extension."""
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    if declared not in GENERIC_TYPES:
        return declared
    dot = name.rfind(".")
    extension = name[dot:].lower() if dot > name.rfind("/") else ""
    if extension in _EXTRA_EXTENSIONS:
        return _EXTRA_EXTENSIONS[extension]
    guessed, _ = _table().guess_type(f"x{extension}", strict=False)
    return guessed or (declared or None)


def media_type(mime: str | None) -> MediaType:
    """``image/png`` -> image, ``text/plain`` -> text, ``application/pdf`` -> document ..."""
    if not mime:
        return MediaType.OTHER
    major = mime.split("/", 1)[0]
    if major in ("image", "video", "audio", "text"):
        return MediaType(major)
    if mime in _DOCUMENT_TYPES:
        return MediaType.DOCUMENT
    if mime in _TEXT_TYPES:
        return MediaType.TEXT
    return MediaType.OTHER
