"""The paper's run pool: a run that stops making progress is restarted from its checkpoint,
and given up after too many stalls.  The hang is real: the runner process is stopped
(SIGSTOP) mid-run, so it writes nothing and ignores SIGTERM, as a wedged process would."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

from lm_helpers import tiny_config, tiny_corpus

from dkgen.train.lm import CHECKPOINT, RESULT, prepare_run
from dkgen.train.supervise import RunPool

# Longer than a runner's start (importing torch on a busy 2-core CI machine) and any gap
# between its writes; a tiny run writes a record every few hundred milliseconds.
STALL = 20.0


def _wait_for(cond, timeout: float, pool: RunPool, ended: dict) -> None:
    t0 = time.time()
    while not cond():
        for end in pool.poll():
            ended[end.name] = end
        assert time.time() - t0 < timeout, "timed out"
        time.sleep(0.1)


def test_stalled_run_restarts_from_checkpoint_then_is_given_up(tmp_path: Path) -> None:
    data = tiny_corpus(tmp_path / "data")
    config = tiny_config(data, epochs=40.0)  # about 1,200 steps: still running when stopped
    logs: list[str] = []
    pool = RunPool(stall_seconds=STALL, max_restarts=1, grace_seconds=2.0, log=logs.append)
    dirs = {}
    for name in ("recovers", "hangs"):
        dirs[name] = prepare_run(config, tmp_path / name)
        pool.start(name, [sys.executable, "-m", "dkgen.train.runner", str(dirs[name]),
                          "--checkpoint-every", "10", "--device", "cpu", "--threads", "1"],
                   dirs[name])
    ended: dict = {}
    first = {name: pool.pid(name) for name in dirs}
    stopped: set[str] = set()

    def stop_once_resumable() -> bool:
        # Each hangs as soon as it has a checkpoint to resume from (on a busy machine one
        # may start many seconds after the other, so neither waits for the other).
        for name, d in dirs.items():
            if name not in stopped and (d / CHECKPOINT).is_file():
                os.kill(first[name], signal.SIGSTOP)
                stopped.add(name)
        return len(stopped) == len(dirs)

    _wait_for(stop_once_resumable, 120, pool, ended)
    # Each is ended and started again; the second hangs again as soon as it has resumed.
    _wait_for(lambda: all(pool.restarts.get(n) == 1 for n in dirs), 60, pool, ended)
    second = pool.pid("hangs")
    assert second != first["hangs"] and pool.pid("recovers") != first["recovers"]
    _wait_for(lambda: "resumed at step" in (dirs["hangs"] / "log.txt").read_text(), 60, pool,
              ended)
    os.kill(second, signal.SIGSTOP)
    _wait_for(lambda: len(ended) == 2, 120, pool, ended)

    ok, bad = ended["recovers"], ended["hangs"]
    assert (ok.returncode, ok.stalled) == (0, False)
    result = json.loads((dirs["recovers"] / RESULT).read_text())
    assert result["steps"] >= 1000 and "resumed at step" in (dirs["recovers"] / "log.txt").read_text()
    assert (bad.returncode, bad.stalled) == (None, True) and len(pool) == 0
    assert not (dirs["hangs"] / RESULT).is_file()
    for pid in (*first.values(), second):  # every stopped process was killed and reaped
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"process {pid} is still there")
    assert sum("wrote nothing" in s for s in logs) == 3
    assert sum("giving up" in s for s in logs) == 1


def _alive(pid: int) -> bool:
    """Running or sleeping: a killed process whose parent has gone stays a zombie until
    pid 1 reaps it, which in a container may be never."""
    t0 = time.time()
    while time.time() - t0 < 5.0:  # SIGKILL takes effect asynchronously
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return False
        if state in "ZX":
            return False
        time.sleep(0.1)
    return True


def _launcher(tmp_path: Path, name: str) -> tuple[list[str], Path]:
    """A stand-in for a wedged torchrun: it ignores SIGTERM, starts a worker that writes
    its pid, then writes nothing more."""
    run_dir = tmp_path / name
    run_dir.mkdir()
    script = ("import signal, subprocess, sys, time\n"
              "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
              "w = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
              f"open({str(run_dir / 'worker.pid')!r}, 'w').write(str(w.pid))\n"
              "time.sleep(600)\n")
    return [sys.executable, "-c", script], run_dir


def _wait_for_workers(tmp_path: Path, names: tuple[str, ...]) -> dict[str, int]:
    """The worker pid of each launcher, once it has written it (by then it ignores
    SIGTERM, so SIGTERM cannot end it early)."""
    workers: dict[str, int] = {}
    t0 = time.time()
    while len(workers) < len(names):
        for name in names:
            f = tmp_path / name / "worker.pid"
            if f.is_file() and f.read_text():
                workers[name] = int(f.read_text())
        assert time.time() - t0 < 60, "the launchers did not start their workers"
        time.sleep(0.1)
    return workers


def test_ending_a_launcher_ends_its_workers(tmp_path: Path) -> None:
    """A stalled launcher that ignores SIGTERM is killed with the workers it started (they
    would keep a slot's cores busy, unseen), and so is every run still going at close()."""
    pool = RunPool(stall_seconds=3.0, max_restarts=0, grace_seconds=1.0, log=lambda s: None)
    for name in ("stalls", "open"):
        cmd, run_dir = _launcher(tmp_path, name)
        pool.start(name, cmd, run_dir, signals_reach_runner=False)
    t0 = time.time()
    workers = _wait_for_workers(tmp_path, ("stalls", "open"))
    launchers = {name: pool.pid(name) for name in workers}
    try:
        _check_ends(pool, tmp_path, workers, launchers, t0)
    finally:  # nothing left behind when the check fails
        pool.close()
        for pid in workers.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _check_ends(pool: RunPool, tmp_path: Path, workers: dict, launchers: dict, t0: float) -> None:
    # the second launcher's files keep changing, so only the first stalls
    ended: dict = {}
    while "stalls" not in ended:
        (tmp_path / "open" / "log.txt").write_text(str(time.time()))
        for end in pool.poll():
            ended[end.name] = end
        assert time.time() - t0 < 60, "the stalled launcher was not ended"
        time.sleep(0.2)
    assert ended["stalls"].stalled and len(pool) == 1
    assert not _alive(launchers["stalls"]) and not _alive(workers["stalls"])
    assert _alive(workers["open"])
    pool.close()
    assert len(pool) == 0 and not _alive(launchers["open"]) and not _alive(workers["open"])


def test_close_ends_wedged_launchers_within_one_grace_period(tmp_path: Path) -> None:
    """Ctrl-C with several wedged launchers waits one grace period, not one per run."""
    grace = 2.0
    pool = RunPool(grace_seconds=grace, log=lambda s: None)
    names = ("first", "second")
    for name in names:
        cmd, run_dir = _launcher(tmp_path, name)
        pool.start(name, cmd, run_dir, signals_reach_runner=False)
    workers: dict[str, int] = {}
    try:
        workers = _wait_for_workers(tmp_path, names)
        launchers = {name: pool.pid(name) for name in names}
        t0 = time.monotonic()
        pool.close()
        elapsed = time.monotonic() - t0
        # at least the grace period (both ignore SIGTERM), well under two of them
        assert grace - 0.1 <= elapsed < 1.75 * grace, f"close() took {elapsed:.2f} s"
        assert len(pool) == 0
        for pid in (*launchers.values(), *workers.values()):
            assert not _alive(pid), f"process {pid} is still there"
    finally:  # nothing left behind when the check fails
        pool.close()
        for pid in workers.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
