"""Benchmarks: ``python -m bench [--quick] [name ...]`` runs ``bench/bench_<name>.py``.

Each module exposes ``TITLE: str`` and ``run(quick: bool) -> str`` returning a Markdown section
whose numbers are ratios against a baseline measured in the same run (machines are noisy:
compare within one run, repeat, take medians). The runner prints each section and records it
in ``bench/RESULTS.md`` with the command and the date, keeping the sections it did not run.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def cpu_seconds(action: Callable[[], object]) -> float:
    """The process CPU time ``action`` takes: less disturbed than wall time on a busy machine."""
    start = time.process_time()
    action()
    return time.process_time() - start


def median_time(action: Callable[[], object], repeat: int) -> float:
    """The median CPU time of ``action`` in seconds over ``repeat`` runs."""
    return statistics.median(cpu_seconds(action) for _ in range(repeat))
