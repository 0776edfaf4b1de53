"""Model-run documents, their recompute shards, and the lookups that tie runs to data rows.

``modelRuns/<id>`` holds the run (name, model, classes, thresholds, ``metricsVersion``, status)
and its totals (kept by ``shared.model_runs.totals``). Its rows live in ``modelRuns/<id>/rows``
(written only through ``rows.mutate_rows``). A threshold change bumps ``metricsVersion`` and
resets ``modelRuns/<id>/recomputeShards/<hex>`` in one transaction; each shard's cursor then
advances in transactions that check the version, so a recompute of older thresholds can never
move a newer one's cursor. ``cocoDatasets/<dataset>`` (categories, the instances file that is
the ground truth, the version of its image map) and its ``images/<imageId>`` (global key, image
map version) remember a COCO ground truth, so that a COCO results file, which names images and
categories only by number, can be imported against it. A new instances file for the dataset
replaces the categories and starts a new image map: images of older maps are ignored, then
deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.cloud import firestore

from shared.errors import NotFound
from shared.store import transient
from shared.store.client import DATA_ROWS, MAX_BATCH_WRITES, MODEL_RUN_ROWS, MODEL_RUNS, db
from shared.store.scopes import MODEL_RUN_PREFIX

Document = dict[str, Any]

RECOMPUTE_SHARDS = "recomputeShards"
COCO_DATASETS = "cocoDatasets"
COCO_IMAGES = "images"
# Row ids are uniform hex digests: their first hex digit splits a run into 16 even shards.
SHARD_PREFIXES: tuple[str, ...] = tuple("0123456789abcdef")
# Firestore's bound on the values of one 'in' filter.
MAX_IN_VALUES = 30
PARALLEL_QUERIES = 8  # concurrent lookups of the runs holding a batch of rows

COMPUTING = "computing"
READY = "ready"


class RecomputeSuperseded(Exception):
    """The thresholds changed again (or the run is gone): this recompute is over."""


def run_ref(run_id: str) -> firestore.DocumentReference:
    return db().collection(MODEL_RUNS).document(run_id)


def scope_key(run_id: str) -> str:
    return f"{MODEL_RUN_PREFIX}{run_id}"


def create_run(doc: Document) -> None:
    run_ref(doc["id"]).create(doc)


def get_run(run_id: str) -> Document:
    snapshot = transient.get(run_ref(run_id), "read model run")
    if not snapshot.exists:
        raise NotFound(f"model run {run_id!r} does not exist")
    return snapshot.to_dict() or {}


def find_run(run_id: str) -> Document | None:
    snapshot = transient.get(run_ref(run_id), "read model run")
    return (snapshot.to_dict() or {}) if snapshot.exists else None


def list_runs(*, limit: int, after: tuple[datetime, str] | None = None) -> list[Document]:
    """Runs newest first; index: the automatic one on ``createdAt`` (descending)."""
    query = (
        db()
        .collection(MODEL_RUNS)
        .order_by("createdAt", direction=firestore.Query.DESCENDING)
        .order_by("__name__", direction=firestore.Query.DESCENDING)
    )
    if after is not None:
        query = query.start_after({"createdAt": after[0], "__name__": run_ref(after[1])})
    return [s.to_dict() or {} for s in query.limit(limit).stream()]


def _shard_refs(run_id: str) -> list[firestore.DocumentReference]:
    shards = run_ref(run_id).collection(RECOMPUTE_SHARDS)
    return [shards.document(prefix) for prefix in SHARD_PREFIXES]


def update_run(run_id: str, changes: Mapping[str, Any], *, rescore: bool) -> Document:
    """Apply ``changes``; with ``rescore``, bump ``metricsVersion``, mark the run computing and
    reset the recompute shards, all in one transaction. The updated document."""

    @firestore.transactional  # type: ignore[untyped-decorator]
    def apply(transaction: firestore.Transaction) -> Document:
        snapshot = run_ref(run_id).get(transaction=transaction)
        if not snapshot.exists:
            raise NotFound(f"model run {run_id!r} does not exist")
        current = snapshot.to_dict() or {}
        fields = dict(changes)
        if rescore:
            version = int(current.get("metricsVersion") or 0) + 1
            fields |= {
                "metricsVersion": version,
                "status": COMPUTING,
                "recompute": {"version": version, "shardsDone": 0,
                              "shardsTotal": len(SHARD_PREFIXES), "rowsScanned": 0},
            }  # fmt: skip
            for ref in _shard_refs(run_id):
                transaction.set(ref, {"version": version, "cursor": None, "done": False})
        transaction.update(snapshot.reference, fields)
        return {**current, **fields}

    result: Document = apply(db().transaction())
    return result


def recompute_shards(run_id: str) -> list[Document]:
    return [{"prefix": s.id, **(s.to_dict() or {})} for s in db().get_all(_shard_refs(run_id))]


def advance_recompute_shard(
    run_id: str, *, version: int, shard: str, cursor: str, scanned: int
) -> None:
    """Move a shard's cursor past ``cursor`` if the run is still at ``version``."""
    shard_ref = run_ref(run_id).collection(RECOMPUTE_SHARDS).document(shard)

    @firestore.transactional  # type: ignore[untyped-decorator]
    def apply(transaction: firestore.Transaction) -> None:
        snapshot = run_ref(run_id).get(transaction=transaction)
        if not snapshot.exists or snapshot.get("metricsVersion") != version:
            raise RecomputeSuperseded(run_id)
        transaction.update(shard_ref, {"cursor": cursor})
        transaction.update(
            snapshot.reference, {"recompute.rowsScanned": firestore.Increment(scanned)}
        )

    apply(db().transaction())


