"""Build C for a target and run it: natively, or on QEMU with semihosting.

The low-level layer under dkgen's verify and bench code:

* :func:`check_toolchain` - are the compiler (and its C library) and the emulator there?
* :func:`build` - compile each source to its own object (so sizes can be measured per
  file) and link them with the target's startup and board code.
* :func:`run` - run the program with a hard timeout; on QEMU with ``-icount shift=0`` so
  that board timer ticks count instructions, deterministically.
* :func:`section_sizes` / :func:`stack_usage` - flash, RAM and stack from the objects.

Only the standard library is used (no torch, no numpy); every tool is run with an argument
list, never through a shell.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from dkgen.errors import DkgenError, ToolchainError
from dkgen.harness.targets import Target

__all__ = [
    "FAULT_EXIT_STATUS",
    "STRICT_WARNINGS",
    "BuildResult",
    "RunResult",
    "build",
    "check_toolchain",
    "run",
    "section_sizes",
    "stack_usage",
]

#: Warnings every source is compiled with (plus -Werror unless warnings_as_errors=False).
STRICT_WARNINGS = ("-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Wconversion")

#: QEMU's exit status when the startup code's fault handler stopped the program
#: (DKGEN_FAULT_EXIT_STATUS in targets/startup/cortexm_startup.c).
FAULT_EXIT_STATUS = 134

#: The optimisation level of the startup and board code, whatever the program's is, so
#: that timer overheads do not change with it.
SUPPORT_OPT = "-O2"


# -- toolchain checks --------------------------------------------------------------------


def _install_hint(packages: Sequence[str]) -> str | None:
    if not packages:
        return None
    names = " ".join(packages)
    return f"install the Debian package{'s' if len(packages) > 1 else ''} {names}: " \
           f"sudo apt-get install {names}"


@lru_cache(maxsize=64)
def _find_specs(cc: str, spec: str, path_env: str | None) -> bool:
    """Does ``cc`` find the specs file ``spec`` (e.g. rdimon.specs, from newlib)?"""
    try:
        out = subprocess.run([cc, f"-print-file-name={spec}"], capture_output=True,
                             text=True, timeout=30, check=False,
                             env={**os.environ, "PATH": path_env or ""}).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return False
    return os.path.isabs(out) and os.path.isfile(out)


def _check_compiler(target: Target) -> str:
    """The compiler's full path; ToolchainError naming the packages if it is missing."""
    path_env = os.environ.get("PATH")
    cc = shutil.which(target.cc, path=path_env)
    fix = _install_hint(target.packages_for("cc"))
    if cc is None:
        raise ToolchainError(f"{target.cc} not found on PATH (needed for target "
                             f"{target.name})", fix=fix)
    for flag in target.ldflags:
        if flag.startswith("-specs=") and not _find_specs(cc, flag[len("-specs="):], path_env):
            raise ToolchainError(f"{target.cc} cannot find {flag[len('-specs='):]}: its C "
                                 f"library is missing (needed for target {target.name})",
                                 fix=fix)
    return cc


def _check_emulator(target: Target) -> str | None:
    """The emulator's full path (None for host targets)."""
    if not target.is_qemu:
        return None
    assert target.qemu is not None
    qemu = shutil.which(target.qemu, path=os.environ.get("PATH"))
    if qemu is None:
        raise ToolchainError(f"{target.qemu} not found on PATH (needed for target "
                             f"{target.name})", fix=_install_hint(target.packages_for("qemu")))
    return qemu


def check_toolchain(target: Target) -> None:
    """Raise ToolchainError (one line, naming the Debian packages to install) when the
    compiler, its C library or the emulator that ``target`` needs is missing."""
    _check_compiler(target)
    _check_emulator(target)


# -- build ---------------------------------------------------------------------------------


