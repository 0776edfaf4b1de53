"""Model-run inputs from the bucket: prediction files, COCO results, COCO ground truth.

Each object generation gets an import report (``importReports``, the store manifests use, with
``kind`` ``predictions``, ``cocoResults`` or ``cocoInstances``), and is imported in chunks under
the report's lease; after each chunk the report's cursor and counts advance in one conditional
write, so an import stopped anywhere (its deadline, a crash, a redelivered event) resumes at the
first chunk not recorded, and a chunk applied twice writes the same rows. The scheduled function
resumes imports that stopped at their deadline (:func:`continue_imports`).

- Prediction files (NDJSON) are streamed in ranged reads; the cursor is the byte offset and the
  line number, as for manifests. Counts: ``linesRead == rowsWritten + linesRejected +
  linesBlank``.
- COCO files are read whole (at most ``coco.MAX_COCO_BYTES``); the cursor counts the images
  done (``cursor.offset``). For results, a "line" is one detection (``entry`` = its index in
  the array, from 1); an image is written with all its detections or, if one of them is bad,
  rejected whole (each of its detections counted as rejected), so no row is scored on part of
  its predictions. The images of the dataset's ground truth that have no detection get an empty
  prediction list, as pycocotools counts them (a results file covers its whole dataset); one
  that cannot be written (its data row was deleted) is counted in ``imagesRejected`` and
  listed in ``imageErrors`` by image id, having no entry of the file to be reported under.
  For instances, a "line" is one image; bad annotations are reported under ``annotationErrors``.

Run inputs first make sure the run's generated slices exist (so rows get their membership as
they are written) and bring them up to date again before the report is marked done.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import storage
from shared.errors import NotFound, TransientError
from shared.ingest.events import StorageObject
from shared.ingest.outcome import Action, Outcome
from shared.ingest.reports import MAX_REPORTED_ERRORS, Progress, error_entry
from shared.model_runs import coco, generated_slices, ground_truth, uploads
from shared.model_runs.objects import (
    IMPORTS_PREFIX,
    SHOWN_DATASETS,
    Kind,
    Target,
    default_dataset,
)
from shared.models import PredictionLine
from shared.ndjson import MAX_LINE_BYTES
from shared.store import imports, transient
from shared.store import model_runs as run_store
from shared.store.datasets import ensure_dataset

log = logging.getLogger(__name__)

LEASE_MARGIN = timedelta(seconds=60)
COCO_CHUNK_IMAGES = uploads.CHUNK_ROWS
# Generated slices are made while the run is empty or small; the scheduler finishes builds.
SLICE_BUILD_SECONDS = 5.0
KINDS = tuple(str(kind) for kind in Kind)


@dataclass
class _Import:
    report_id: str
    owner: str
    report: dict[str, Any]
    progress: Progress
    extra: dict[str, Any] = field(default_factory=dict)
    report_written_at: datetime | None = None  # of this worker's last write of the report

    @property
    def kind(self) -> Kind:
        return Kind(self.report["kind"])

    @property
    def uri(self) -> str:
        return f"gs://{self.report['bucket']}/{self.report['object']}"

    def outcome(self, action: Action, detail: str) -> Outcome:
        return Outcome(action, self.uri, int(self.report["generation"]), self.report_id, detail)


def start(obj: StorageObject, target: Target, *, deadline: float) -> Outcome:
    """Import one finalized object that :mod:`objects` routed here."""
    now = datetime.now(UTC)
    if target.kind is None:
        kind = Kind.COCO_INSTANCES if obj.name.startswith(IMPORTS_PREFIX) else Kind.PREDICTIONS
        return _reject(obj, str(kind), target.reason or "unsupported object", now)
    if target.run_id is not None and run_store.find_run(target.run_id) is None:
        reason = f"model run {target.run_id!r} does not exist: create it first"
        return _reject(obj, str(target.kind), reason, now)
    if target.kind is Kind.COCO_RESULTS and target.dataset is None:
        target = _default_dataset(obj, target)
        if target.kind is None:
            return _reject(obj, str(Kind.COCO_RESULTS), target.reason or "no dataset", now)
    doc = {
        **imports.new_report(obj.bucket, obj.name, obj.generation, kind=str(target.kind),
                             status=imports.RUNNING, now=now),
        "sizeBytes": obj.size,
        "runId": target.run_id,
        "dataset": target.dataset,
        **Progress().fields(),
        "leaseOwner": None,
        "leaseUntil": None,
    }  # fmt: skip
    return resume(imports.open_report(doc), deadline=deadline)


def _default_dataset(obj: StorageObject, target: Target) -> Target:
    """The dataset of a results file that names none: the one its report already holds (a
    redelivered event resumes as it began), else the only one with a COCO ground truth."""
    try:
        stored = imports.get_report(imports.report_id(obj.bucket, obj.name, obj.generation))
    except NotFound:
        stored = {}
    if stored.get("dataset"):
        return replace(target, dataset=str(stored["dataset"]))
    known = run_store.coco_datasets(limit=SHOWN_DATASETS + 1)
    return default_dataset(target, obj.name, known)


def _reject(obj: StorageObject, kind: str, reason: str, now: datetime) -> Outcome:
    doc = imports.new_report(
        obj.bucket, obj.name, obj.generation, kind=kind, status=imports.FAILED, now=now
    )
    doc.update(message=reason, errors=[], finishedAt=now)
    imports.open_report(doc)
    return Outcome(Action.REJECTED, obj.uri, obj.generation, str(doc["id"]), reason)


def resume(report: Mapping[str, Any], *, deadline: float) -> Outcome:
    """Continue one import from its cursor until it ends or ``deadline`` (time.monotonic)."""
    uri = f"gs://{report['bucket']}/{report['object']}"
    generation = int(report["generation"])
    if report.get("status") != imports.RUNNING:
        detail = f"import already {report.get('status')}"
        return Outcome(Action.UNCHANGED, uri, generation, report["id"], detail)
    owner = uuid.uuid4().hex
    now = datetime.now(UTC)
    until = now + timedelta(seconds=max(deadline - time.monotonic(), 0)) + LEASE_MARGIN
    leased = imports.acquire_lease(report["id"], owner, now=now, until=until)
    if leased is None:
        return Outcome(Action.BUSY, uri, generation, report["id"], "another worker holds it")
    job = _Import(report["id"], owner, leased, Progress.from_report(leased))
    try:
        return _run(job, deadline)
    except BaseException:
        # Whatever stopped this worker, the next delivery or tick may resume at once instead
        # of waiting for the lease to expire.
        _release_quietly(job)
        raise


def _run(job: _Import, deadline: float) -> Outcome:
    run_id = job.report.get("runId")
    try:
        if run_id is not None:
            generated_slices.ensure(run_id, build_seconds=SLICE_BUILD_SECONDS)
        steps = _STEPS[job.kind](job)
        for _ in steps:
            if time.monotonic() >= deadline:
                _close(job, status=None)
                return job.outcome(Action.CONTINUING, f"stopped at {job.progress.offset}")
    except storage.ObjectGone:
        message = f"the object was deleted after {job.progress.offset}, before it was read"
        _close(job, status=imports.FAILED, message=message)
        return job.outcome(Action.REJECTED, message)
    except coco.CocoError as bad:
        _close(job, status=imports.FAILED, message=str(bad))
        return job.outcome(Action.REJECTED, str(bad))
    except imports.LeaseLost:
        return job.outcome(Action.BUSY, "another worker took over this import")
    if run_id is not None:
        # Before the report is done: if this raises (slices kept changing), the redelivered
        # event finds the import still running and refreshes them then.
        generated_slices.ensure(run_id, build_seconds=SLICE_BUILD_SECONDS)
    _close(job, status=imports.DONE)
    p = job.progress
    detail = f"{p.lines_read} read: {p.rows_written} written, {p.lines_rejected} rejected"
    return job.outcome(Action.IMPORTED, detail)


def _save(job: _Import, progress: Progress, **extra: Any) -> None:
    """Record a chunk: the cursor, the counts and any extra report fields, conditionally."""
    job.extra |= extra
    job.report_written_at = imports.save_progress(
        job.report_id,
        job.owner,
        expected_offset=job.progress.offset,
        fields={**progress.fields(), **job.extra},
        now=datetime.now(UTC),
        written_at=job.report_written_at,
    )
    job.progress = progress


def _close(job: _Import, *, status: str | None, message: str | None = None) -> None:
    """Release the lease; with a status, finish the report."""
    imports.release(
        job.report_id,
        job.owner,
        expected_offset=job.progress.offset,
        now=datetime.now(UTC),
        status=status,
        message=message,
        written_at=job.report_written_at,
    )


def _release_quietly(job: _Import) -> None:
    try:
        _close(job, status=None)
    except (TransientError, imports.LeaseLost):
        log.warning("could not release the lease of import %s; it expires", job.report_id)


# ---- prediction files (NDJSON) ----------------------------------------------------------


def _predictions(job: _Import) -> Iterator[None]:
    report = job.report
    lines = storage.iter_lines(
        report["bucket"], report["object"], int(report["generation"]),
        size=int(report.get("sizeBytes") or 0), start=job.progress.offset,
        max_line_bytes=MAX_LINE_BYTES,
    )  # fmt: skip
    for chunk in uploads.chunks(lines, after_line=job.progress.line):
        landed, rejected = uploads.land(report["runId"], chunk.rows)
        errors = sorted(chunk.errors + rejected)
        _save(job, job.progress.advanced(offset=chunk.end, lines=chunk.lines, written=landed,
                                         blank=chunk.blank, errors=errors))  # fmt: skip
        yield


# ---- COCO files -------------------------------------------------------------------------


def _read_whole(job: _Import) -> bytes:
    report = job.report
    size = int(report.get("sizeBytes") or 0)
    if size > coco.MAX_COCO_BYTES:
        raise coco.CocoError(f"a COCO file may hold at most {coco.MAX_COCO_BYTES} bytes")
    data = storage.read_range(report["bucket"], report["object"], int(report["generation"]), 0,
                              size)  # fmt: skip
    if data is None:
        raise storage.ObjectGone
    return data


def _done_items(progress: Progress, items: int, written: int,
                errors: list[tuple[int, str]]) -> Progress:  # fmt: skip
    """Progress after ``items`` more COCO steps, of ``written`` lines and ``errors``.

    COCO cursors count steps: step 0 reports the entries that belong to no image, then one step
    per image. The line number is not used.
    """
    advanced = progress.advanced(
        offset=progress.offset + items, lines=written + len(errors), written=written, blank=0,
        errors=errors,
    )  # fmt: skip
    return replace(advanced, line=progress.line)


def _coco_instances(job: _Import) -> Iterator[None]:
    report = job.report
    truth = coco.parse_instances(_read_whole(job))
    dataset = str(report["dataset"])
    now = datetime.now(UTC)
    transient.call("create dataset", lambda: ensure_dataset(dataset, now=now))
    source = {"uri": job.uri, "generation": int(report["generation"])}
    # Only the first step takes the dataset's ground truth over: a resumed import must not
    # take it back from a newer file. None: a later generation of this file holds it.
    if job.progress.offset == 0:
        image_map = run_store.take_coco_ground_truth(dataset, truth.categories, source, now=now)
    else:
        image_map = report.get("imageMap")
    image_errors = [(n, r) for n, r in truth.errors if r.startswith("images")]
    annotation_errors = [(n, r) for n, r in truth.errors if not r.startswith("images")]
    job.extra |= {
        "annotations": truth.annotations,
        "crowdSkipped": truth.crowd,
        "annotationsRejected": len(annotation_errors),
        "annotationErrors": [
            error_entry(n, reason) for n, reason in annotation_errors[:MAX_REPORTED_ERRORS]
        ],
        "imageMap": image_map,
    }
    if job.progress.offset == 0:
        _save(job, _done_items(job.progress, 1, 0, image_errors))
        yield
    for first in range(job.progress.offset - 1, len(truth.images), COCO_CHUNK_IMAGES):
        chunk = truth.images[first : first + COCO_CHUNK_IMAGES]
        keys = ground_truth.land(report["bucket"], dataset, chunk, source, now)
        if image_map is not None:
            run_store.put_coco_images(dataset, keys, image_map=int(image_map))
        _save(job, _done_items(job.progress, len(chunk), len(chunk), []))
        yield
    # Results ignore the images of older maps already; this deletes them, a batch a step.
    while image_map is not None and run_store.drop_older_coco_images(
        dataset, image_map=int(image_map)
    ):
        yield


@dataclass
class _ImageDetections:
    """One image's entries of a results file: its good detections and its bad entries."""

    image_id: int
    entries: list[int] = field(default_factory=list)
    detections: list[coco.Detection] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)


