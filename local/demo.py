"""Demo data for `make run`: the hook the stack calls once everything is up.

Not written yet: ``load`` uploads nothing and says so. When it does upload, it should go
through the landing bucket only (objects, manifests, prediction files), so that the demo data
takes the same path as real data: storage emulator -> bridge -> ingest -> Firestore.
``python -m local.stack up --no-demo`` skips it.
"""

from __future__ import annotations

from collections.abc import Mapping


def load(env: Mapping[str, str]) -> None:
    """Upload the demo data set into the running stack.

    ``env`` holds what `.run/env` holds: STORAGE_EMULATOR_HOST, LANDING_BUCKET, SLICES_API,
    FIRESTORE_EMULATOR_HOST, PUBSUB_EMULATOR_HOST and GOOGLE_CLOUD_PROJECT.
    """
    print(
        "demo data: none loaded (local/demo.py is still a stub); "
        f"upload your own files to gs://{env['LANDING_BUCKET']}/<dataset>/<path>"
    )
