"""Check that Java and the Google Cloud CLI's emulators are installed, before anything else runs.

Standard library only, so that `make test` and `make run` can call it with the system Python and
fail at once, with install advice, instead of after minutes of installs. (The storage emulator
comes from PyPI with the virtual environment, so it is not checked here.)
"""

from __future__ import annotations

import re
import subprocess
import sys

from local.emulators import INSTALL_HINT, EmulatorMissing, _java, sdk_root

MIN_JAVA = 17
COMPONENTS = {
    "platform/cloud-firestore-emulator/cloud-firestore-emulator.jar": "The Firestore emulator",
    "platform/pubsub-emulator/bin/cloud-pubsub-emulator": "The Pub/Sub emulator",
}


def java_major(version_output: str) -> int | None:
    """The major version in `java -version`'s output: '17.0.15' -> 17, '1.8.0_392' -> 8."""
    found = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def check() -> None:
    """Raise EmulatorMissing, saying how to install it, for the first thing missing."""
    java = _java()
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    major = java_major(out.stderr + out.stdout)
    if major is None or major < MIN_JAVA:
        found = f"Java {major}" if major else "a Java whose version could not be read"
        raise EmulatorMissing(f"{found} is on the PATH; the emulators need {MIN_JAVA} or newer.")
    root = sdk_root()
    for component, what in COMPONENTS.items():
        if not (root / component).is_file():
            raise EmulatorMissing(f"{what} is not installed ({root / component}). {INSTALL_HINT}")


def main() -> int:
    try:
        check()
    except EmulatorMissing as missing:
        print(f"error: {missing}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