def _group_by_image(
    entries: list[coco.Entry],
) -> tuple[list[_ImageDetections], list[tuple[int, str]]]:
    """Entries by image in order of first appearance; bad entries that name no image."""
    images: dict[int, _ImageDetections] = {}
    orphans: list[tuple[int, str]] = []
    for entry in entries:
        if entry.image_id is None:
            orphans.append((entry.number, entry.reason or "no image_id"))
            continue
        group = images.setdefault(entry.image_id, _ImageDetections(entry.image_id))
        if entry.detection is not None:
            group.entries.append(entry.number)
            group.detections.append(entry.detection)
        else:
            group.problems.append((entry.number, entry.reason or "invalid"))
    return list(images.values()), orphans


def _coco_results(job: _Import) -> Iterator[None]:
    report = job.report
    dataset, run_id = str(report["dataset"]), str(report["runId"])
    groups, orphans = _group_by_image(coco.parse_results(_read_whole(job)))
    truth = run_store.coco_ground_truth(dataset)
    if truth is None or not truth.categories:
        raise coco.CocoError(
            f"no COCO ground truth for dataset {dataset!r}: import its instances file "
            f"(imports/instances_{dataset}.json) first"
        )
    if job.progress.offset:  # resumed: the image map it began with, so its steps stay the same
        truth = replace(truth, image_map=int(report.get("imageMap") or truth.image_map))
    detected = {group.image_id for group in groups}
    known = run_store.coco_image_ids(dataset, image_map=truth.image_map)
    empty = [_ImageDetections(i) for i in known if i not in detected]
    work = groups + empty
    # Images without detections have no entry to report a rejection under: they are
    # reported by image id (counts and first errors carried on from the report when resumed).
    image_errors = list(report.get("imageErrors") or [])
    job.extra |= {
        "imageMap": truth.image_map,
        "imagesWithoutDetections": len(empty),
        "imagesRejected": int(report.get("imagesRejected") or 0),
        "imageErrors": image_errors,
    }
    if job.progress.offset == 0:
        _save(job, _done_items(job.progress, 1, 0, orphans))
        yield
    for first in range(job.progress.offset - 1, len(work), COCO_CHUNK_IMAGES):
        chunk = work[first : first + COCO_CHUNK_IMAGES]
        written, errors, lost = _land_results(run_id, dataset, chunk, truth)
        room = max(MAX_REPORTED_ERRORS - len(image_errors), 0)
        image_errors = image_errors + [{"imageId": i, "reason": r} for i, r in lost[:room]]
        rejected = job.extra["imagesRejected"] + len(lost)
        _save(job, _done_items(job.progress, len(chunk), written, errors),
              imagesRejected=rejected, imageErrors=image_errors)  # fmt: skip
        yield


