"""Model runs through the real chain: images and a label manifest land in the bucket, a run is
made through the API, its predictions file lands in the bucket (``model-runs/<run>/*.ndjson``),
and the run's nine generated slices hold the rows their metrics say, and follow later changes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
from google.cloud import storage

from local.demo_client import Api, ApiError
from shared.ids import row_id
from shared.models import AutoSlice
from tests.e2e.conftest import RunningStack
from tests.e2e.test_pipeline import row_gone, tiny_png, wait_for

NDJSON = "application/x-ndjson"


@pytest.fixture
def dataset(stack: RunningStack, api: Api) -> str:
    stack.require("ingest", "slices")
    try:
        api.get("/v1/modelRuns", pageSize=1)
    except ApiError as error:
        pytest.fail(f"the API does not serve model runs: {error}")
    return f"e2e-{uuid.uuid4().hex[:12]}"


def ndjson(lines: Sequence[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(line) + "\n" for line in lines)


class Catalog:
    """A dataset of the test's own: images with labels, landed through the bucket."""

    def __init__(self, stack: RunningStack, api: Api, bucket: storage.Bucket, dataset: str):
        self.stack, self.api, self.bucket, self.dataset = stack, api, bucket, dataset

    def key(self, name: str) -> str:
        return f"gs://{self.stack.bucket}/{self.dataset}/{name}.png"

    def rid(self, name: str) -> str:
        return row_id(self.key(name))

    def land(self, labels: Mapping[str, str]) -> None:
        """One image per name, then a manifest with its label; wait until the rows show both."""
        for name in labels:
            blob = self.bucket.blob(f"{self.dataset}/{name}.png")
            blob.upload_from_string(tiny_png(4, 4), content_type="image/png")
        for name in labels:
            wait_for(f"the row of {name}", self._has(name, labels=None))
        lines = [
            {"globalKey": self.key(n), "rowData": self.key(n), "dataset": self.dataset,
             "labels": [{"name": label}]}
            for n, label in labels.items()
        ]  # fmt: skip
        self.bucket.blob(f"imports/{self.dataset}.ndjson").upload_from_string(
            ndjson(lines), content_type=NDJSON
        )
        for name, label in labels.items():
            wait_for(f"the label of {name}", self._has(name, labels=[label]))

    def _has(self, name: str, labels: list[str] | None) -> Callable[[], bool | None]:
        def probe() -> bool | None:
            try:
                row = self.api.get(f"/v1/dataRows/{self.rid(name)}")
            except ApiError:
                return None
            found = [label["name"] for label in row["labels"]]
            return True if labels is None or found == labels else None

        return probe

    def predict(self, run_id: str, file: str, predictions: Mapping[str, tuple[str, float]]) -> None:
        lines = [
            {"globalKey": self.key(n), "predictions": [{"name": cls, "confidence": conf}]}
            for n, (cls, conf) in predictions.items()
        ]
        self.bucket.blob(f"model-runs/{run_id}/{file}").upload_from_string(
            ndjson(lines), content_type=NDJSON
        )


def generated(api: Api, run_id: str) -> dict[str, dict[str, Any]]:
    """The run's generated slices by kind."""
    found = api.list_all("/v1/slices", "slices", scope=f"modelRun:{run_id}")
    return {s["auto"]: s for s in found if s.get("auto")}


def members(api: Api, slice_id: str) -> list[str]:
    """The slice's row ids, in its order."""
    return [row["id"] for row in api.list_all(f"/v1/slices/{slice_id}/dataRows", "dataRows")]


def memberships(api: Api, run_id: str) -> dict[str, list[str]]:
    return {kind: members(api, s["id"]) for kind, s in generated(api, run_id).items()}


def settled(
    api: Api, run_id: str, expected: Mapping[str, list[str]]
) -> Callable[[], dict[str, list[str]] | None]:
    def probe() -> dict[str, list[str]] | None:
        found = memberships(api, run_id)
        return found if found == expected else None

    return probe


