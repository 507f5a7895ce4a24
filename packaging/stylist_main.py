"""The bundle's entry point: the ``stylist`` command, frozen by PyInstaller (stylist.spec)."""

import sys

from stylist.cli import main

if __name__ == "__main__":
    sys.exit(main())
