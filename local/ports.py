"""The local stack's loopback ports: defaults, the variables that override them, conflicts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from local.emulators import HOST, port_in_use


@dataclass(frozen=True)
class PortSpec:
    name: str
    variable: str
    default: int


SPECS = (
    PortSpec("api", "API_PORT", 8080),
    PortSpec("firestore", "FIRESTORE_PORT", 8081),
    PortSpec("ingest", "INGEST_PORT", 8082),
    PortSpec("actions", "ACTIONS_PORT", 8083),
    PortSpec("pubsub", "PUBSUB_PORT", 8085),
    PortSpec("storage", "STORAGE_PORT", 4443),
)
VARIABLES = {spec.name: spec.variable for spec in SPECS}


class PortConfigError(ValueError):
    """A port variable is not a usable port, or two servers were given the same port."""


def from_env(environ: Mapping[str, str]) -> dict[str, int]:
    """Each server's port: its variable when set, else the default."""
    ports: dict[str, int] = {}
    for spec in SPECS:
        raw = environ.get(spec.variable, "").strip()
        if not raw:
            ports[spec.name] = spec.default
            continue
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            raise PortConfigError(f"{spec.variable}={raw!r} is not a port number (1-65535)")
        ports[spec.name] = int(raw)
    taken: dict[int, str] = {}
    for name, port in ports.items():
        if port in taken:
            raise PortConfigError(
                f"{VARIABLES[taken[port]]} and {VARIABLES[name]} are both {port}; "
                "give each server its own port"
            )
        taken[port] = name
    return ports


def conflicts(ports: Mapping[str, int], skip: frozenset[str] = frozenset()) -> list[str]:
    """One message per port that something else already listens on."""
    return [
        f"port {port} on {HOST} ({name}) is already in use: stop what holds it, "
        f"or choose another port with {VARIABLES[name]}=<port>"
        for name, port in ports.items()
        if name not in skip and port_in_use(port)
    ]
