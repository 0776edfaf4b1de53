"""The local Cloud Scheduler: call the actions function every N seconds.

In production a Cloud Scheduler job POSTs to the actions function every few minutes with an
OIDC token; each call runs due slice actions and advances background jobs (slice membership
builds, metric recomputes). Locally the stack runs this loop instead, with a shorter period so
that builds finish while you watch, and without a token (the emulated stack has no IAM).
A tick that fails is logged and the loop goes on, as the scheduler's next run would.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time

from local.bridge import http_post

log = logging.getLogger("scheduler")

# What Cloud Scheduler sends along with an HTTP target's body.
HEADERS = {"Content-Type": "application/json", "User-Agent": "Google-Cloud-Scheduler"}


def tick(url: str, timeout: float) -> int | None:
    """One scheduler run: POST ``{}``; the HTTP status, or None if the function did not answer."""
    started = time.monotonic()
    try:
        status = http_post(url, HEADERS, b"{}", timeout)
    except OSError as error:
        log.warning("tick: %s did not answer (%s)", url, error)
        return None
    log.info("tick: HTTP %d in %.2fs", status, time.monotonic() - started)
    return status


def run(url: str, every: float, stop: threading.Event, timeout: float = 600.0) -> None:
    """Tick every ``every`` seconds (measured start to start; a slow tick delays the next)."""
    while not stop.is_set():
        started = time.monotonic()
        tick(url, timeout)
        stop.wait(max(0.0, every - (time.monotonic() - started)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.scheduler", description=__doc__)
    parser.add_argument("--url", required=True, help="the actions function's URL")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between ticks")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    run(args.url, args.every, threading.Event())  # until the stack stops it (SIGTERM)
    return 0


if __name__ == "__main__":
    sys.exit(main())