def _land_results(
    run_id: str,
    dataset: str,
    chunk: list[_ImageDetections],
    truth: run_store.CocoTruth,
) -> tuple[int, list[tuple[int, str]], list[tuple[int, str]]]:
    """Write one chunk of images' detections; (detections written, rejected entries, rejected
    images without detections by image id)."""
    categories = truth.categories
    ids = [group.image_id for group in chunk]
    keys = run_store.coco_image_keys(dataset, ids, image_map=truth.image_map)
    errors: list[tuple[int, str]] = []
    lines: list[tuple[int, PredictionLine]] = []
    by_number: dict[int, _ImageDetections] = {}
    for group in chunk:
        problems = _group_problems(group, keys, categories, dataset)
        if problems:
            errors.extend(problems)
            continue
        # A line's number: its image's first entry (an image without detections has none).
        number = group.entries[0] if group.entries else -group.image_id - 1
        predictions = coco.predictions_of(group.detections, categories)
        line = PredictionLine(global_key=keys[group.image_id], predictions=predictions)
        lines.append((number, line))
        by_number[number] = group
    _, rejected = uploads.land(run_id, lines)
    lost: list[tuple[int, str]] = []
    for number, reason in rejected:
        group = by_number.pop(number)
        errors.extend((entry, reason) for entry in group.entries)
        if not group.entries:  # its data row is gone (deleted since the ground truth)
            lost.append((group.image_id, reason))
    written = sum(len(group.entries) for group in by_number.values())
    return written, sorted(errors), lost


