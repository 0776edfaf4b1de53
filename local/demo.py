"""Demo data for `make run`: loads the demo into the running stack the way production data comes.

Everything enters through the landing bucket (images, label manifests, prediction files) and
the API (the metadata schema, slices, model runs); nothing writes Firestore directly. So the
data takes the production path: storage emulator -> notification -> bridge -> ingest ->
Firestore -> API. Steps, each idempotent:

1. declare the metadata fields (PATCH /v1/metadataSchema) and create the example catalog
   slices before any data, so that rows flow into the slices as they land; in the
   background, create the model runs with their generated and example slices;
2. upload the images with their metadata and wait until every row shows the uploaded
   generation; then the label manifests (``imports/*.ndjson``) and wait for the labels (an
   object already in the bucket with the same bytes and metadata is not uploaded again);
3. meanwhile, train the digits classifier (out-of-fold predictions);
4. upload the runs' predictions (``model-runs/<runId>/predictions.ndjson``) and wait until
   every row is scored and the nine generated slices of each run are ready;
5. create the example slices of the model runs, and print a summary.

The data is generated from fixed seeds (``local/demo_data.py``), so every load uploads the same
bytes. ``python -m local.demo`` loads it into a stack started with ``--no-demo``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TextIO, TypeVar

from local import demo_data, demo_summary
from local.demo_client import Api, ApiError, Upload, landing_bucket, sync
from local.demo_data import DemoSet
from local.run_dir import RunDir
from shared.ids import row_id

# The demo's size: small enough that `make run` is ready in well under a minute after the
# installs (every image is one storage event through the bridge and ingest).
DIGITS = 600
SHAPES = 100
WAIT_SECONDS = 240.0  # for the rows, and again for the model runs
POLL_SECONDS = 0.25
CHECK_WINDOW = 64  # rows checked per round, from the oldest still pending
CHECK_WORKERS = 4
NDJSON = "application/x-ndjson"
T = TypeVar("T")


@dataclass(frozen=True)
class SliceSpec:
    """An example slice the demo creates (once: slices are looked up by name)."""

    name: str
    filter: str
    description: str
    order_by: str | None = None

    def body(self, scope: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name, "description": self.description, "scope": scope,
            "filter": self.filter,
        }  # fmt: skip
        if self.order_by:
            body["orderBy"] = self.order_by
        return body


CATALOG_SLICES = (
    SliceSpec("Needs labels", "labels.count = 0",
              "Rows that landed without labels: upload an image of your own and it shows here.",
              "createdAt desc"),
    SliceSpec("Test digits", 'dataset = "digits" AND metadata.split = "test"',
              "The digits held out for testing."),
    SliceSpec("Faint digits", 'dataset = "digits" AND metadata.ink < 0.26',
              "Digits written with little ink."),
    SliceSpec("Crowded night scenes", 'metadata.lighting = "night" AND labels.count >= 4',
              "Dark scenes with four objects or more, most crowded first.", "labels.count desc"),
)  # fmt: skip
RUN_SLICES = {
    "digits": (
        SliceSpec("8 and 9 mixed up", 'labels.classes CONTAINS ANY ("8", "9") AND '
                  'predictions.classes CONTAINS ANY ("8", "9") AND metrics.fp > 0',
                  "Eights read as nines and nines as eights.", "metrics.confidence desc"),
    ),
    "shapes": (
        SliceSpec("Missed at night", 'metadata.lighting = "night" AND metrics.fn > 0',
                  "Night scenes where the detector missed objects, worst recall first.",
                  "metrics.recall asc"),
    ),
}  # fmt: skip


@dataclass
class Progress:
    """One status line, rewritten in place on a terminal and printed now and then otherwise."""

    out: TextIO
    every: float = 5.0
    _last: float = 0.0
    _width: int = 0

    def show(self, text: str, *, final: bool = False) -> None:
        tty = self.out.isatty()
        now = time.monotonic()
        if tty:
            self.out.write("\r" + text.ljust(self._width) + ("\n" if final else ""))
            self._width = 0 if final else len(text)
        elif final or now - self._last >= self.every:
            self.out.write(text + "\n")
            self._last = now
        self.out.flush()


@dataclass
class RunResult:
    """One model run as loaded: the run, and its slices (auto and examples) with top rows."""

    demo: DemoSet
    run: dict[str, Any]
    slices: list[dict[str, Any]] = field(default_factory=list)
    top_rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass
class DemoResult:
    """What one load did and found; ``complete`` is False when a wait timed out."""

    api: str
    bucket: str
    sets: list[DemoSet]
    uploaded: int = 0
    objects: int = 0
    catalog_slices: list[dict[str, Any]] = field(default_factory=list)
    runs: list[RunResult] = field(default_factory=list)
    runs_unavailable: str | None = None
    complete: bool = True
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


# ---- steps -------------------------------------------------------------------------------


def ensure_slices(
    api: Api, scope: dict[str, Any], specs: Sequence[SliceSpec]
) -> list[dict[str, Any]]:
    """The slices named by ``specs`` in ``scope``, created when missing (names are unique per
    scope, case-insensitively)."""
    scope_key = "catalog" if "catalog" in scope else f"modelRun:{scope['modelRun']}"
    existing = {
        s["name"].casefold(): s for s in api.list_all("/v1/slices", "slices", scope=scope_key)
    }
    found = []
    for spec in specs:
        current = existing.get(spec.name.casefold())
        if current is None:
            try:
                # Retried on 5xx: a failed try that did create the slice makes the next a 409.
                current = api.retrying(partial(api.post, "/v1/slices", spec.body(scope)))
            except ApiError as error:
                if error.status != 409:  # created by a try that failed, or by another load
                    raise
                current = next(
                    s for s in api.list_all("/v1/slices", "slices", scope=scope_key)
                    if s["name"].casefold() == spec.name.casefold()
                )  # fmt: skip
        found.append(current)
    return found


def image_uploads(demo: DemoSet) -> list[Upload]:
    """The images, with their metadata as object custom metadata (which is text)."""
    return [
        Upload(image.name, image.png, "image/png", {k: str(v) for k, v in image.metadata.items()})
        for image in demo.images
    ]


def _ndjson(lines: Sequence[Mapping[str, Any]]) -> bytes:
    return b"".join(
        json.dumps(line, sort_keys=True, separators=(",", ":")).encode() + b"\n" for line in lines
    )


def manifest_upload(demo: DemoSet, bucket: str) -> Upload:
    """One manifest line per image: its labels, and the same metadata as the object's, so the
    row ends the same whichever of the two lands last."""
    lines = [
        {
            "globalKey": demo.global_key(bucket, image),
            "rowData": demo.global_key(bucket, image),
            "dataset": demo.dataset,
            "metadata": image.metadata,
            "labels": image.labels,
        }
        for image in demo.images
    ]
    return Upload(demo.manifest_name(), _ndjson(lines), NDJSON)


def predictions_upload(demo: DemoSet, bucket: str, run_id: str) -> Upload:
    lines = [
        {"globalKey": demo.global_key(bucket, image), "predictions": image.predictions}
        for image in demo.images
    ]
    return Upload(f"model-runs/{run_id}/predictions.ndjson", _ndjson(lines), NDJSON)


@dataclass(frozen=True)
class Expected:
    """What a landed row must show: the image's generation, then its number of labels."""

    generation: int
    labels: int | None = None  # None: not checked (the manifest is not uploaded yet)


