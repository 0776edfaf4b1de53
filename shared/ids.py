"""Deterministic ids: the same key always gives the same id, so re-delivery never duplicates.

Ids are hex digests, uniform over their range, so hex prefixes split a collection into even
shards (DESIGN section 5) and no id range hot-spots.
"""

from __future__ import annotations

import hashlib
import uuid

ROW_ID_LENGTH = 32


def row_id(global_key: str) -> str:
    """The data row id for a global key: the first 128 bits of its SHA-256, in hex."""
    return hashlib.sha256(global_key.encode("utf-8")).hexdigest()[:ROW_ID_LENGTH]


def new_id() -> str:
    """A random id for resources named by nobody's key (slices, model runs, actions)."""
    return uuid.uuid4().hex
