"""Build the function source zips: ``dist/<function>.zip``, byte-identical for identical sources.

Each zip holds the function's own files (``main.py``), the project's ``requirements.txt`` and the
``shared/`` package beside ``main.py``: what Cloud Functions installs and imports. Terraform names
the uploaded object by the zip's MD5, so a zip must change only when its content does: entries
sorted, one fixed timestamp and mode, no caches or hidden files, and stored uncompressed, since
deflate output differs between zlib builds and would change the hash from machine to machine.

Usage: ``python -m local.package [--out dist] [ingest slices actions]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

FUNCTIONS = ("ingest", "slices", "actions")
ROOT = Path(__file__).resolve().parent.parent

# 1980-01-01 is the earliest time a zip entry can carry.
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644  # a regular file, rw-r--r--
UNIX = 3  # the zip "made by" system: fixed so the archive does not depend on the build host
SKIPPED_DIRS = frozenset({"__pycache__"})
SKIPPED_SUFFIXES = frozenset({".pyc", ".pyo"})


class PackageError(Exception):
    """The sources of a function are missing or would collide inside its zip."""


def _wanted(path: Path, top: Path) -> bool:
    parts = path.relative_to(top).parts
    if any(part.startswith(".") or part in SKIPPED_DIRS for part in parts):
        return False
    return path.suffix not in SKIPPED_SUFFIXES


def _tree(top: Path, prefix: str) -> dict[str, Path]:
    return {
        prefix + path.relative_to(top).as_posix(): path
        for path in top.rglob("*")
        if path.is_file() and _wanted(path, top)
    }


def source_files(function: str, root: Path = ROOT) -> dict[str, Path]:
    """Name inside the zip -> file on disk, for one function."""
    function_dir = root / "functions" / function
    if not (function_dir / "main.py").is_file():
        raise PackageError(f"{function_dir / 'main.py'} is missing")
    files = _tree(function_dir, "")
    for reserved in ("requirements.txt", "shared"):
        if any(name == reserved or name.startswith(reserved + "/") for name in files):
            raise PackageError(f"functions/{function}/{reserved} would shadow the project's own")
    requirements = root / "requirements.txt"
    if not requirements.is_file():
        raise PackageError(f"{requirements} is missing")
    files["requirements.txt"] = requirements
    files.update(_tree(root / "shared", "shared/"))
    return files


def write_zip(files: dict[str, Path], target: Path) -> None:
    """Write ``files`` to ``target`` reproducibly; the file appears only once complete."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".zip.tmp")
    os.close(handle)
    try:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_STORED) as archive:
            for name in sorted(files):
                info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
                info.create_system = UNIX
                info.external_attr = FILE_MODE << 16
                info.compress_type = zipfile.ZIP_STORED
                archive.writestr(info, files[name].read_bytes())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def build(function: str, out_dir: Path, root: Path = ROOT) -> Path:
    """Build ``<out_dir>/<function>.zip`` and return its path."""
    target = out_dir / f"{function}.zip"
    write_zip(source_files(function, root), target)
    return target


def md5_hex(path: Path) -> str:
    """The digest Terraform's ``filemd5`` gives, which names the uploaded object."""
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the function source zips.")
    parser.add_argument(
        "functions", nargs="*", help=f"any of {', '.join(FUNCTIONS)} (default: all)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output directory")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.functions) - set(FUNCTIONS))
    if unknown:
        parser.error(f"unknown function(s): {', '.join(unknown)}")
    try:
        for function in args.functions or FUNCTIONS:
            path = build(function, args.out)
            print(f"{path}  {md5_hex(path)}")
    except PackageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
