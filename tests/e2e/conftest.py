"""End-to-end tier: the whole local stack (`python -m local.stack up`), once per session.

It runs on free ports in a temporary run directory, so it never clashes with a `make run` in
progress, and is stopped by PID at the end (its processes also die with the test run).
Firestore is not wiped between tests: the functions keep caches keyed by Firestore state (a
wipe would make them stale), so each test writes under a dataset of its own instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.cloud import storage

from local import ports
from local.bridge import Journal
from local.demo_client import Api, landing_bucket
from local.emulators import die_with_parent, free_port
from local.run_dir import RunDir
from local.stack import REPO, down

STARTUP_TIMEOUT = 180.0
# Variables from the developer's shell that must not leak into the stack under test.
SCRUBBED = (
    "FIRESTORE_EMULATOR_HOST", "STORAGE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "API_TOKEN",
    "GOOGLE_APPLICATION_CREDENTIALS",
)  # fmt: skip


@dataclass(frozen=True)
class RunningStack:
    run_dir: Path
    env: dict[str, str]  # what `.run/env` exports
    urls: dict[str, str]  # the functions that were started: api, ingest, actions
    functions: tuple[str, ...]
    startup_seconds: float

    @property
    def api(self) -> str:
        return self.env["SLICES_API"]

    @property
    def bucket(self) -> str:
        return self.env["LANDING_BUCKET"]

    @property
    def journal(self) -> Journal:
        return Journal(RunDir(self.run_dir).journal)

    def require(self, *functions: str) -> None:
        """Fail at once, saying so, when a function the test goes through was not started."""
        absent = [f"functions/{f}/main.py" for f in functions if f not in self.functions]
        if absent:
            pytest.fail(f"not in the stack (no such file when it started): {', '.join(absent)}")


def _distinct_free_ports(count: int) -> list[int]:
    chosen: list[int] = []
    while len(chosen) < count:
        port = free_port()
        if port not in chosen:
            chosen.append(port)
    return chosen


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    run_dir = tmp_path_factory.mktemp("run")
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    free = _distinct_free_ports(len(ports.SPECS))
    env.update({spec.variable: str(port) for spec, port in zip(ports.SPECS, free, strict=True)})
    output = run_dir / "stack.out"
    started = time.monotonic()
    with output.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "local.stack", "up", "--no-demo", "--run-dir", str(run_dir)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            process_group=0, preexec_fn=die_with_parent,  # noqa: PLW1509 (only calls prctl)
        )  # fmt: skip
    layout = RunDir(run_dir)
    try:
        while not layout.env_file.exists():
            if process.poll() is not None or time.monotonic() - started > STARTUP_TIMEOUT:
                pytest.fail(f"the local stack did not come up:\n{output.read_text()}")
            time.sleep(0.1)
        state = layout.read_state()
        yield RunningStack(
            run_dir=run_dir,
            env=layout.read_env(),
            urls=dict(state["urls"]),
            functions=tuple(state["functions"]),
            startup_seconds=time.monotonic() - started,
        )
    finally:
        process.terminate()  # the stack stops what it started
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        down(layout)  # anything left over, by recorded PID


@pytest.fixture(scope="session")
def bucket(stack: RunningStack) -> storage.Bucket:
    """The stack's landing bucket, through the google-cloud-storage client."""
    return landing_bucket(stack.env)


@pytest.fixture(scope="session")
def api(stack: RunningStack) -> Api:
    """A JSON client of the stack's API (plain HTTP)."""
    return Api(stack.api)
