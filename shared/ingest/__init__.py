"""Storage-triggered ingest: objects become data rows, manifests import, deletes remove.

Public entry points: :func:`handle_storage_event` (the event function) and
:func:`continue_imports` (the scheduled function resumes manifest imports). See docs/ingest.md.
"""

from shared.ingest.outcome import Action, Outcome
from shared.ingest.service import continue_imports, handle_storage_event

__all__ = ["Action", "Outcome", "continue_imports", "handle_storage_event"]
