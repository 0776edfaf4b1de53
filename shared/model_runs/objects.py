"""Which bucket objects are model-run inputs, and what each one names (pure).

- ``model-runs/<run>/<name>.ndjson``: prediction lines for run ``<run>``;
- ``model-runs/<run>/results*.json`` (or ``.../<dataset>/results*.json``): a COCO results file
  (the detections a detector writes), scored against the COCO ground truth of ``<dataset>``;
- ``imports/instances*.json``: a COCO instances file, the ground truth of a dataset, imported
  as labels.

The dataset of a COCO file is the folder it sits in (``imports/val2017/instances.json``) or
else what follows ``instances_`` / ``results_`` in its name (``imports/instances_val2017.json``).
A results file that names neither (``model-runs/<run>/results.json``) is scored against the one
dataset with a COCO ground truth, if there is exactly one (:func:`default_dataset`).
The prefix rule: an image's ``file_name`` becomes the global key
``gs://<bucket>/<dataset>/<file_name>``, the key of the row its image object creates when it lands
at ``<dataset>/<file_name>`` (COCO's own layout: ``val2017/000000397133.jpg``). A ``file_name``
that is already a ``gs://`` URI is the global key as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum

from shared.models import DATASET_ID_PATTERN
from shared.services.resource_ids import is_resource_id

PREDICTIONS_PREFIX = "model-runs/"
IMPORTS_PREFIX = "imports/"
_DATASET = re.compile(DATASET_ID_PATTERN)


class Kind(StrEnum):
    PREDICTIONS = "predictions"
    COCO_RESULTS = "cocoResults"
    COCO_INSTANCES = "cocoInstances"


@dataclass(frozen=True)
class Target:
    """What an object is: its kind and run, or why it is none (``reason``)."""

    kind: Kind | None
    run_id: str | None = None
    dataset: str | None = None
    reason: str | None = None


def is_coco_instances(name: str) -> bool:
    """``imports/...instances*.json``: the routing of ``imports/`` asks this first."""
    if not name.startswith(IMPORTS_PREFIX):
        return False
    base = name.rsplit("/", 1)[-1]
    return base.startswith("instances") and base.endswith(".json")


def _dataset(folder: str | None, base: str, stem: str) -> str | None:
    if folder is not None:
        return folder
    rest = base.removesuffix(".json").removeprefix(stem)
    return rest[1:] if rest.startswith(("_", "-")) else None


def _checked(dataset: str | None, base: str, stem: str) -> tuple[str | None, str | None]:
    if dataset is None or not _DATASET.fullmatch(dataset):
        return None, (
            f"cannot tell the dataset of {base[:100]!r}: put it in a dataset folder or name it "
            f"{stem}_<dataset>.json"
        )
    return dataset, None


SHOWN_DATASETS = 5


def default_dataset(target: Target, name: str, known: list[str]) -> Target:
    """A results file that names no dataset gets the only one with a COCO ground truth
    (``known``: a few of their names, more than :data:`SHOWN_DATASETS` when there are)."""
    if len(known) == 1:
        return replace(target, dataset=known[0])
    if known:
        more = ", ..." if len(known) > SHOWN_DATASETS else ""
        shown = ", ".join(repr(dataset) for dataset in known[:SHOWN_DATASETS]) + more
        why = f"several datasets have a COCO ground truth ({shown})"
    else:
        why = "no dataset has a COCO ground truth yet (import imports/instances_<dataset>.json)"
    base = name.rsplit("/", 1)[-1]
    reason = (
        f"cannot tell the dataset of {base[:100]!r}: {why}; put it in "
        "model-runs/<run>/<dataset>/ or name it results_<dataset>.json"
    )
    return Target(None, run_id=target.run_id, reason=reason)


def coco_instances(name: str) -> Target:
    """The dataset of ``imports/[<dataset>/]instances[_<dataset>].json``."""
    parts = name.removeprefix(IMPORTS_PREFIX).split("/")
    folder = parts[0] if len(parts) == 2 else None
    if len(parts) > 2:
        return Target(None, reason="a COCO instances file goes in imports/ or imports/<dataset>/")
    dataset, reason = _checked(_dataset(folder, parts[-1], "instances"), parts[-1], "instances")
    if reason:
        return Target(None, reason=reason)
    return Target(Kind.COCO_INSTANCES, dataset=dataset)


def target(name: str) -> Target:
    """What an object that ingest routes here is (a COCO instances file, or a run's input)."""
    return coco_instances(name) if is_coco_instances(name) else model_run_object(name)


def model_run_object(name: str) -> Target:
    """What ``model-runs/<run>/...`` holds."""
    run, _, rest = name.removeprefix(PREDICTIONS_PREFIX).partition("/")
    if not is_resource_id(run) or not rest:
        return Target(None, reason="prediction files go under model-runs/<model run id>/")
    parts = rest.split("/")
    base = parts[-1]
    if base.startswith("results") and base.endswith(".json") and len(parts) <= 2:
        folder = parts[0] if len(parts) == 2 else None
        named = _dataset(folder, base, "results")
        if named is None:  # the importer picks the only dataset with a ground truth, if any
            return Target(Kind.COCO_RESULTS, run_id=run)
        dataset, reason = _checked(named, base, "results")
        if reason:
            return Target(None, run_id=run, reason=reason)
        return Target(Kind.COCO_RESULTS, run_id=run, dataset=dataset)
    if base.endswith(".ndjson") and len(base) > len(".ndjson"):
        return Target(Kind.PREDICTIONS, run_id=run)
    return Target(
        None,
        run_id=run,
        reason="objects under model-runs/<run>/ must be .ndjson prediction files or COCO "
        "results*.json",
    )