@dataclass
class BuildResult:
    """What :func:`build` made.

    ``objects`` has one object per source given to build(), in the same order (use them
    with :func:`section_sizes` / :func:`stack_usage`); ``support_objects`` are the target's
    startup and board objects.  ``log`` holds every command and its output.
    """

    elf: Path | None
    objects: list[Path]
    log: str
    support_objects: list[Path] = field(default_factory=list)
    map_file: Path | None = None


_ERROR_LINE = re.compile(
    r"\berror\b|undefined reference|multiple definition|overflowed|cannot find|"
    r"No such file|not found|(^|[/-])ld: ", re.IGNORECASE)
# Summary lines that only say that something above failed.
_FOLLOW_UP = ("cc1: all warnings being treated", "collect2: error: ld returned")


def _first_errors(output: str, limit: int = 2) -> str:
    lines = [ln.strip() for ln in output.splitlines() if _ERROR_LINE.search(ln.strip())]
    lines = [ln for ln in lines if not ln.startswith(_FOLLOW_UP)] or lines
    if not lines:
        lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    if not lines:
        return "no message"
    return " | ".join(lines[:limit])


def _object_names(sources: Sequence[Path], folder: Path) -> list[Path]:
    """One object path per source; equal stems (a/x.c, b/x.c) get distinct names."""
    used: set[str] = set()
    names = []
    for src in sources:
        stem = src.stem
        candidate, n = stem, 1
        while candidate in used:
            candidate, n = f"{stem}_{n}", n + 1
        used.add(candidate)
        names.append(folder / f"{candidate}.o")
    return names


def _run_tool(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, errors="replace", cwd=cwd,
                          check=False)


def _format(cmd: Sequence[str], proc: subprocess.CompletedProcess[str]) -> str:
    text = "$ " + " ".join(cmd) + "\n"
    if proc.stdout:
        text += proc.stdout
    if proc.stderr:
        text += proc.stderr
    return text


