"""The summary `make run` prints once the demo is loaded: counts, slices with their top rows,
and requests ready to paste."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.demo import DemoResult, RunResult

NAME_WIDTH = 22


def _object_name(row: Mapping[str, Any], bucket: str) -> str:
    key = str(row.get("globalKey", row.get("id", "?")))
    prefix = f"gs://{bucket}/"
    return key[len(prefix) :] if key.startswith(prefix) else key


def _data_row(row: Mapping[str, Any]) -> Mapping[str, Any]:
    """A model-run row nests its data row; a catalog row is one."""
    nested = row.get("dataRow")
    return nested if isinstance(nested, Mapping) else row


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return "-" if value is None else str(value)


def describe_row(row: Mapping[str, Any], bucket: str, sort_metric: str | None) -> str:
    """One row in a few words: its file, and what the model made of it."""
    data = _data_row(row)
    name = _object_name(data, bucket).rsplit("/", 1)[-1]
    labels = data.get("labels") or []
    predictions = row.get("predictions") or []
    metrics = row.get("metrics") or {}
    if labels and all(not label.get("bbox") for label in labels):  # classification
        said = ",".join(str(label["name"]) for label in labels)
        best = max(predictions, key=lambda p: p.get("confidence") or 0, default=None)
        if best is None:
            return f"{name} {said}→?"
        return f"{name} {said}→{best['name']} {_number(best.get('confidence'))}"
    counts = "/".join(_number(metrics.get(k)) for k in ("tp", "fp", "fn"))
    text = f"{name} tp/fp/fn {counts}"
    if sort_metric and sort_metric not in ("tp", "fp", "fn"):
        text += f" {sort_metric} {_number(metrics.get(sort_metric))}"
    return text


def _sort_metric(found: Mapping[str, Any]) -> str | None:
    order = str(found.get("orderBy") or "")
    field = order.split(maxsplit=1)[0] if order else ""
    return field.removeprefix("metrics.") if field.startswith("metrics.") else None


def _count(found: Mapping[str, Any]) -> str:
    return f"{int(found.get('rowCount') or 0):>6,}"


def _run_lines(entry: RunResult, bucket: str) -> list[str]:
    run = entry.run
    lines = [
        "",
        f'Model run "{run.get("name")}" on {entry.demo.dataset} (scope modelRun:{run["id"]}), '
        f"{int(run.get('rowCount') or 0):,} rows:",
        f"  {'slice':<{NAME_WIDTH}} {'rows':>6}  top 3 rows",
    ]
    for found in entry.slices:
        rows = entry.top_rows.get(found["id"], [])
        marker = "" if found.get("auto") else " *"
        described = " · ".join(
            describe_row(r, bucket, _sort_metric(found))
            + (
                " (flipped)"
                if _data_row(r).get("globalKey", "").endswith(_flipped(entry, r))
                else ""
            )
            for r in rows
        )
        lines.append(f"  {found['name'] + marker:<{NAME_WIDTH}} {_count(found)}  {described}")
    return lines


def _flipped(entry: RunResult, row: Mapping[str, Any]) -> str:
    """The row's object name when its label was deliberately flipped, else a string no key ends
    with."""
    key = str(_data_row(row).get("globalKey", ""))
    for name in entry.demo.flipped:
        if key.endswith("/" + name):
            return name
    return "\0"


def _curl(api: str, token: bool, *args: str) -> str:
    auth = ['-H "Authorization: Bearer $API_TOKEN"'] if token else []
    return " ".join(["curl -s", *auth, *args])


def examples(result: DemoResult, token: bool) -> list[str]:
    api = result.api
    lines = [f"  {_curl(api, token, f'{api}/v1/datasets')}"]
    mislabels = next(
        (s for e in result.runs for s in e.slices if s.get("auto") == "candidateMislabels"), None
    )
    if mislabels is not None:
        url = shlex.quote(f"{api}/v1/slices/{mislabels['id']}/dataRows?pageSize=5")
        lines.append(f"  {_curl(api, token, url)}")
    catalog = next(iter(result.catalog_slices), None)
    if catalog is not None:
        lines.append(f"  {_curl(api, token, f'{api}/v1/slices?scope=catalog')}")
    adhoc = 'metadata.lighting = "night" AND labels.count >= 3'
    lines.append(
        "  " + _curl(api, token, "-G", f"{api}/v1/dataRows",
                     "--data-urlencode", shlex.quote(f"filter={adhoc}"), "-d pageSize=5")
    )  # fmt: skip
    body = json.dumps(
        {"name": "Faint sevens", "filter": 'labels.classes CONTAINS "7" AND metadata.ink < 0.25'}
    )
    lines.append(
        "  " + _curl(api, token, "-X POST", f"{api}/v1/slices",
                     "-H 'Content-Type: application/json'", "-d", shlex.quote(body))
    )  # fmt: skip
    return lines


def render(result: DemoResult, *, env_file: Path | None = None, token: bool = False) -> str:
    rows = sum(len(s.images) for s in result.sets)
    lines = [
        f"Demo loaded in {result.seconds:.1f} s: {rows:,} rows in {len(result.sets)} datasets, "
        f"from {result.objects:,} objects in gs://{result.bucket} "
        f"({result.uploaded:,} uploaded now, the rest were already there).",
    ]
    for demo in result.sets:
        flipped = f", {len(demo.flipped)} labels deliberately flipped" if demo.flipped else ""
        lines.append(f"  {demo.dataset:<8} {len(demo.images):>6,} images{flipped}")
    lines += ["", "Example slices (catalog):"]
    for found in result.catalog_slices:
        lines.append(f"  {found['name']:<{NAME_WIDTH}} {_count(found)}  {found.get('filterText')}")
    if result.runs_unavailable:
        lines += ["", f"Model runs: not loaded ({result.runs_unavailable})."]
    for entry in result.runs:
        lines += _run_lines(entry, result.bucket)
    if result.runs:
        lines.append("  (* an example slice the demo made; the others are generated for each run)")
    lines += ["", f"Try it (the API is at {result.api}):", *examples(result, token)]
    if env_file is not None:
        lines.append(f"  source {env_file}   # then the Google Cloud clients use the emulators")
    for problem in result.problems:
        lines.append(f"warning: {problem}")
    return "\n".join(lines)


def flipped_in(rows: Sequence[Mapping[str, Any]], flipped: frozenset[str]) -> int:
    """How many of these rows carry a deliberately flipped label."""
    return sum(
        1
        for row in rows
        if any(str(_data_row(row).get("globalKey", "")).endswith("/" + n) for n in flipped)
    )
