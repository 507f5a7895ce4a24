"""The wheel carries the shipped models and the demo wardrobe inside the package.

In the source tree they live in ``models/`` and ``resources/`` beside ``stylist/``; a wheel has no
such neighbours, so the build copies them into ``stylist/_shipped/`` (the build scripts of
``models/`` stay behind). ``stylist.paths`` looks there first.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = ("models", "resources")
LEFT_OUT = ("*.py", "__pycache__")


class BuildWithShippedFiles(build_py):
    def run(self) -> None:
        super().run()
        here = Path(__file__).resolve().parent
        for name in SHIPPED:
            target = Path(self.build_lib) / "stylist" / "_shipped" / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(here / name, target, ignore=shutil.ignore_patterns(*LEFT_OUT))


setup(cmdclass={"build_py": BuildWithShippedFiles})