def build(target: Target, sources: Sequence[Path], out_dir: Path, *,
          include_dirs: Iterable[Path] = (), defines: Mapping[str, str | None] | None = None,
          extra_cflags: Iterable[str] = (), opt: str = "-O2",
          warnings_as_errors: bool = True, extra_ldflags: Iterable[str] = (),
          name: str | None = None, link: bool = True) -> BuildResult:
    """Compile ``sources`` for ``target`` into ``out_dir`` and link an executable.

    Each source becomes its own object in ``out_dir/obj`` (with a ``.su`` stack-usage file
    beside it), compiled with ``-std=c99``, :data:`STRICT_WARNINGS`, ``-Werror`` (unless
    ``warnings_as_errors`` is False), ``-ffunction-sections -fdata-sections -fstack-usage``,
    ``opt``, the target's cflags, ``include_dirs`` then the target's include folders,
    ``-D`` for each of ``defines`` (a None value gives a bare ``-DNAME``) and
    ``extra_cflags``.  The target's startup and board sources are compiled the same way
    (always at -O2 and with -Werror) into ``out_dir/obj/support``.  The link uses the
    target's ldflags and linker script, ``--gc-sections``, ``-lm``, ``extra_cflags`` and
    ``extra_ldflags``, and writes ``<name>.elf`` (name defaults to the first source's stem)
    and a map file.  Everything run, with its output, is in ``BuildResult.log`` and
    ``out_dir/build.log``.

    With ``link=False`` only ``sources`` are compiled (no support files, no executable;
    ``BuildResult.elf`` is None): enough to measure a library's sizes and stack.  GCC also
    writes a ``.ci`` call graph with stack sizes (-fcallgraph-info=su) beside each object.

    Raises ToolchainError with the compiler's first error line(s) when a step fails.
    """
    sources = [Path(s) for s in sources]
    if not sources:
        raise DkgenError("build() needs at least one source file")
    for src in sources:
        if not src.is_file():
            raise DkgenError("source file not found", path=src)
    cc = _check_compiler(target)

    out_dir = Path(out_dir)
    obj_dir = out_dir / "obj"
    support_dir = obj_dir / "support"
    support_dir.mkdir(parents=True, exist_ok=True)
    name = name or sources[0].stem
    elf = out_dir / f"{name}.elf"
    map_file = out_dir / f"{name}.map"

    extra_cflags = list(extra_cflags)
    incs = [f"-I{Path(d)}" for d in include_dirs] + [f"-I{d}" for d in target.include_dirs]
    defs = [f"-D{k}" if v is None else f"-D{k}={v}" for k, v in (defines or {}).items()]
    common = ["-std=c99", "-ffunction-sections", "-fdata-sections", "-fstack-usage",
              "-fcallgraph-info=su"]

    def compile_cmd(src: Path, obj: Path, level: str, werror: bool) -> list[str]:
        return [cc, *target.cflags, level, *common, *STRICT_WARNINGS,
                *(["-Werror"] if werror else []), *incs, *defs, *extra_cflags,
                "-c", str(src), "-o", str(obj)]

    objects = _object_names(sources, obj_dir)
    support_objects = _object_names(list(target.support_sources), support_dir) if link else []
    jobs = [(src, obj, compile_cmd(src, obj, opt, warnings_as_errors))
            for src, obj in zip(sources, objects, strict=True)]
    if link:
        jobs += [(src, obj, compile_cmd(src, obj, SUPPORT_OPT, True))
                 for src, obj in zip(target.support_sources, support_objects, strict=True)]

    for obj in [*objects, *support_objects, elf]:
        obj.unlink(missing_ok=True)
    workers = max(1, min(len(jobs), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda job: _run_tool(job[2]), jobs))

    log_parts = [_format(cmd, proc) for (_, _, cmd), proc in zip(jobs, results, strict=True)]
    log_file = out_dir / "build.log"

    def fail(what: str, proc: subprocess.CompletedProcess[str]) -> ToolchainError:
        log_file.write_text("".join(log_parts))
        err = ToolchainError(f"{target.name}: {what} failed: "
                             f"{_first_errors(proc.stdout + proc.stderr)}",
                             fix=f"full output in {log_file}")
        err.log = "".join(log_parts)  # type: ignore[attr-defined]
        return err

    for (src, _, _), proc in zip(jobs, results, strict=True):
        if proc.returncode != 0:
            raise fail(f"compiling {src.name}", proc)

    if not link:
        log = "".join(log_parts)
        log_file.write_text(log)
        return BuildResult(elf=None, objects=objects, log=log, support_objects=[], map_file=None)
    link_cmd = [cc, *target.cflags, *target.ldflags, *extra_cflags, *extra_ldflags]
    if target.linker_script is not None:
        link_cmd += ["-T", str(target.linker_script), f"-L{target.linker_script.parent}"]
    if target.stack_bytes is not None:
        link_cmd.append(f"-Wl,--defsym=DKGEN_STACK_SIZE={target.stack_bytes}")
    link_cmd += ["-Wl,--gc-sections", f"-Wl,-Map={map_file}",
                 *map(str, objects), *map(str, support_objects), "-lm", "-o", str(elf)]
    proc = _run_tool(link_cmd)
    log_parts.append(_format(link_cmd, proc))
    if proc.returncode != 0 or not elf.is_file():
        raise fail("linking", proc)
    log = "".join(log_parts)
    log_file.write_text(log)
    return BuildResult(elf=elf, objects=objects, log=log, support_objects=support_objects,
                       map_file=map_file)


# -- run -----------------------------------------------------------------------------------


@dataclass
class RunResult:
    """How a program run ended.

    ``returncode`` is None when the run timed out (and was killed), negative when the
    process died from a signal.  ``fault`` describes a crash: the startup code's
    "DKGEN_FAULT ..." line, QEMU's "Lockup ..." message, a sanitizer's report line, or the
    signal that killed a host program; None when the program ended normally or timed out.
    """

    stdout: str
    stderr: str
    returncode: int | None
    timed_out: bool
    wall_s: float
    fault: str | None = None
    command: list[str] = field(default_factory=list)

    @property
    def faulted(self) -> bool:
        return self.fault is not None

    @property
    def ok(self) -> bool:
        """Exited by itself with status 0."""
        return self.returncode == 0 and not self.timed_out


