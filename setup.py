"""Ship the top-level templates/, runtime/ and targets/ folders inside the wheel.

DESIGN.md keeps them at the top of the repository so that C and Jinja files are easy to
find and test on their own; a non-editable install must still generate and verify C, so
the build copies them to dkgen/_data/.  dkgen.resources finds them in either place.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DATA_DIRS = ("templates", "runtime", "targets")


class BuildPyWithData(build_py):
    def run(self) -> None:
        super().run()
        root = Path(__file__).resolve().parent
        for name in DATA_DIRS:
            dst = Path(self.build_lib) / "dkgen" / "_data" / name
            if dst.exists():
                shutil.rmtree(dst)
            shutil.copytree(root / name, dst, ignore=shutil.ignore_patterns("__pycache__"))


setup(cmdclass={"build_py": BuildPyWithData})
