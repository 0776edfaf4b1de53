"""The local stack on loopback emulators: ``python -m local.stack up|down|status``.

``up`` starts, in the foreground until Ctrl-C or ``down``:

- the Firestore, Pub/Sub and storage (fake-gcs-server) emulators; the storage emulator publishes
  the landing bucket's object notifications to a Pub/Sub topic;
- the functions present under ``functions/`` on functions-framework (slices = the API, ingest,
  actions), with the emulators' variables in their environment;
- the bridge (``local/bridge.py``), our stand-in for Eventarc: notifications -> CloudEvents ->
  the ingest function;
- when the actions function exists, the scheduler loop (``local/scheduler.py``) that stands in
  for Cloud Scheduler;
- then the demo data hook (``local/demo.py``), unless ``--no-demo``.

Everything it starts is recorded in ``.run/pids`` and stopped by PID; each process logs to
``.run/logs/<name>.log``; ``.run/env`` is written once all is ready.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from google.api_core.exceptions import GoogleAPIError

from local import demo, emulators, ports
from local.bridge import ACK_DEADLINE_SECONDS
from local.run_dir import RunDir, is_alive, terminate

REPO = Path(__file__).resolve().parent.parent
PROJECT = "demo-slices"  # a demo- project id can never reach a real Google Cloud project
LANDING_BUCKET = "demo-slices-landing"
EXPORT_BUCKET = "demo-slices-exports"
NOTIFICATIONS_TOPIC = "landing-notifications"
BRIDGE_SUBSCRIPTION = "eventarc-ingest"
SLICE_ACTIONS_TOPIC = "slice-actions"
# The actions function signs webhooks; locally with a fixed key that protects nothing.
LOCAL_WEBHOOK_SIGNING_KEY = "local-stack-only-not-a-secret"
SCHEDULE_VARIABLE = "ACTIONS_EVERY_SECONDS"
DEFAULT_SCHEDULE_SECONDS = 10.0
READY_TIMEOUT = 90.0


@dataclass(frozen=True)
class Function:
    """One Cloud Function as functions-framework serves it."""

    name: str  # the directory under functions/, the entry point, the process and log name
    signature: str  # functions-framework's --signature-type
    port_name: str  # its entry in ports.SPECS

    @property
    def source(self) -> Path:
        return REPO / "functions" / self.name / "main.py"


FUNCTIONS = (
    Function("slices", "http", "api"),
    Function("ingest", "cloudevent", "ingest"),
    Function("actions", "http", "actions"),
)


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: stop what was started."""


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


def _shown(path: Path) -> str:
    """A path relative to the working directory when it is under it (shorter to read)."""
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd()))
    return str(path)


def _tail(path: Path | None, lines: int = 15) -> str:
    if path is None or not path.exists():
        return ""
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join(f"    {line}" for line in text)


class Stack:
    """What one ``up`` started, in start order, so that it can all be stopped."""

    def __init__(self, run: RunDir, port_map: dict[str, int]) -> None:
        self.run = run
        self.ports = port_map
        self.functions = [f for f in FUNCTIONS if f.source.is_file()]
        self.servers: list[emulators.Emulator] = []
        self.helpers: dict[str, subprocess.Popen[bytes]] = {}

    # --- addresses ------------------------------------------------------------------------

    def host(self, name: str) -> str:
        return f"{emulators.HOST}:{self.ports[name]}"

    def url(self, name: str) -> str:
        return f"http://{self.host(name)}"

    def env(self) -> dict[str, str]:
        """What `.run/env` exports and every function sees."""
        return {
            "FIRESTORE_EMULATOR_HOST": self.host("firestore"),
            "STORAGE_EMULATOR_HOST": self.url("storage"),
            "PUBSUB_EMULATOR_HOST": self.host("pubsub"),
            "SLICES_API": self.url("api"),
            "LANDING_BUCKET": LANDING_BUCKET,
            "GOOGLE_CLOUD_PROJECT": PROJECT,
        }

    def function_env(self, function: Function) -> dict[str, str]:
        env = self.env()
        del env["SLICES_API"]
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        if function.name == "actions":  # as terraform/functions.tf configures it
            env["EXPORT_BUCKET"] = EXPORT_BUCKET
            env["SLICE_ACTIONS_TOPIC"] = f"projects/{PROJECT}/topics/{SLICE_ACTIONS_TOPIC}"
            env["WEBHOOK_SIGNING_KEY"] = LOCAL_WEBHOOK_SIGNING_KEY
            # Production waits 120 s for late commits before a row counts as arrived; locally
            # nothing commits that late, and a user trying ':run' should not wait two minutes.
            env["ACTIONS_SETTLE_SECONDS"] = os.environ.get("ACTIONS_SETTLE_SECONDS", "5")
        return env

    def used_ports(self) -> dict[str, int]:
        present = {f.port_name for f in self.functions}
        optional = {f.port_name for f in FUNCTIONS}
        return {n: p for n, p in self.ports.items() if n not in optional or n in present}

    def state(self) -> dict[str, object]:
        return {
            "pid": os.getpid(),
            "startedAt": datetime.now(UTC).isoformat(),
            "ports": self.used_ports(),
            "urls": {f.port_name: self.url(f.port_name) for f in self.functions},
            "functions": [f.name for f in self.functions],
            "env": self.env(),
        }  # fmt: skip

    # --- starting -------------------------------------------------------------------------

    def _track(self, server: emulators.Emulator) -> emulators.Emulator:
        self.servers.append(server)
        self.run.record(server.name, server.pid)
        return server

    def _start_helper(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        with self.run.log(name).open("ab") as log:
            process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, **env, "PYTHONUNBUFFERED": "1"}, cwd=REPO, process_group=0,
                preexec_fn=emulators.die_with_parent,  # noqa: PLW1509 (only calls prctl)
            )  # fmt: skip
        self.helpers[name] = process
        self.run.record(name, process.pid)

    def _start_function(self, function: Function) -> emulators.Emulator:
        executable = Path(sys.executable).parent / "functions-framework"
        argv = [
            str(executable), "--target", function.name, "--source", str(function.source),
            "--signature-type", function.signature,
            "--host", emulators.HOST, "--port", str(self.ports[function.port_name]),
        ]  # fmt: skip
        return emulators.spawn(
            function.name, argv, self.ports[function.port_name], self.function_env(function),
            self.run.log(function.name), any_status=True, cwd=REPO,
        )  # fmt: skip

    def start(self) -> None:
        """Start everything; each server boots while the next is launched (all from this
        thread: the parent-death signal follows the thread that spawned)."""
        firestore = self._track(
            emulators.start_firestore(
                self.ports["firestore"], self.run.log("firestore"), wait=False
            )
        )
        pubsub = self._track(
            emulators.start_pubsub(self.ports["pubsub"], self.run.log("pubsub"), wait=False)
        )
        functions = [self._track(self._start_function(f)) for f in self.functions]

        # The Pub/Sub client takes most of a second to import: do it while the emulators boot.
        import google.cloud.pubsub_v1  # noqa: F401, PLC0415

        pubsub.wait_ready(60)
        create_topics(pubsub.host)
        storage = self._track(
            emulators.start_storage(
                self.ports["storage"],
                self.run.log("storage"),
                wait=False,
                log_level="info",
                pubsub_host=pubsub.host,
                pubsub_project=PROJECT,
                pubsub_topic=NOTIFICATIONS_TOPIC,
            )
        )
        self._start_bridge()
        storage.wait_ready(30)
        create_buckets(self.url("storage"))
        firestore.wait_ready(60)
        for server in functions:
            server.wait_ready(READY_TIMEOUT)
        if any(f.name == "actions" for f in self.functions):
            self._start_scheduler()

    def _start_bridge(self) -> None:
        ingest = self.url("ingest") + "/"
        argv = [
            sys.executable, "-m", "local.bridge", "run",
            "--subscription", f"projects/{PROJECT}/subscriptions/{BRIDGE_SUBSCRIPTION}",
            "--target", ingest, "--bucket", LANDING_BUCKET, "--journal", str(self.run.journal),
        ]  # fmt: skip
        self._start_helper("bridge", argv, {"PUBSUB_EMULATOR_HOST": self.host("pubsub")})

    def _start_scheduler(self) -> None:
        every = float(os.environ.get(SCHEDULE_VARIABLE) or DEFAULT_SCHEDULE_SECONDS)
        argv = [
            sys.executable, "-m", "local.scheduler",
            "--url", self.url("actions") + "/", "--every", str(every),
        ]  # fmt: skip
        self._start_helper("scheduler", argv, {})

    # --- running and stopping -------------------------------------------------------------

    def processes(self) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
        for server in self.servers:
            yield server.name, server.process, server.log_path or self.run.log(server.name)
        for name, process in self.helpers.items():
            yield name, process, self.run.log(name)

    def supervise(self) -> int:
        """Wait for Ctrl-C or SIGTERM (raised as Interrupted); a process that dies ends it."""
        while True:
            for name, process, log in self.processes():
                if process.poll() is not None:
                    print(
                        f"\n{name} exited with code {process.returncode}; the end of {_shown(log)}:"
                    )
                    print(_tail(log))
                    return 1
            time.sleep(0.5)

    def stop(self) -> None:
        """Helpers and functions first (they use the emulators), then the emulators; SIGTERM
        to each group at once, SIGKILL to what lingers."""
        emulator_names = {"firestore", "pubsub", "storage"}
        everything = list(self.processes())
        for group in (
            [p for n, p, _ in everything if n not in emulator_names],
            [p for n, p, _ in everything if n in emulator_names],
        ):
            for process in group:
                if process.poll() is None:
                    emulators.signal_group(process.pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            for process in group:
                emulators.stop_process(process, max(0.1, deadline - time.monotonic()))


def create_topics(pubsub_host: str) -> None:
    """The notification topic (before the storage emulator publishes to it), the bridge's
    subscription, and the topic the actions function publishes to."""
    from google.api_core.exceptions import AlreadyExists  # noqa: PLC0415 (slow imports)
    from google.cloud import pubsub_v1  # noqa: PLC0415

    os.environ["PUBSUB_EMULATOR_HOST"] = pubsub_host
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    try:
        for topic in (NOTIFICATIONS_TOPIC, SLICE_ACTIONS_TOPIC):
            with contextlib.suppress(AlreadyExists):
                publisher.create_topic(name=publisher.topic_path(PROJECT, topic))
        with contextlib.suppress(AlreadyExists):
            subscriber.create_subscription(
                request={
                    "name": subscriber.subscription_path(PROJECT, BRIDGE_SUBSCRIPTION),
                    "topic": publisher.topic_path(PROJECT, NOTIFICATIONS_TOPIC),
                    "ack_deadline_seconds": ACK_DEADLINE_SECONDS,
                }
            )
    finally:
        subscriber.close()
        publisher.transport.close()


def create_buckets(storage_url: str) -> None:
    """The landing and export buckets. Unlike production, the landing bucket has no object
    versioning: fake-gcs-server emits no event at all for a delete in a versioned bucket (and
    cannot emit `archived`), so locally a delete arrives as `deleted`."""
    for bucket in (LANDING_BUCKET, EXPORT_BUCKET):
        request = urllib.request.Request(  # noqa: S310 (our loopback emulator)
            f"{storage_url}/storage/v1/b?project={PROJECT}",
            data=json.dumps({"name": bucket}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass


def banner(stack: Stack, seconds: float) -> str:
    run, logs = stack.run, stack.run.log
    lines = [
        f"Local stack ready in {seconds:.1f} s (project {PROJECT}).",
    ]
    described = {
        "slices": "API (functions/slices)",
        "ingest": "ingest (CloudEvents)",
        "actions": "actions (scheduled)",
    }
    for f in FUNCTIONS:
        if f in stack.functions:
            lines.append(
                f"  {described[f.name]:<24} {stack.url(f.port_name):<24} log {_shown(logs(f.name))}"
            )
        else:
            lines.append(
                f"  {described[f.name]:<24} not started: {_shown(f.source)} does not exist"
            )
    lines += [
        f"  {'bridge (Eventarc)':<24} {'storage -> ingest':<24} log {_shown(logs('bridge'))}",
        f"  {'':<24} {'':<24} journal {_shown(run.journal)}",
        f"  {'emulators':<24} Firestore {stack.host('firestore')}, Pub/Sub {stack.host('pubsub')}, "
        f"storage {stack.url('storage')}",
        f"  {'landing bucket':<24} gs://{LANDING_BUCKET}",
        f"Drive it:  source {_shown(run.env_file)}   (then e.g. curl $SLICES_API/v1/datasets)",
        "Stop it:   Ctrl-C here, or `make stop` from another terminal.",
    ]
    return "\n".join(lines)


def up(run: RunDir, load_demo: bool) -> int:
    started = time.monotonic()
    running = run.stack_process()
    if running:
        state = run.read_state()
        api = state.get("urls", {}).get("api", "")
        print(f"The local stack is already up (pid {running.pid}{', API ' + api if api else ''}).")
        print(f"`source {_shown(run.env_file)}` to drive it; `make stop` stops it.")
        return 0
    _stop_recorded(run, quiet=True)  # leftovers of a stack that did not stop cleanly

    try:
        port_map = ports.from_env(os.environ)
    except ports.PortConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    run.prepare()
    stack = Stack(run, port_map)
    problems = ports.conflicts(stack.used_ports())
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        print("(is another local stack running? `make stop` stops it)", file=sys.stderr)
        return 2
    for missing in (f for f in FUNCTIONS if f not in stack.functions):
        print(f"note: {_shown(missing.source)} does not exist yet; {missing.name} is not started")

    run.record("stack", os.getpid())
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    code = 0
    try:
        print("Starting the emulators and the functions...", flush=True)
        stack.start()
        run.write_state(stack.state())
        if load_demo:
            demo.load(stack.env())
        run.write_env(stack.env())
        print(banner(stack, time.monotonic() - started), flush=True)
        code = stack.supervise()
    except Interrupted:
        pass
    # The demo's API errors are RuntimeErrors; its uploads raise GoogleAPIError.
    except (RuntimeError, OSError, GoogleAPIError) as error:
        print(f"error: {error}", file=sys.stderr)
        for name, process, log in stack.processes():
            if process.poll() is not None:
                print(f"{name} exited; the end of {_shown(log)}:\n{_tail(log)}", file=sys.stderr)
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the stopping finish
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("Stopping the local stack...", flush=True)
        stack.stop()
        run.clear()
        print("Stopped.")
    return code


def _stop_recorded(run: RunDir, quiet: bool = False) -> int:
    """Stop every recorded process by PID: the supervisor first (it stops its own), then
    whatever is still alive; the number of processes that were running."""
    records = run.recorded()
    stopped = 0
    for record in sorted(records, key=lambda r: r.name != "stack"):
        if terminate(record, timeout=40 if record.name == "stack" else 10):
            stopped += 1
            if not quiet:
                print(f"stopped {record.name} (pid {record.pid})")
    run.clear()
    return stopped


def down(run: RunDir) -> int:
    if not run.recorded():
        print("The local stack is not running.")
        return 0
    stopped = _stop_recorded(run)
    print("The local stack is stopped." if stopped else "The local stack was not running.")
    return 0


def status(run: RunDir) -> int:
    records = run.recorded()
    running = run.stack_process()
    if not records:
        print("The local stack is not running.")
        return 3
    state_ports = run.read_state().get("ports", {})
    for record in records:
        alive = "running" if is_alive(record) else "stopped"
        port = state_ports.get("api" if record.name == "slices" else record.name)
        where = f"{emulators.HOST}:{port}" if port else ""
        log = _shown(run.log(record.name)) if record.name != "stack" else ""
        print(f"{record.name:<10} pid {record.pid:<8} {alive:<8} {where:<16} {log}")
    if running and run.env_file.exists():
        print(f"ready: source {_shown(run.env_file)}")
        return 0
    print("starting" if running else "not running (stale records; `make stop` clears them)")
    return 0 if running else 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.stack", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--no-demo", action="store_true", help="up: skip loading demo data")
    parser.add_argument("--run-dir", type=Path, default=REPO / ".run", help="default: .run/")
    args = parser.parse_args(argv)
    run = RunDir(args.run_dir.resolve())
    if args.command == "up":
        return up(run, load_demo=not args.no_demo)
    if args.command == "down":
        return down(run)
    return status(run)


if __name__ == "__main__":
    sys.exit(main())
