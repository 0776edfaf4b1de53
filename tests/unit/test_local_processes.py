"""The local stack's ports and PID records: the messages a user sees, and what gets stopped."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from local import ports
from local.emulators import HOST
from local.run_dir import Recorded, RunDir, is_alive, start_ticks, terminate


def test_ports_default_and_move_with_their_variables() -> None:
    assert ports.from_env({}) == {
        "api": 8080, "firestore": 8081, "ingest": 8082,
        "actions": 8083, "pubsub": 8085, "storage": 4443,
    }  # fmt: skip
    assert ports.from_env({"API_PORT": " 9080 "})["api"] == 9080


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"API_PORT": "http"}, "API_PORT='http' is not a port number (1-65535)"),
        ({"STORAGE_PORT": "70000"}, "STORAGE_PORT='70000' is not a port number"),
        ({"API_PORT": "8081"}, "API_PORT and FIRESTORE_PORT are both 8081; give each server"),
    ],
)
def test_a_bad_port_variable_is_named(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ports.PortConfigError, match=re.escape(message)):
        ports.from_env(environ)


@pytest.fixture
def listener() -> Iterator[int]:
    with socket.socket() as held:
        held.bind((HOST, 0))
        held.listen()
        yield held.getsockname()[1]


def test_a_port_in_use_says_which_server_and_which_variable_moves_it(listener: int) -> None:
    with socket.socket() as spare:
        spare.bind((HOST, 0))
        free = spare.getsockname()[1]
    problems = ports.conflicts({"api": listener, "ingest": free})
    assert problems == [
        f"port {listener} on {HOST} (api) is already in use: stop what holds it, "
        "or choose another port with API_PORT=<port>"
    ]
    assert ports.conflicts({"api": listener}, skip=frozenset({"api"})) == []


def _sleeper() -> subprocess.Popen[bytes]:
    # A process group of its own, as the stack starts every server.
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                            start_new_session=True)  # fmt: skip


def test_terminate_stops_a_recorded_process_and_its_group(tmp_path: Path) -> None:
    process = _sleeper()
    run = RunDir(tmp_path)
    run.prepare()
    run.record("sleeper", process.pid)
    (record,) = run.recorded()
    assert is_alive(record)
    assert terminate(record, timeout=5)
    assert process.wait(timeout=5) != 0
    assert not is_alive(record)


def test_a_stale_record_stops_nothing(tmp_path: Path) -> None:
    process = _sleeper()
    ticks = start_ticks(process.pid)
    assert ticks is not None
    try:
        # The same PID with another start time: a reused PID, not the process recorded.
        reused = Recorded("sleeper", process.pid, ticks + 1)
        assert not is_alive(reused)
        assert not terminate(reused, timeout=1)
        assert process.poll() is None
    finally:
        process.kill()
        process.wait()
    # The process itself, once it has exited: nothing to stop.
    assert not terminate(Recorded("sleeper", process.pid, ticks), timeout=1)