def _row_landed(api: Api, rid: str, expected: Expected) -> bool:
    try:
        row = api.get(f"/v1/dataRows/{rid}")
    except ApiError as error:
        if error.status == 404:
            return False
        raise
    if str(row.get("generation")) != str(expected.generation):
        return False
    return expected.labels is None or len(row.get("labels") or []) == expected.labels


def wait_for_rows(
    api: Api, expected: Mapping[str, Expected], progress: Callable[[int], None], timeout: float
) -> list[str]:
    """Poll the rows, oldest upload first, until each has landed; the ids still missing."""
    pending = list(expected)
    deadline = time.monotonic() + timeout
    with ThreadPoolExecutor(CHECK_WORKERS, thread_name_prefix="check") as pool:
        while pending and time.monotonic() < deadline:
            window = pending[:CHECK_WINDOW]
            landed = pool.map(lambda rid: _row_landed(api, rid, expected[rid]), window)
            done = {rid for rid, ok in zip(window, landed, strict=True) if ok}
            pending = [rid for rid in pending if rid not in done]
            progress(len(expected) - len(pending))
            if len(done) < len(window):
                time.sleep(POLL_SECONDS)
    return pending


def _build_until_ready(
    api: Api, slices: list[dict[str, Any]], deadline: float
) -> list[dict[str, Any]]:
    """Advance builds that are still running (the scheduler does it too, when it runs)."""
    result = []
    for found in slices:
        current = found
        while current.get("status") != "ready" and time.monotonic() < deadline:
            current = api.retrying(partial(api.post, f"/v1/slices/{current['id']}:build", None))
        result.append(api.get(f"/v1/slices/{current['id']}"))
    return result


