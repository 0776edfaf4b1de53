"""A minimal PNG encoder (standard library only), for the demo's generated images.

Only what the demo needs: 8-bit grayscale or RGB, no filtering, a fixed compression level, so
the same pixels always give the same bytes (the demo's uploads are deterministic, and an object
that is already in the bucket with the same MD5 is not uploaded again).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
from numpy.typing import NDArray

SIGNATURE = b"\x89PNG\r\n\x1a\n"
GRAYSCALE, RGB = 0, 2


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def encode(pixels: NDArray[np.uint8]) -> bytes:
    """A PNG of ``pixels``: shape (height, width) for grayscale, (height, width, 3) for RGB."""
    if pixels.dtype != np.uint8:
        raise ValueError(f"pixels must be uint8, got {pixels.dtype}")
    if pixels.ndim == 2:
        color = GRAYSCALE
    elif pixels.ndim == 3 and pixels.shape[2] == 3:
        color = RGB
    else:
        raise ValueError(f"expected (h, w) or (h, w, 3) pixels, got shape {pixels.shape}")
    height, width = pixels.shape[:2]
    if not (height and width):
        raise ValueError("an image needs at least one pixel")
    rows = np.ascontiguousarray(pixels).reshape(height, -1)
    # Each scanline starts with its filter type: 0, none.
    raw = np.hstack([np.zeros((height, 1), np.uint8), rows]).tobytes()
    header = struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)
    return (
        SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )
