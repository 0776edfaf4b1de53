"""What a resource id may look like, for every resource the API names in a path or a body.

Ids are Firestore document ids that we or ingest made: letters, digits and ``. _ -``, never
``/`` (a path separator), ``:`` (AIP custom methods) or the reserved ``.`` and ``..``.
"""

from __future__ import annotations

import re

RESOURCE_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
_RESOURCE_ID = re.compile(RESOURCE_ID_PATTERN)


def is_resource_id(text: str) -> bool:
    return _RESOURCE_ID.fullmatch(text) is not None
