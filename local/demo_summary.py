"""The summary `make run` prints once the demo is loaded: what landed, the slices with their top
rows, and requests ready to paste."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.models import AutoSlice

if TYPE_CHECKING:
    from local.demo import DemoResult, RunResult

NAME_WIDTH = 22
_AUTO_ORDER = {str(kind): i for i, kind in enumerate(AutoSlice)}  # DESIGN section 7's order


def _stem(row: Mapping[str, Any]) -> str:
    """The row's file name without its folder and extension: ``digits/0047.png`` -> ``0047``."""
    key = str(row.get("dataRow", {}).get("globalKey") or row.get("id", "?"))
    return key.rsplit("/", 1)[-1].rsplit(".", 1)[0]


def _object_name(row: Mapping[str, Any]) -> str:
    """``gs://bucket/digits/0047.png`` -> ``digits/0047.png``."""
    parts = str(row.get("dataRow", {}).get("globalKey", "")).split("/", 3)
    return parts[3] if len(parts) == 4 else ""


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)


def _sort_metric(found: Mapping[str, Any]) -> str | None:
    """``metrics.recall asc`` -> ``recall``."""
    order = str(found.get("orderBy") or "")
    field = order.split(maxsplit=1)[0] if order else ""
    return field.removeprefix("metrics.") if field.startswith("metrics.") else None


def describe_row(row: Mapping[str, Any], sort_metric: str | None, flipped: bool) -> str:
    """A run's row in a few characters: for a classification ``0047 4→1 0.84!`` (label,
    prediction, confidence; ! when the demo flipped the label), for boxes ``0013 0/3/5 0.78``
    (tp/fp/fn, then the slice's sort value when it is not one of those)."""
    labels = row.get("dataRow", {}).get("labels") or []
    predictions = row.get("predictions") or []
    metrics = row.get("metrics") or {}
    if not any(label.get("bbox") for label in labels + predictions):
        said = ",".join(str(label["name"]) for label in labels) or "?"
        best = max(predictions, key=lambda p: p.get("confidence") or 0, default=None)
        answer = f"{best['name']} {_number(best.get('confidence'))}" if best else "?"
        return f"{_stem(row)} {said}→{answer}{'!' if flipped else ''}"
    text = f"{_stem(row)} " + "/".join(_number(metrics.get(k)) for k in ("tp", "fp", "fn"))
    if sort_metric and sort_metric not in ("tp", "fp", "fn"):
        text += f" {_number(metrics.get(sort_metric))}"
    return text


def _count(found: Mapping[str, Any]) -> str:
    return f"{int(found.get('rowCount') or 0):>6,}"


def _run_lines(entry: RunResult) -> list[str]:
    run, metrics = entry.run, entry.run.get("metrics") or {}
    classification = not any(image.labels[0].get("bbox") for image in entry.demo.images[:1])
    legend = (
        "file label→prediction confidence, ! = a label the demo flipped"
        if classification
        else "file tp/fp/fn, then the slice's sort value"
    )
    lines = [
        "",
        f'Model run "{run.get("name")}" on {entry.demo.dataset}: '
        f"{int(run.get('rowCount') or 0):,} rows, precision {_number(metrics.get('precision'))}, "
        f"recall {_number(metrics.get('recall'))}, f1 {_number(metrics.get('f1'))} "
        f"(scope modelRun:{run['id']})",
        f"  {'slice':<{NAME_WIDTH}} {'rows':>6}  top 3 ({legend})",
    ]
    ordered = sorted(entry.slices, key=lambda s: _AUTO_ORDER.get(str(s.get("auto")), 99))
    for found in ordered:
        rows = entry.top_rows.get(found["id"], [])
        described = "  ".join(
            describe_row(r, _sort_metric(found), _object_name(r) in entry.demo.flipped)
            for r in rows
        )
        name = found["name"] + ("" if found.get("auto") else " *")
        lines.append(f"  {name:<{NAME_WIDTH}} {_count(found)}  {described}".rstrip())
    return lines


def _curl(token: bool, *args: str) -> str:
    auth = ['-H "Authorization: Bearer $API_TOKEN"'] if token else []
    return "  " + " ".join(["curl -s", *auth, *args])


def examples(result: DemoResult, token: bool) -> list[str]:
    """Requests to paste as they are (URLs spelled out: no variable to set first)."""
    api = result.api
    lines = [_curl(token, shlex.quote(f"{api}/v1/slices?scope=catalog"))]
    mislabels = next(
        (s for e in result.runs for s in e.slices if s.get("auto") == "candidateMislabels"), None
    )
    if mislabels is not None:
        url = f"{api}/v1/slices/{mislabels['id']}/dataRows?pageSize=5"
        lines.append(_curl(token, shlex.quote(url)) + "   # explore a slice")
    if result.runs:
        run = result.runs[-1].run
        url = f"{api}/v1/modelRuns/{run['id']}/rows?orderBy=metrics.confidence&pageSize=5"
        lines.append(_curl(token, shlex.quote(url)) + "   # a run's rows, least sure first")
    adhoc = 'metadata.lighting = "night" AND labels.count >= 3'
    lines.append(
        _curl(token, "-G", shlex.quote(f"{api}/v1/dataRows"),
              "--data-urlencode", shlex.quote(f"filter={adhoc}"), "-d pageSize=5")
    )  # fmt: skip
    body = json.dumps(
        {"name": "Faint sevens", "filter": 'labels.classes CONTAINS "7" AND metadata.ink < 0.28'}
    )
    lines.append(
        _curl(token, "-X POST", shlex.quote(f"{api}/v1/slices"),
              "-H 'Content-Type: application/json'", "-d", shlex.quote(body))
    )  # fmt: skip
    return lines


def render(result: DemoResult, *, env_file: Path | None = None, token: bool = False) -> str:
    rows = sum(len(s.images) for s in result.sets)
    already = result.objects - result.uploaded
    lines = [
        f"Demo loaded in {result.seconds:.1f} s: {rows:,} rows in {len(result.sets)} datasets, "
        f"from {result.objects:,} objects in gs://{result.bucket} ({result.uploaded:,} uploaded"
        + (f", {already:,} already there)." if already else ")."),
    ]
    for demo in result.sets:
        flipped = f", {len(demo.flipped)} labels deliberately flipped" if demo.flipped else ""
        lines.append(f"  {demo.dataset:<8} {len(demo.images):>6,} images{flipped}")
    lines += ["", f"  {'Example slices':<{NAME_WIDTH}} {'rows':>6}  filter (catalog)"]
    for found in result.catalog_slices:
        lines.append(f"  {found['name']:<{NAME_WIDTH}} {_count(found)}  {found.get('filterText')}")
    if result.runs_unavailable:
        lines += ["", f"Model runs: not loaded ({result.runs_unavailable})."]
    for entry in result.runs:
        lines += _run_lines(entry)
    if result.runs:
        lines.append("  (* a slice the demo made; the nine others are generated for every run)")
    lines += ["", f"Try it: the API is at {result.api}", *examples(result, token)]
    if env_file is not None:
        lines.append(f"  source {env_file}   # SLICES_API, LANDING_BUCKET, the emulators")
    lines += [f"warning: {problem}" for problem in result.problems]
    return "\n".join(lines)