def finish_recompute_shard(run_id: str, *, version: int, shard: str, now: datetime) -> bool:
    """Mark a shard done; after the last one the run is ready. True when ready."""
    shard_ref = run_ref(run_id).collection(RECOMPUTE_SHARDS).document(shard)

    @firestore.transactional  # type: ignore[untyped-decorator]
    def apply(transaction: firestore.Transaction) -> bool:
        snapshot = run_ref(run_id).get(transaction=transaction)
        if not snapshot.exists or snapshot.get("metricsVersion") != version:
            raise RecomputeSuperseded(run_id)
        states = {s.id: s.to_dict() or {} for s in transaction.get_all(_shard_refs(run_id))}
        states[shard] = {**states.get(shard, {}), "done": True}
        done = sum(1 for state in states.values() if state.get("done"))
        ready = done == len(SHARD_PREFIXES)
        transaction.update(shard_ref, {"done": True})
        fields: Document = {"recompute.shardsDone": done}
        if ready:
            fields |= {"status": READY, "recompute.finishedAt": now}
        transaction.update(snapshot.reference, fields)
        return ready

    result: bool = apply(db().transaction())
    return result


def computing_runs(*, limit: int = 20) -> list[Document]:
    """Runs with an unfinished recompute; index: the automatic one on ``status``."""
    query = (
        db()
        .collection(MODEL_RUNS)
        .where(filter=firestore.FieldFilter("status", "==", COMPUTING))
        .limit(limit)
    )
    return [s.to_dict() or {} for s in transient.stream(query, "list computing runs")]


def data_row_versions(row_ids: Sequence[str]) -> dict[str, Any]:
    """The update time of each existing data row, read without its fields (a cheap re-check)."""
    collection = db().collection(DATA_ROWS)
    refs = [collection.document(row_id) for row_id in row_ids]
    snapshots = transient.call(
        "read data row versions", lambda: list(db().get_all(refs, field_paths=["id"]))
    )
    return {s.id: s.update_time for s in snapshots if s.exists}


def runs_holding(row_ids: Sequence[str]) -> dict[str, list[str]]:
    """For these data row ids, the model runs that have a row for them: {run id: [row ids]}.

    Rows exist only in runs whose document exists, so with no run at all (a catalog that has
    never been scored, the common case for bulk imports) one tiny query answers. Otherwise the
    ``id in [...]`` queries, 30 ids each, run side by side.
    Index: a collection-group single-field index on ``rows.id`` (terraform/firestore.tf).
    """
    unique = list(dict.fromkeys(row_ids))
    if not unique or not _any_run():
        return {}
    groups = [unique[i : i + MAX_IN_VALUES] for i in range(0, len(unique), MAX_IN_VALUES)]
    found: dict[str, list[str]] = {}
    with ThreadPoolExecutor(max_workers=min(len(groups), PARALLEL_QUERIES)) as pool:
        for snapshots in pool.map(_run_rows_with_ids, groups):
            for snapshot in snapshots:
                run = snapshot.reference.parent.parent
                if run is not None and run.parent.id == MODEL_RUNS:
                    found.setdefault(run.id, []).append(snapshot.id)
    return found


def _any_run() -> bool:
    query = db().collection(MODEL_RUNS).select([]).limit(1)
    return bool(transient.stream(query, "look for model runs"))


def _run_rows_with_ids(ids: list[str]) -> list[firestore.DocumentSnapshot]:
    query = (
        db()
        .collection_group(MODEL_RUN_ROWS)
        .where(filter=firestore.FieldFilter("id", "in", ids))
        .select(["id"])
    )
    return transient.stream(query, "find model-run rows")


# ---- COCO ground truth ------------------------------------------------------------------


def _coco_ref(dataset: str) -> firestore.DocumentReference:
    return db().collection(COCO_DATASETS).document(dataset)


