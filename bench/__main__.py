"""Run benchmarks and record them in bench/RESULTS.md (see the package docstring)."""

from __future__ import annotations

import argparse
import importlib
import platform
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
HEADER = (
    "# Benchmark results\n\n"
    "Written by `python -m bench`; each section says how it was produced. Numbers are only\n"
    "comparable within one section (one run on one machine).\n"
)


def available() -> list[str]:
    return sorted(path.stem.removeprefix("bench_") for path in HERE.glob("bench_*.py"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all): {available()}")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args(argv)
    names = args.names or available()
    unknown = sorted(set(names) - set(available()))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; available: {available()}")
    command = " ".join(["python -m bench", *(["--quick"] if args.quick else []), *args.names])
    sections = _read_sections()
    for name in names:
        module = importlib.import_module(f"bench.bench_{name}")
        print(f"== {module.TITLE} ==", flush=True)
        body = module.run(args.quick).strip()
        print(body, flush=True)
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        where = f"Python {platform.python_version()}, {platform.machine()}"
        sections[name] = (
            f"## {module.TITLE}\n\nCommand: `{command}`; date: {stamp}; {where}.\n\n{body}\n"
        )
    RESULTS.write_text(HEADER + "".join(_wrap(name, sections[name]) for name in sorted(sections)))
    print(f"results written to {RESULTS.relative_to(HERE.parent)}")
    return 0


def _wrap(name: str, section: str) -> str:
    return f"\n<!-- bench:{name} -->\n{section}<!-- /bench:{name} -->\n"


def _read_sections() -> dict[str, str]:
    """The sections already recorded, so that running one benchmark keeps the others."""
    if not RESULTS.exists():
        return {}
    pattern = re.compile(r"<!-- bench:(\w+) -->\n(.*?)<!-- /bench:\1 -->", re.DOTALL)
    return {m.group(1): m.group(2) for m in pattern.finditer(RESULTS.read_text())}


if __name__ == "__main__":
    sys.exit(main())