def _qemu_command(target: Target, qemu: str, elf: Path, args: Sequence[str]) -> list[str]:
    assert target.qemu_machine is not None
    if any(ch.isspace() for ch in elf.name):
        raise DkgenError("a QEMU program's file name may not contain spaces (it is argv[0] "
                         "on the semihosting command line)", path=elf)
    cmd = [qemu, "-M", target.qemu_machine, "-nographic", "-monitor", "none",
           "-serial", "null", "-no-reboot",
           "-semihosting-config", "enable=on,target=native",
           "-icount", "shift=0", "-kernel", elf.name]
    if args:
        for arg in args:
            if not arg or any(ch.isspace() for ch in arg):
                raise DkgenError(f"argument {arg!r} cannot be passed to a QEMU program "
                                 "(the semihosting command line splits on spaces)")
        cmd += ["-append", " ".join(args)]
    return cmd


def _find_fault(target: Target, stdout: str, stderr: str, returncode: int | None,
                timed_out: bool) -> str | None:
    if timed_out:
        return None
    for text in (stderr, stdout):
        for line in text.splitlines():
            if line.startswith("DKGEN_FAULT") or "Lockup" in line:
                return line.strip()
    if target.is_host and returncode:
        # A sanitizer build (host-sanitize) reports and exits instead of dying by a signal.
        for line in stderr.splitlines():
            if "ERROR: AddressSanitizer" in line or ": runtime error: " in line:
                return re.sub(r"^==\d+==", "", line).strip()
    if returncode is not None and returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return None


def run(target: Target, elf: Path, *, timeout_s: float = 30.0,
        args: Sequence[str] = ()) -> RunResult:
    """Run ``elf`` (from :func:`build`) on ``target`` and collect its output.

    host: the executable itself, with ``args``.  qemu: ``qemu-system-arm -M <machine>
    -nographic -monitor none -serial null -no-reboot -semihosting-config
    enable=on,target=native -icount shift=0 -kernel <elf>`` (``-append`` carries
    ``args``, which may not contain spaces); the program's printf reaches stdout, its
    exit status becomes QEMU's, and a fault ends the run with FAULT_EXIT_STATUS and a
    "DKGEN_FAULT" line on stderr (or QEMU's own "Lockup" abort).

    Either way the run is killed, with its whole process group, after ``timeout_s``
    seconds of wall time (``timed_out`` set, ``returncode`` None).  The working directory
    is the ELF's folder.
    """
    elf = Path(elf).resolve()
    if not elf.is_file():
        raise DkgenError("program not found (build it first)", path=elf)
    if target.is_qemu:
        qemu = _check_emulator(target)
        assert qemu is not None
        cmd = _qemu_command(target, qemu, elf, args)
    else:
        cmd = [str(elf), *args]

    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=elf.parent, start_new_session=True)
    # No core files: QEMU aborts on a Cortex-M lockup, and its core would hold all of the
    # machine's RAM.  (prlimit on the running child, since preexec_fn is not thread-safe.)
    with contextlib.suppress(OSError, AttributeError, ValueError):
        resource.prlimit(proc.pid, resource.RLIMIT_CORE, (0, 0))
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:  # a grandchild escaped the group, holding a pipe
            proc.kill()
            out, err = b"", b""
    finally:
        if proc.poll() is None:
            _kill_group(proc)
            proc.wait()
    wall = time.monotonic() - start

    stdout = out.decode("utf-8", errors="replace")
    stderr = err.decode("utf-8", errors="replace")
    returncode = None if timed_out else proc.returncode
    return RunResult(stdout=stdout, stderr=stderr, returncode=returncode,
                     timed_out=timed_out, wall_s=wall,
                     fault=_find_fault(target, stdout, stderr, returncode, timed_out),
                     command=cmd)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group started for ``proc`` (start_new_session=True)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