@dataclass(frozen=True)
class CocoTruth:
    """A dataset's current COCO ground truth: its categories and the version of its image map."""

    categories: dict[int, str]
    image_map: int


def take_coco_ground_truth(
    dataset: str, categories: Mapping[int, str], source: Mapping[str, Any], *, now: datetime
) -> int | None:
    """Make ``source`` ({uri, generation}, an instances file) the dataset's ground truth: its
    categories replace the old ones and its images go in a new image map, whose version is
    returned. The same source again gets the same version; None if a later generation of the
    same file already holds it (a late event: it changes nothing)."""

    @firestore.transactional  # type: ignore[untyped-decorator]
    def apply(transaction: firestore.Transaction) -> int | None:
        current = _coco_ref(dataset).get(transaction=transaction).to_dict() or {}
        prior = current.get("source") or {}
        if prior.get("uri") == source["uri"]:
            if int(prior.get("generation") or 0) > int(source["generation"]):
                return None
            if int(prior["generation"]) == int(source["generation"]):
                return int(current["imageMap"])
        version = int(current.get("imageMap") or 0) + 1
        transaction.set(_coco_ref(dataset), {
            "categories": {str(k): v for k, v in categories.items()},
            "source": dict(source),
            "imageMap": version,
            "updatedAt": now,
        })  # fmt: skip
        return version

    result: int | None = transient.call("take COCO ground truth", lambda: apply(db().transaction()))
    return result


def put_coco_images(dataset: str, images: Mapping[int, str], *, image_map: int) -> None:
    """Remember each image id's global key ({image id: global key}) in that image map."""
    items = list(images.items())
    collection = _coco_ref(dataset).collection(COCO_IMAGES)
    for start in range(0, len(items), MAX_BATCH_WRITES):
        batch = db().batch()
        for image_id, key in items[start : start + MAX_BATCH_WRITES]:
            batch.set(collection.document(str(image_id)), {"globalKey": key, "imageMap": image_map})
        transient.call("write COCO images", batch.commit)


def drop_older_coco_images(dataset: str, *, image_map: int) -> int:
    """Delete one batch of images of image maps before ``image_map``; how many (0: none left).
    Index: automatic, single field ``imageMap`` of ``images``."""
    collection = _coco_ref(dataset).collection(COCO_IMAGES)
    query = collection.where(filter=firestore.FieldFilter("imageMap", "<", image_map))
    snapshots = transient.stream(query.select([]).limit(MAX_BATCH_WRITES), "find old COCO images")
    if snapshots:
        batch = db().batch()
        for snapshot in snapshots:
            batch.delete(snapshot.reference)
        transient.call("delete old COCO images", batch.commit)
    return len(snapshots)


def coco_datasets(*, limit: int) -> list[str]:
    """Up to ``limit`` datasets with a COCO ground truth, by name (no index: a plain scan)."""
    query = db().collection(COCO_DATASETS).select([]).limit(limit)
    return [snapshot.id for snapshot in transient.stream(query, "list COCO datasets")]


def coco_ground_truth(dataset: str) -> CocoTruth | None:
    """The dataset's current COCO ground truth, None if it has none."""
    doc = transient.get(_coco_ref(dataset), "read COCO categories").to_dict()
    if doc is None or "imageMap" not in doc:
        return None
    categories = {int(k): str(v) for k, v in (doc.get("categories") or {}).items()}
    return CocoTruth(categories, int(doc["imageMap"]))


def coco_image_keys(dataset: str, image_ids: Iterable[int], *, image_map: int) -> dict[int, str]:
    """The global keys of these image ids, where that image map knows them."""
    collection = _coco_ref(dataset).collection(COCO_IMAGES)
    ids = [str(i) for i in dict.fromkeys(image_ids)]
    found: dict[int, str] = {}
    for start in range(0, len(ids), MAX_BATCH_WRITES):
        refs = [collection.document(i) for i in ids[start : start + MAX_BATCH_WRITES]]
        for snapshot in _get_all(refs, "read COCO images"):
            if snapshot.exists and snapshot.get("imageMap") == image_map:
                found[int(snapshot.id)] = str(snapshot.get("globalKey"))
    return found


def coco_image_ids(dataset: str, *, image_map: int) -> list[int]:
    """Every image id of that image map, in id order.
    Index: automatic, single field ``imageMap`` of ``images``."""
    collection = _coco_ref(dataset).collection(COCO_IMAGES)
    query = collection.where(filter=firestore.FieldFilter("imageMap", "==", image_map))
    snapshots = transient.stream(query.select([]), "list COCO images")
    return sorted(int(snapshot.id) for snapshot in snapshots)


def _get_all(
    refs: Sequence[firestore.DocumentReference], what: str
) -> list[firestore.DocumentSnapshot]:
    return transient.call(what, lambda: list(db().get_all(refs)))