def _group_problems(
    group: _ImageDetections,
    keys: Mapping[int, str],
    categories: Mapping[int, str],
    dataset: str,
) -> list[tuple[int, str]]:
    """Why an image's detections are rejected, per entry ([] when they land)."""
    if group.image_id not in keys:
        reason = f"unknown image_id {group.image_id} (not in the COCO ground truth of {dataset})"
        return [(entry, reason) for entry in [*group.entries, *(e for e, _ in group.problems)]]
    problems = list(group.problems)
    for entry, detection in zip(group.entries, group.detections, strict=True):
        if detection.category_id not in categories:
            problems.append((entry, f"unknown category_id {detection.category_id}"))
    if not problems:
        return []
    bad = {entry for entry, _ in problems}
    first = min(bad)
    collateral = [(entry, f"image {group.image_id} has a rejected detection (entry {first})")
                  for entry in group.entries if entry not in bad]  # fmt: skip
    return problems + collateral


_STEPS = {
    Kind.PREDICTIONS: _predictions,
    Kind.COCO_INSTANCES: _coco_instances,
    Kind.COCO_RESULTS: _coco_results,
}


def continue_imports(*, deadline: float, limit: int = 20) -> list[Outcome]:
    """Advance unfinished model-run imports until ``deadline`` (the scheduled function)."""
    outcomes = []
    for report in imports.unfinished(limit=limit, kinds=KINDS):
        outcomes.append(resume(report, deadline=deadline))
        if time.monotonic() >= deadline:
            break
    return outcomes
