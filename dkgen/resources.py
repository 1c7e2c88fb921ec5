"""Where the shipped templates/, runtime/ and targets/ folders are.

In a wheel they are copied to dkgen/_data/ (see setup.py); in a source checkout or an
editable install they sit at the top of the repository.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Return the folder `name` (templates, runtime or targets)."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"dkgen installation is missing its {name}/ folder")


def templates_dir() -> Path:
    return data_dir("templates")


def runtime_dir() -> Path:
    return data_dir("runtime")


def targets_dir() -> Path:
    return data_dir("targets")