# ---- model runs --------------------------------------------------------------------------


def model_runs_available(api: Api) -> str | None:
    """None when the API serves model runs, else why not."""
    try:
        api.get("/v1/modelRuns", pageSize=1)
    except ApiError as error:
        if error.status in (404, 405):
            return "this API does not serve /v1/modelRuns yet"
        raise
    return None


def ensure_run(api: Api, body: Mapping[str, Any]) -> dict[str, Any]:
    for run in api.list_all("/v1/modelRuns", "modelRuns"):
        if run.get("name") == body["name"]:
            return run
    created: dict[str, Any] = api.post("/v1/modelRuns", dict(body))
    return created


def wait_for_run(
    api: Api, run_id: str, rows: int, progress: Callable[[int], None], timeout: float
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Poll the run until all its rows have metrics and its nine generated slices are ready."""
    deadline = time.monotonic() + timeout
    while True:
        run = api.get(f"/v1/modelRuns/{run_id}")
        progress(int(run.get("rowCount") or 0))
        slices = [
            s for s in api.list_all("/v1/slices", "slices", scope=f"modelRun:{run_id}")
            if s.get("auto")
        ]  # fmt: skip
        if int(run.get("rowCount") or 0) >= rows and len(slices) >= 9:
            slices = _build_until_ready(api, slices, deadline)
            if all(s.get("status") == "ready" for s in slices):
                return run, slices
        if time.monotonic() > deadline:
            return run, slices
        time.sleep(POLL_SECONDS * 2)


def top_rows(api: Api, slice_id: str, count: int = 3) -> list[dict[str, Any]]:
    """The first rows of a run's slice in its order, each with its predictions and metrics."""
    page = api.get(f"/v1/slices/{slice_id}/dataRows", pageSize=count)
    rows: list[dict[str, Any]] = page.get("modelRunRows") or []
    return rows


# ---- the whole load ----------------------------------------------------------------------


def in_background(work: Callable[..., T], *args: Any) -> Future[T]:
    """``work(*args)`` on a daemon thread: when Ctrl-C stops the stack in the middle of a
    load, the process exits at once instead of waiting for it."""
    future: Future[T] = Future()

    def run() -> None:
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(work(*args))
            except BaseException as error:  # handed to whoever waits on it
                future.set_exception(error)

    threading.Thread(
        target=run, name=f"demo-{getattr(work, '__name__', 'work')}", daemon=True
    ).start()
    return future


@dataclass
class Catalog:
    """Lands the sets in the catalog: images first, then, once their rows are there, the label
    manifests. (A manifest's rows are written in chunks of up to 500 in one commit, which
    fails whenever one of its rows changes meanwhile: landing it while the same rows' images
    are still arriving only makes it retry.)"""

    api: Api
    bucket: Any  # google.cloud.storage.Bucket
    result: DemoResult
    line: Progress
    timeout: float
    sent: int = 0

    def _count(self, n: int) -> None:
        self.sent += n
        self.line.show(f"demo: uploading... {self.sent:,} objects")

    def _put(self, uploads: list[Upload]) -> dict[str, int]:
        generations, uploaded = sync(self.bucket, uploads, on_upload=self._count)
        self.result.uploaded += uploaded
        self.result.objects += len(uploads)
        return generations

    def _wait(self, expected: Mapping[str, Expected], what: str) -> bool:
        total = len(expected)

        def landed(count: int) -> None:
            self.line.show(f"demo: {count:,}/{total:,} {what}")

        missing = wait_for_rows(self.api, expected, landed, self.timeout)
        self.line.show(f"demo: {total - len(missing):,}/{total:,} {what}", final=True)
        if missing:
            self.result.complete = False
            self.result.problems.append(
                f"{len(missing)} rows not {what} after {self.timeout:.0f} s (e.g. GET "
                f"/v1/dataRows/{missing[0]}); see .run/logs/ingest.log and bridge.log"
            )
        return not missing

    def land(self, sets: Sequence[DemoSet]) -> None:
        self.result.sets = list(sets)
        name = self.bucket.name
        generations = self._put([u for s in sets for u in image_uploads(s)])
        expected = {
            row_id(s.global_key(name, image)): Expected(generations[image.name])
            for s in sets
            for image in s.images
        }
        if not self._wait(expected, "images landed"):
            return
        self._put([manifest_upload(s, name) for s in sets])
        labelled = {
            row_id(s.global_key(name, image)): Expected(generations[image.name], len(image.labels))
            for s in sets
            for image in s.images
        }
        self._wait(labelled, "rows labelled")


def load(
    env: Mapping[str, str],
    *,
    digits: int | None = DIGITS,
    shapes: int = SHAPES,
    out: TextIO | None = None,
    timeout: float = WAIT_SECONDS,
    env_file: Path | None = None,
) -> DemoResult:
    """Load the demo into the running stack and print a summary; ``digits`` and ``shapes``
    size it (None: all 1,797 digits).

    ``env`` holds what `.run/env` holds: STORAGE_EMULATOR_HOST, LANDING_BUCKET, SLICES_API,
    FIRESTORE_EMULATOR_HOST, PUBSUB_EMULATOR_HOST and GOOGLE_CLOUD_PROJECT. API_TOKEN, when
    set in this process's environment, is sent as a bearer token.
    """
    out = out or sys.stdout
    started = time.monotonic()
    api = Api(env["SLICES_API"], os.environ.get("API_TOKEN") or None)
    bucket = landing_bucket(env)
    line = Progress(out)
    result = DemoResult(api=api.base, bucket=bucket.name, sets=[])
    line.show("demo: generating the data...")

    # In the background while the images land: the classifier trains (its predictions are
    # needed only once the rows are there), and the model runs are made with their slices.
    predicted = in_background(demo_data.digits, digits)
    shape_set = demo_data.shapes(shapes)
    digit_set = demo_data.digits(digits, predictions=False)
    api.wait_ready()
    api.patch("/v1/metadataSchema", {"fields": demo_data.SCHEMA})
    # The catalog's slices before any data: rows get their membership as they land.
    result.catalog_slices = ensure_slices(api, {"catalog": {}}, CATALOG_SLICES)
    result.runs_unavailable = model_runs_available(api)
    runs = None
    if result.runs_unavailable is None:
        # One run after the other: side by side, their slices' builds contend in Firestore.
        runs = in_background(lambda: [prepare_run(api, s) for s in (shape_set, digit_set)])
    Catalog(api, bucket, result, line, timeout).land([shape_set, digit_set])
    result.catalog_slices = _build_until_ready(
        api, result.catalog_slices, time.monotonic() + timeout
    )
    result.sets = [shape_set, predicted.result()]
    if runs is not None and result.complete:
        if not runs.done():
            line.show("demo: waiting for the model runs' slices to be made...")
        try:
            made = runs.result(timeout=timeout)
        except TimeoutError:
            result.complete = False
            result.problems.append(f"the model runs were not made in {timeout:.0f} s")
        else:
            load_runs(api, bucket, result, made, line=line, timeout=timeout)
    result.seconds = time.monotonic() - started
    out.write(demo_summary.render(result, env_file=env_file, token=api.token is not None) + "\n")
    out.flush()
    return result


def prepare_run(api: Api, demo_set: DemoSet) -> dict[str, Any]:
    """The set's run (created when missing), with its nine generated slices and the demo's
    example slices in its scope."""
    run = ensure_run(api, demo_set.run)
    # The import of the predictions would make them too; made first, they are only found.
    api.retrying(partial(api.post, f"/v1/modelRuns/{run['id']}/slices:generate", None))
    ensure_slices(api, {"modelRun": run["id"]}, RUN_SLICES.get(demo_set.dataset, ()))
    return run


def load_runs(
    api: Api,
    bucket: Any,
    result: DemoResult,
    made: Sequence[Mapping[str, Any]],
    *,
    line: Progress,
    timeout: float,
) -> None:
    """Upload each set's predictions to its run and wait until they are scored."""
    runs = list(zip(result.sets, made, strict=True))
    uploads = [predictions_upload(demo_set, bucket.name, run["id"]) for demo_set, run in runs]
    _, uploaded = sync(bucket, uploads)
    result.uploaded += uploaded
    result.objects += len(uploads)
    deadline = time.monotonic() + timeout
    for demo_set, created in runs:
        rows = len(demo_set.images)

        def scored(
            n: int, final: bool = False, name: str = created["name"], rows: int = rows
        ) -> None:
            line.show(f"demo: model run {name}: {n:,}/{rows:,} rows scored", final=final)

        run, auto = wait_for_run(api, created["id"], rows, scored, deadline - time.monotonic())
        scored(int(run.get("rowCount") or 0), final=True)
        if len(auto) < 9 or any(s.get("status") != "ready" for s in auto):
            result.complete = False
            result.problems.append(
                f"model run {run['name']}: not all rows scored or slices ready after "
                f"{timeout:.0f} s; see .run/logs/ingest.log"
            )
        examples = ensure_slices(api, {"modelRun": run["id"]}, RUN_SLICES.get(demo_set.dataset, ()))
        examples = _build_until_ready(api, examples, time.monotonic() + timeout)
        entry = RunResult(demo_set, run, slices=[*auto, *examples])
        for found in entry.slices:
            entry.top_rows[found["id"]] = top_rows(api, found["id"])
        result.runs.append(entry)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.demo",
        description="Load the demo data into a running local stack (started with --no-demo).",
    )
    parser.add_argument(
        "--run-dir", type=Path, default=Path(__file__).resolve().parent.parent / ".run"
    )
    parser.add_argument("--digits", type=int, default=DIGITS, help=f"default: {DIGITS} (of 1,797)")
    parser.add_argument("--shapes", type=int, default=SHAPES, help=f"default: {SHAPES}")
    args = parser.parse_args(argv)
    run = RunDir(args.run_dir.resolve())
    if not run.env_file.exists():
        print(f"No local stack is ready ({run.env_file} does not exist): `make run` first.")
        return 2
    result = load(run.read_env(), digits=args.digits, shapes=args.shapes, env_file=run.env_file)
    return 0 if result.complete else 1


if __name__ == "__main__":
    sys.exit(main())
