"""Training runs as child processes, restarted when they stop making progress.

`make paper` starts every run as its own `python -m dkgen.train.runner RUN_DIR` process.
A run that hangs (on a lent GPU machine one DKP run once stopped between two log lines and
held its process to the end of the lease, with no error) would otherwise hold up every run
that depends on it until the budget is gone.  `RunPool` watches each run's folder: a run
whose `metrics.jsonl` and `log.txt` have not changed for `stall_seconds` gets SIGUSR1 (the
runner writes every thread's Python stack to its log.txt, so the hang says where it was),
is ended, and is started again with the same command.  It resumes from its last
checkpoint, so a restart costs at most the steps since then.  A run that stalls more than
`max_restarts` times is reported as failed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# What a run writes while it makes progress (dkgen.train.lm: a train record every
# LOG_EVERY steps, a valid record each epoch; log.txt: the runner's own lines).
PROGRESS_FILES = ("metrics.jsonl", "log.txt")


@dataclass
class Finished:
    """A run whose process has ended: exit status, or None when the pool gave up on it."""

    name: str
    returncode: int | None
    seconds: float  # since its first start
    stalled: bool = False


@dataclass
class _Run:
    cmd: list[str]
    run_dir: Path
    signals_reach_runner: bool
    first_start: float
    env: dict[str, str] | None = None  # None: this process's environment
    proc: subprocess.Popen | None = None
    started: float = 0.0


def last_progress(run_dir: Path, since: float) -> float:
    """When the run last wrote progress, or `since` (its start) if later."""
    paths = [run_dir / name for name in PROGRESS_FILES]
    return max([since] + [p.stat().st_mtime for p in paths if p.is_file()])


class RunPool:
    """Runner processes, each appending its output to RUN_DIR/log.txt.

    stall_seconds: how long a run may write nothing before it counts as hung (None: never).
        Generous on CPUs, where one evaluation of a medium model takes minutes.
    max_restarts: restarts of one run before it is given up (reported as stalled).
    grace_seconds: how long an ended run gets between SIGTERM and SIGKILL.
    """

    def __init__(self, *, stall_seconds: float | None = None, max_restarts: int = 2,
                 grace_seconds: float = 10.0, log: Callable[[str], None] = print) -> None:
        if stall_seconds is not None and stall_seconds <= 0:
            raise ValueError(f"stall_seconds must be positive, got {stall_seconds}")
        self.stall_seconds = stall_seconds
        self.max_restarts = max_restarts
        self.grace_seconds = grace_seconds
        self.log = log
        self.restarts: dict[str, int] = {}
        self._runs: dict[str, _Run] = {}

    def __len__(self) -> int:
        return len(self._runs)

    def pid(self, name: str) -> int:
        proc = self._runs[name].proc
        assert proc is not None
        return proc.pid

    def start(self, name: str, cmd: list[str], run_dir: Path, *,
              signals_reach_runner: bool = True, env: dict[str, str] | None = None) -> None:
        """Start `cmd` for the run in `run_dir`, with environment `env` (a restart reuses it).
        signals_reach_runner: `cmd` is the runner itself, not a launcher (torchrun) that
        SIGUSR1 would end."""
        run = _Run(cmd, Path(run_dir), signals_reach_runner, time.time(), env)
        self._runs[name] = run
        self._launch(run)

    def _launch(self, run: _Run) -> None:
        with (run.run_dir / "log.txt").open("a") as fh:
            # A process group of its own: a launcher (torchrun) is ended with its workers,
            # which would otherwise outlive a launcher killed after ignoring SIGTERM.
            run.proc = subprocess.Popen(run.cmd, stdout=fh, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True,
                                        env=run.env)
        run.started = time.time()

    def _end(self, run: _Run, *, dump_stack: bool = True) -> None:
        proc = run.proc
        assert proc is not None
        if dump_stack and run.signals_reach_runner:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGUSR1)
                time.sleep(1.0)  # the stack dump is written from the signal handler
        _signal_group(proc, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):  # a wedged process ignores SIGTERM
            proc.wait(self.grace_seconds)
        # SIGKILL whatever of the group is left, even when its leader has gone
        _signal_group(proc, signal.SIGKILL)
        proc.wait()

    def close(self) -> None:
        """End every run still going (on an error or Ctrl-C in the caller: the runs are in
        process groups of their own, so the terminal's SIGINT does not reach them)."""
        procs = [run.proc for run in self._runs.values() if run.proc is not None]
        # All at once, with one shared grace period: ending them one by one would make
        # Ctrl-C wait a full grace period for each wedged run that ignores SIGTERM.
        for proc in procs:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_seconds
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.0, deadline - time.monotonic()))
        # as in _end: even a group whose leader has gone may still hold its workers
        for proc in procs:
            _signal_group(proc, signal.SIGKILL)
        for proc in procs:
            proc.wait()
        self._runs.clear()

    def poll(self) -> list[Finished]:
        """Runs that ended since the last call; restarts the ones that stalled."""
        ended = []
        now = time.time()
        for name, run in list(self._runs.items()):
            assert run.proc is not None
            rc = run.proc.poll()
            if rc is not None:
                del self._runs[name]
                ended.append(Finished(name, rc, now - run.first_start))
                continue
            if self.stall_seconds is None:
                continue
            idle = now - last_progress(run.run_dir, run.started)
            if idle < self.stall_seconds:
                continue
            count = self.restarts.get(name, 0)
            give_up = count >= self.max_restarts
            self.log(f"{name} wrote nothing for {idle:.0f} s; Python stack in "
                     f"{run.run_dir / 'log.txt'}; "
                     + ("giving up" if give_up else
                        f"restarting it from its last checkpoint ({count + 1} of "
                        f"{self.max_restarts})"))
            self._end(run)
            if give_up:
                del self._runs[name]
                ended.append(Finished(name, None, time.time() - run.first_start, stalled=True))
            else:
                self.restarts[name] = count + 1
                self._launch(run)
        return ended


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    """Send `sig` to the process group `proc` leads (its pid is the group's id)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
