"""The tool check that `make test` and `make run` run first, on the system Python."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from local import check_tools
from local.emulators import EmulatorMissing, sdk_root

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_392"', 8),
        ("no version here", None),
    ],
)
def test_java_major_reads_both_version_schemes(output: str, major: int | None) -> None:
    assert check_tools.java_major(output) == major


@pytest.fixture
def empty_sdk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A Google Cloud CLI install root without the emulator components."""
    (tmp_path / "platform").mkdir()
    monkeypatch.setenv("CLOUDSDK_ROOT_DIR", str(tmp_path))
    sdk_root.cache_clear()  # (the root is looked up once per process)
    yield tmp_path
    sdk_root.cache_clear()


def test_a_missing_emulator_is_named_with_how_to_install_it(empty_sdk: Path) -> None:
    with pytest.raises(EmulatorMissing) as missing:
        check_tools.check()
    assert "The Firestore emulator is not installed" in str(missing.value)
    assert "gcloud components install cloud-firestore-emulator pubsub-emulator" in str(
        missing.value
    )


def test_it_runs_without_any_installed_package() -> None:
    # -S: no site-packages, as with a system Python before the virtual environment exists.
    done = subprocess.run(
        [sys.executable, "-S", "-m", "local.check_tools"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "ModuleNotFoundError" not in done.stderr
    assert done.returncode in (0, 1)