def test_predictions_uploaded_produce_the_nine_generated_slices(
    stack: RunningStack, api: Api, bucket: storage.Bucket, dataset: str
) -> None:
    catalog = Catalog(stack, api, bucket, dataset)
    catalog.land({"a": "cat", "b": "cat", "c": "dog"})
    run = api.post(
        "/v1/modelRuns",
        {"name": f"run {dataset}", "model": "e2e", "classes": ["cat", "dog"],
         "confidenceThreshold": 0.5},
    )  # fmt: skip
    # a: right and sure; b: a dog, surely (the label may be wrong); c: right, barely.
    catalog.predict(
        run["id"], "first.ndjson", {"a": ("cat", 0.9), "b": ("dog", 0.95), "c": ("dog", 0.55)}
    )
    a, b, c = catalog.rid("a"), catalog.rid("b"), catalog.rid("c")
    # Per row over the classes cat and dog: a tp1 tn1, b fp1 fn1, c tp1 tn1.
    expected = {
        AutoSlice.TRUE_POSITIVES: sorted([a, c], reverse=True),  # tp desc, ties by id desc
        AutoSlice.TRUE_NEGATIVES: sorted([a, c], reverse=True),
        AutoSlice.FALSE_POSITIVES: [b],
        AutoSlice.FALSE_NEGATIVES: [b],
        AutoSlice.LOW_PRECISION: [b, *sorted([a, c])],  # precision asc: 0, then 1 and 1
        AutoSlice.LOW_RECALL: [b, *sorted([a, c])],
        AutoSlice.LOW_F1: [b, *sorted([a, c])],
        AutoSlice.LOW_CONFIDENCE: [c, a, b],  # confidence asc
        AutoSlice.CANDIDATE_MISLABELS: [b],
    }
    expected_by_kind = {str(kind): ids for kind, ids in expected.items()}
    wait_for("the nine generated slices", settled(api, run["id"], expected_by_kind))

    slices = generated(api, run["id"])
    assert set(slices) == {str(kind) for kind in AutoSlice}
    assert all(s["status"] == "ready" for s in slices.values())
    scored = api.get(f"/v1/modelRuns/{run['id']}")
    assert scored["rowCount"] == 3
    assert scored["metrics"]["tp"] == 2
    assert scored["metrics"]["fp"] == 1

    # A corrected upload moves b out of the mistakes, into the right answers.
    catalog.predict(run["id"], "first.ndjson", {"b": ("cat", 0.8)})
    fixed = {
        **expected_by_kind,
        str(AutoSlice.TRUE_POSITIVES): sorted([a, b, c], reverse=True),
        str(AutoSlice.TRUE_NEGATIVES): sorted([a, b, c], reverse=True),
        str(AutoSlice.FALSE_POSITIVES): [],
        str(AutoSlice.FALSE_NEGATIVES): [],
        str(AutoSlice.LOW_PRECISION): sorted([a, b, c]),
        str(AutoSlice.LOW_RECALL): sorted([a, b, c]),
        str(AutoSlice.LOW_F1): sorted([a, b, c]),
        str(AutoSlice.LOW_CONFIDENCE): [c, b, a],
        str(AutoSlice.CANDIDATE_MISLABELS): [],
    }
    wait_for("the slices after the corrected upload", settled(api, run["id"], fixed))

    # Deleting an image takes its row out of the run and all its slices.
    bucket.blob(f"{dataset}/a.png").delete()
    wait_for("the row of a to be deleted", row_gone(stack, f"{dataset}/a.png"))
    without_a = {kind: [r for r in ids if r != a] for kind, ids in fixed.items()}
    wait_for("the slices without a", settled(api, run["id"], without_a))
    assert api.get(f"/v1/modelRuns/{run['id']}")["rowCount"] == 2


def test_predictions_delivered_twice_change_nothing(
    stack: RunningStack, api: Api, bucket: storage.Bucket, dataset: str
) -> None:
    from local.bridge import replay  # noqa: PLC0415
    from tests.e2e.test_pipeline import delivered  # noqa: PLC0415

    catalog = Catalog(stack, api, bucket, dataset)
    catalog.land({"x": "cat", "y": "dog"})
    run = api.post(
        "/v1/modelRuns", {"name": f"twice {dataset}", "model": "e2e", "classes": ["cat", "dog"]}
    )
    catalog.predict(run["id"], "p.ndjson", {"x": ("cat", 0.9), "y": ("cat", 0.7)})
    name = f"model-runs/{run['id']}/p.ndjson"
    generation = int(bucket.get_blob(name).generation)
    event = wait_for("the predictions' event", delivered(stack, name, "finalized", generation))
    wait_for(
        "the run's rows",
        lambda: True if api.get(f"/v1/modelRuns/{run['id']}")["rowCount"] == 2 else None,
    )
    x, y = catalog.rid("x"), catalog.rid("y")
    wait_for(
        "the mistake in its slice",
        lambda: (
            True if members(api, generated(api, run["id"])["falsePositives"]["id"]) == [y] else None
        ),
    )
    before = (api.get(f"/v1/modelRuns/{run['id']}"), memberships(api, run["id"]),
              api.get(f"/v1/modelRuns/{run['id']}/rows/{x}"))  # fmt: skip

    again = replay(stack.journal, stack.urls["ingest"] + "/", event["event"]["attributes"]["id"])
    assert again.outcome == "delivered"
    after = (api.get(f"/v1/modelRuns/{run['id']}"), memberships(api, run["id"]),
             api.get(f"/v1/modelRuns/{run['id']}/rows/{x}"))  # fmt: skip
    assert after == before