# -- sizes ---------------------------------------------------------------------------------

_SHF_WRITE, _SHF_ALLOC, _SHF_EXECINSTR = 0x1, 0x2, 0x4
_SHT_NOTE, _SHT_NOBITS = 7, 8


def _elf_sections(path: Path) -> list[tuple[int, int, int]]:
    """(sh_type, sh_flags, sh_size) of every section of an ELF file (32/64-bit, LE/BE)."""
    data = Path(path).read_bytes()
    if len(data) < 52 or data[:4] != b"\x7fELF":
        raise DkgenError("not an ELF object file", path=path)
    is64 = data[4] == 2
    end = "<" if data[5] == 1 else ">"
    if is64:
        shoff, = struct.unpack_from(end + "Q", data, 0x28)
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x3A)
        fmt = end + "IIQQQQ"  # name, type, flags, addr, offset, size
    else:
        shoff, = struct.unpack_from(end + "I", data, 0x20)
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x2E)
        fmt = end + "IIIIII"
    if shoff == 0:
        return []
    if shnum == 0:  # extended numbering: the count is section 0's sh_size
        shnum = struct.unpack_from(fmt, data, shoff)[5]
    sections = []
    for i in range(shnum):
        _, sh_type, flags, _, _, size = struct.unpack_from(fmt, data, shoff + i * shentsize)
        sections.append((sh_type, flags, size))
    return sections


def section_sizes(target: Target, objects: Iterable[Path]) -> dict[str, int]:
    """Bytes of code, constants, initialised and zeroed data in ``objects``, summed.

    Only allocated sections count (not debug info, notes, symbol tables):
    ``text`` = executable, ``rodata`` = read-only data (incl. .ARM.exidx, .eh_frame),
    ``data`` = writable with contents, ``bss`` = writable without contents;
    ``flash`` = text + rodata + data, ``ram`` = data + bss.  The section flags are read
    from the ELF files directly, which works the same for every target (``target`` is
    accepted for symmetry with the rest of the API); the totals agree with the allocated
    sections that ``arm-none-eabi-size -A`` / ``size -A`` list.
    """
    del target  # the ELF headers say everything needed
    totals = {"text": 0, "rodata": 0, "data": 0, "bss": 0}
    for obj in objects:
        for sh_type, flags, size in _elf_sections(Path(obj)):
            if not flags & _SHF_ALLOC or sh_type == _SHT_NOTE or size == 0:
                continue
            if sh_type == _SHT_NOBITS:
                totals["bss"] += size
            elif flags & _SHF_EXECINSTR:
                totals["text"] += size
            elif flags & _SHF_WRITE:
                totals["data"] += size
            else:
                totals["rodata"] += size
    totals["flash"] = totals["text"] + totals["rodata"] + totals["data"]
    totals["ram"] = totals["data"] + totals["bss"]
    return totals


def stack_usage(objects: Iterable[Path]) -> dict[str, int]:
    """Function name -> stack bytes, from the ``.su`` files that -fstack-usage wrote
    beside each object (``obj/foo.o`` -> ``obj/foo.su``).

    GCC qualifies each number as static, dynamic or dynamic,bounded; the number is taken
    as is.  A name defined in several objects (static functions) keeps the largest value.
    Objects without a .su file are skipped.
    """
    usage: dict[str, int] = {}
    for obj in objects:
        su = Path(obj).with_suffix(".su")
        if not su.is_file():
            continue
        for line in su.read_text(errors="replace").splitlines():
            parts = line.split("\t")
            if len(parts) < 2 or not parts[1].strip().isdigit():
                continue
            func = parts[0].rsplit(":", 1)[-1]
            usage[func] = max(usage.get(func, 0), int(parts[1]))
    return usage
