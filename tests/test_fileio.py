"""Atomic writes: all or nothing, and the mode a plain open() would give."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from dkgen.fileio import atomic_write, save_npz


def test_save_npz_round_trip_and_mode(tmp_path: Path) -> None:
    path = save_npz(tmp_path / "a.npz", x=np.arange(5))
    np.testing.assert_array_equal(np.load(path)["x"], np.arange(5))
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"]


def test_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_text("old")

    def fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        atomic_write(path, fail)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]
