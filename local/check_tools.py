"""Check that the emulators and Java are installed; exit non-zero with install advice if not."""

from __future__ import annotations

import sys

from local.emulators import EmulatorMissing, _java, fake_gcs_binary, sdk_root


def main() -> int:
    try:
        _java()
        root = sdk_root()
        for component in (
            "platform/cloud-firestore-emulator/cloud-firestore-emulator.jar",
            "platform/pubsub-emulator/bin/cloud-pubsub-emulator",
        ):
            if not (root / component).is_file():
                raise EmulatorMissing(f"missing {root / component}")
        fake_gcs_binary()
    except EmulatorMissing as missing:
        print(f"error: {missing}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
