"""The `.run/` directory of a local stack: env file, PIDs, logs, state and the bridge's journal.

PIDs are recorded with the process's start time (from /proc), so that a stale file never makes
us signal an unrelated process that happens to have been given the same PID later.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.emulators import signal_group


@dataclass(frozen=True)
class Recorded:
    """One process the stack started, as written in the PID file."""

    name: str
    pid: int
    start_ticks: int


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name, or None if there is no such PID."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """When the process started (clock ticks since boot): a PID plus this names one process."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def is_alive(record: Recorded) -> bool:
    """True while the recorded process runs (a zombie or a reused PID is not it)."""
    fields = _stat_fields(record.pid)
    if fields is None:
        return False
    return fields[0] != "Z" and int(fields[19]) == record.start_ticks


def terminate(record: Recorded, timeout: float = 10.0) -> bool:
    """SIGTERM the recorded process, SIGKILL it if it lingers; False if it was not running."""
    if not is_alive(record):
        return False
    signal_group(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while is_alive(record) and time.monotonic() < deadline:
        time.sleep(0.05)
    if is_alive(record):
        signal_group(record.pid, signal.SIGKILL)
    return True


class RunDir:
    """Paths and records under one run directory (`.run/` by default)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.env_file = path / "env"
        self.pids_file = path / "pids"
        self.state_file = path / "stack.json"
        self.logs = path / "logs"
        self.journal = path / "bridge-events.ndjson"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def prepare(self) -> None:
        """Create the directory and start this run's logs and journal from empty."""
        self.logs.mkdir(parents=True, exist_ok=True)
        for old in [*self.logs.glob("*.log"), self.journal]:
            old.unlink(missing_ok=True)

    def record(self, name: str, pid: int) -> None:
        """Append a started process to the PID file (written as we go, so `down` can stop a
        half-started stack too)."""
        ticks = start_ticks(pid)
        with self.pids_file.open("a") as out:
            out.write(f"{name} {pid} {ticks if ticks is not None else -1}\n")

    def recorded(self) -> list[Recorded]:
        try:
            lines = self.pids_file.read_text().splitlines()
        except FileNotFoundError:
            return []
        records = []
        for line in lines:
            parts = line.split()
            if len(parts) == 3 and parts[1].isdigit():
                records.append(Recorded(parts[0], int(parts[1]), int(parts[2])))
        return records

    def stack_process(self) -> Recorded | None:
        """The running supervisor of this run directory, if any."""
        for record in self.recorded():
            if record.name == "stack" and is_alive(record):
                return record
        return None

    def write_env(self, values: Mapping[str, str]) -> None:
        """The shell file users `source`; written last, atomically, so it exists only when the
        stack is ready."""
        lines = ["# The local stack's endpoints: `source` this file to drive it."]
        lines += [f"export {key}={value}" for key, value in values.items()]
        _write_atomically(self.env_file, "\n".join(lines) + "\n")

    def read_env(self) -> dict[str, str]:
        values = {}
        for line in self.env_file.read_text().splitlines():
            if line.startswith("export ") and "=" in line:
                key, value = line.removeprefix("export ").split("=", 1)
                values[key] = value
        return values

    def write_state(self, state: Mapping[str, Any]) -> None:
        _write_atomically(self.state_file, json.dumps(state, indent=2) + "\n")

    def read_state(self) -> dict[str, Any]:
        try:
            loaded: dict[str, Any] = json.loads(self.state_file.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return loaded

    def clear(self) -> None:
        """Forget the stopped stack (its logs and journal stay for a post-mortem)."""
        for path in (self.env_file, self.pids_file, self.state_file):
            path.unlink(missing_ok=True)


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    temporary.replace(path)
