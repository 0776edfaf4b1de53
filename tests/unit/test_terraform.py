"""Security and packaging invariants of the deployment, read from the Terraform files offline.

`terraform validate` needs the provider (a download); these checks need only the .tf text,
parsed with python-hcl2. References such as ``google_service_account.ingest.email`` stay strings
of the form ``${...}``, which is what the assertions compare.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest

from local import package
from shared.filters import FieldRegistry, Scope
from shared.filters.fields import METRIC_NAMES
from shared.services.ordering import ID_FIELD, sort_fields

TERRAFORM = Path(__file__).resolve().parents[2] / "terraform"
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
OPTIONS = hcl2.SerializationOptions(
    strip_string_quotes=True, explicit_blocks=False, with_comments=False
)


def _load() -> dict[str, list[dict[str, Any]]]:
    """Top-level blocks of every .tf file, by block type."""
    merged: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(TERRAFORM.glob("*.tf")):
        with path.open() as handle:
            parsed = hcl2.load(handle, serialization_options=OPTIONS)
        for kind, blocks in parsed.items():
            merged.setdefault(kind, []).extend(blocks)
    return merged


CONFIG = _load()


def resources(kind: str) -> dict[str, dict[str, Any]]:
    """Resources of one type, by name."""
    found: dict[str, dict[str, Any]] = {}
    for block in CONFIG.get("resource", []):
        for name, body in block.get(kind, {}).items():
            found[name] = body
    return found


def all_resources() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for block in CONFIG.get("resource", []):
        for kind, named in block.items():
            for name, body in named.items():
                yield kind, name, body


def strings(value: Any) -> Iterator[str]:
    """Every string inside a parsed value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def one(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(blocks) == 1
    return blocks[0]


def variables() -> dict[str, dict[str, Any]]:
    return {name: body for block in CONFIG["variable"] for name, body in block.items()}


def locals_() -> dict[str, Any]:
    return {name: value for block in CONFIG["locals"] for name, value in block.items()}


def test_terraform_files_parse_into_resources() -> None:
    assert len(list(all_resources())) > 20


def test_nothing_is_granted_to_the_public() -> None:
    # Everything but the variables, whose validation text names the refused members.
    for kind, blocks in CONFIG.items():
        if kind == "variable":
            continue
        for text in strings(blocks):
            for public in PUBLIC_MEMBERS:
                assert public not in text, f"a {kind} block mentions {public}"


def test_api_invoker_validation_refuses_public_members() -> None:
    validation = one(variables()["api_invoker_members"]["validation"])
    pattern = re.search(r'regex\("(.+?)", member\)', validation["condition"])
    assert pattern is not None
    # HCL escapes backslashes in strings; this pattern has none, so RE2 and re read it alike.
    allowed = re.compile(pattern.group(1))
    for public in PUBLIC_MEMBERS:
        assert not allowed.search(public)
    assert allowed.search("group:ml-team@example.com")
    assert allowed.search("serviceAccount:ci@p.iam.gserviceaccount.com")


def test_every_bucket_is_private_and_iam_only() -> None:
    buckets = resources("google_storage_bucket")
    assert set(buckets) == {"landing", "exports", "sources"}
    for name, bucket in buckets.items():
        assert bucket["uniform_bucket_level_access"] is True, name
        assert bucket["public_access_prevention"] == "enforced", name


def test_landing_bucket_keeps_versions() -> None:
    landing = resources("google_storage_bucket")["landing"]
    assert one(landing["versioning"])["enabled"] is True


def test_each_function_runs_as_its_own_service_account() -> None:
    functions = resources("google_cloudfunctions2_function")
    accounts = resources("google_service_account")
    assert set(functions) == {"ingest", "slices", "actions"}
    runtime = {}
    for name, function in functions.items():
        email = one(function["service_config"])["service_account_email"]
        match = re.fullmatch(r"\$\{google_service_account\.(\w+)\.email\}", email)
        assert match, f"{name} must run as a service account declared here"
        assert match.group(1) in accounts
        runtime[name] = match.group(1)
        assert one(function["build_config"])["entry_point"] == name
    assert len(set(runtime.values())) == len(runtime), runtime
    builders = {one(f["build_config"])["service_account"] for f in functions.values()}
    assert builders == {"${google_service_account.builder.id}"}
    assert "builder" not in runtime.values()


def test_event_and_scheduled_functions_take_internal_traffic_only() -> None:
    functions = resources("google_cloudfunctions2_function")
    for name in ("ingest", "actions"):
        assert one(functions[name]["service_config"])["ingress_settings"] == "ALLOW_INTERNAL_ONLY"


def test_scheduler_calls_actions_with_an_oidc_token_of_its_own_account() -> None:
    jobs = resources("google_cloud_scheduler_job")
    assert jobs
    actions_uri = "${google_cloudfunctions2_function.actions.service_config[0].uri}"
    for job in jobs.values():
        target = one(job["http_target"])
        assert "oauth_token" not in target
        token = one(target["oidc_token"])
        assert target["uri"] == actions_uri
        assert token["audience"] == actions_uri
        assert token["service_account_email"] == "${google_service_account.scheduler.email}"


def test_only_the_scheduler_invokes_actions_and_it_invokes_nothing_else() -> None:
    scheduler = "${google_service_account.scheduler.member}"
    actions = "${google_cloudfunctions2_function.actions.name}"
    grants = [
        (kind, body)
        for kind, _, body in all_resources()
        if kind.endswith("_iam_member") and body.get("member") == scheduler
    ]
    assert [(kind, body["name"], body["role"]) for kind, body in grants] == [
        ("google_cloud_run_v2_service_iam_member", actions, "roles/run.invoker")
    ]
    invokers = [
        body["member"]
        for kind, _, body in all_resources()
        if kind == "google_cloud_run_v2_service_iam_member" and body["name"] == actions
    ]
    assert invokers == [scheduler]


def test_landing_events_reach_ingest_for_all_three_types() -> None:
    types = set(locals_()["landing_event_types"].values())
    assert types == {
        f"google.cloud.storage.object.v1.{event}" for event in ("finalized", "deleted", "archived")
    }
    trigger = resources("google_eventarc_trigger")["landing"]
    destination = one(one(trigger["destination"])["cloud_run_service"])
    assert destination["service"] == "${google_cloudfunctions2_function.ingest.name}"
    assert trigger["service_account"] == "${google_service_account.ingest.email}"


def test_function_sources_are_named_by_content_hash() -> None:
    objects = resources("google_storage_bucket_object")
    assert set(objects) == {"source"}
    source = objects["source"]
    path = source["source"]
    assert re.search(r"\$\{filemd5\(\"" + re.escape(path) + r"\"\)\}", source["name"]), source
    for kind, name, body in all_resources():
        for text in strings(body):
            assert "timestamp()" not in text, f"{kind}.{name} depends on the clock"
    for function in resources("google_cloudfunctions2_function").values():
        storage = one(one(one(function["build_config"])["source"])["storage_source"])
        assert re.fullmatch(
            r'\$\{google_storage_bucket_object\.source\["\w+"\]\.name\}', storage["object"]
        )


def _sort_paths(scope: Scope) -> set[str]:
    """Document paths of the fields the API sorts rows by in ``scope`` (id needs no index)."""
    registry = FieldRegistry(scope)
    return {registry.lookup(f).document_path for f in sort_fields(registry) if f != ID_FIELD}


def test_explore_indexes_cover_every_sort_field_the_api_accepts() -> None:
    declared = locals_()
    assert tuple(declared["metric_names"]) == METRIC_NAMES
    catalog = set(declared["catalog_sort_paths"])
    model_run = (
        catalog
        | set(declared["model_run_only_sort_paths"])
        | {f"metrics.{name}" for name in declared["metric_names"]}
    )
    assert catalog == _sort_paths(Scope.CATALOG)
    assert model_run == _sort_paths(Scope.MODEL_RUN)
    assert declared["explore_sort_fields"] == {
        "dataRows": "${local.catalog_sort_paths}",
        "rows": "${local.model_run_sort_paths}",
    }
    assert resources("google_firestore_index")["composite"]["for_each"] == (
        "${local.composite_indexes}"
    )


def test_exploring_a_slice_by_id_descending_has_its_index() -> None:
    """``id desc`` sorts on the ``id`` field (shared/services/ordering.py), after sliceIds."""
    indexes = locals_()["id_descending_indexes"]
    assert "for collection in keys(local.explore_sort_fields)" in indexes
    assert (
        '[{field_path = "sliceIds", order = null, array_config = "CONTAINS"}, '
        '{field_path = "id", order = "DESCENDING", array_config = null}]'
    ) in indexes
    assert "local.id_descending_indexes" in locals_()["composite_indexes"]


def _composite_index_count() -> int:
    """How many entries ``local.composite_indexes`` holds, from the lists it is built of."""
    declared = locals_()
    sort_fields = {
        "dataRows": declared["catalog_sort_paths"],
        "rows": [
            *declared["catalog_sort_paths"],
            *declared["model_run_only_sort_paths"],
            *declared["metric_names"],
        ],
    }
    assert set(declared["explore_sort_fields"]) == set(sort_fields)
    merged = declared["composite_indexes"]
    assert merged.startswith(
        "${merge(local.explore_indexes, local.id_descending_indexes, local.import_report_indexes, {"
    )
    literal = re.findall(r'"[\w.]+" = \{collection = "\w+"', merged)
    explore = sum(2 * len(fields) for fields in sort_fields.values())  # both directions
    import_reports = len(re.findall(r'"(\w+)"', declared["import_report_indexes"].split("]")[0]))
    return explore + len(sort_fields) + import_reports + len(literal)


def test_the_deployment_guide_states_the_number_of_composite_indexes() -> None:
    guide = (TERRAFORM.parent / "docs" / "deployment.md").read_text()
    stated = re.findall(r"(\d+) composite indexes in all", guide)
    assert stated == [str(_composite_index_count())]


def test_import_report_lists_have_their_indexes() -> None:
    """shared/store/imports.py list_reports: ``object ==`` or ``kind ==``, createdAt desc."""
    indexes = locals_()["import_report_indexes"]
    assert 'for field in ["object", "kind"]' in indexes
    assert 'collection = "importReports"' in indexes
    assert (
        '[{field_path = field, order = "ASCENDING", array_config = null}, '
        '{field_path = "createdAt", order = "DESCENDING", array_config = null}]'
    ) in indexes
    assert "local.import_report_indexes" in locals_()["composite_indexes"]


def test_large_arrays_are_unindexed_and_slice_entry_times_are_not() -> None:
    unindexed = {(f["collection"], f["field"]) for f in locals_()["unindexed_fields"].values()}
    assert unindexed == {
        ("dataRows", "labels"),
        ("rows", "labels"),
        ("rows", "predictions"),
        ("rows", "classCounts"),
        ("modelRuns", "classTotals"),
    }
    for kind, name, body in all_resources():
        if kind == "google_firestore_field":
            assert "sliceEnteredAt" not in list(strings(body)), name


def test_every_variable_is_typed_described_and_validated() -> None:
    for name, variable in variables().items():
        assert variable.get("type"), name
        assert variable.get("description"), name
        if variable["type"] != "bool":
            assert variable.get("validation"), f"{name} has no validation"


def test_providers_are_pinned() -> None:
    terraform = one(CONFIG["terraform"])
    providers = one(terraform["required_providers"])
    assert providers
    for name, spec in providers.items():
        assert re.match(r"^~> \d+\.\d+$", spec["version"]), name


FAKE_SOURCES = {
    "functions/ingest/main.py": b"import shared\n",
    "functions/ingest/__pycache__/main.cpython-311.pyc": b"x",
    "shared/__init__.py": b"",
    "shared/store/rows.py": b"ROWS = 1\n",
    "shared/store/rows.pyc": b"x",
    "shared/.hidden": b"x",
    "requirements.txt": b"pydantic==2.14.4\n",
}


def _fake_project(root: Path, *, reverse: bool = False, mtime: int | None = None) -> None:
    for name in sorted(FAKE_SOURCES, reverse=reverse):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(FAKE_SOURCES[name])
        if mtime is not None:
            os.utime(path, (mtime, mtime))


def test_package_is_reproducible_and_holds_only_sources(tmp_path: Path) -> None:
    _fake_project(tmp_path / "a")
    first = package.build("ingest", tmp_path / "out1", tmp_path / "a")
    # The same sources, written in another order with other times, give the same bytes.
    _fake_project(tmp_path / "b", reverse=True, mtime=1_000_000_000)
    second = package.build("ingest", tmp_path / "out2", tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        names = archive.namelist()
    assert names == ["main.py", "requirements.txt", "shared/__init__.py", "shared/store/rows.py"]


def test_package_changes_when_a_source_changes(tmp_path: Path) -> None:
    _fake_project(tmp_path)
    before = package.md5_hex(package.build("ingest", tmp_path / "out", tmp_path))
    (tmp_path / "shared" / "store" / "rows.py").write_text("ROWS = 2\n")
    after = package.md5_hex(package.build("ingest", tmp_path / "out", tmp_path))
    assert before != after


def test_package_refuses_a_function_without_main(tmp_path: Path) -> None:
    _fake_project(tmp_path)
    with pytest.raises(package.PackageError, match=r"main\.py"):
        package.build("slices", tmp_path / "out", tmp_path)
