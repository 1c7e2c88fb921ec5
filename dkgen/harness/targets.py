"""Target descriptions: one TOML file per target in the shipped ``targets/`` folder.

A target says how to compile for a core (compiler, flags, linker script, startup and board
sources), how to run the result (natively, or on which QEMU machine), how to turn board
timer ticks into instruction counts, and the flash/RAM budget of a typical real part with
that core.  Adding a target means adding a file; docs/targets.md describes the format.

Nothing here runs a tool; see :mod:`dkgen.harness.toolchain` for building and running.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from dkgen.errors import DkgenError
from dkgen.resources import targets_dir

__all__ = [
    "DEFAULT_TARGET",
    "MemoryRegion",
    "Target",
    "get_target",
    "load_targets",
    "resolve_targets",
]

#: What ``resolve_targets(None)`` gives: the embedded target dkgen verifies on by default.
DEFAULT_TARGET = "cortex-m4"

KINDS = ("host", "qemu")
TIMERS = ("systick", "none")


@dataclass(frozen=True)
class MemoryRegion:
    """One region of the QEMU memory map a target's linker script uses."""

    name: str
    origin: int
    length: int
    holds: str = ""

    @property
    def end(self) -> int:
        return self.origin + self.length


@dataclass(frozen=True)
class Target:
    """A build-and-run target, loaded from ``targets/<name>.toml``.

    Paths are absolute (resolved against the folder the file is in).
    """

    name: str
    description: str
    core: str
    kind: str  # "host" | "qemu"
    cc: str
    cflags: tuple[str, ...]
    ldflags: tuple[str, ...]
    linker_script: Path | None
    startup_sources: tuple[Path, ...]
    include_dirs: tuple[Path, ...]
    qemu_machine: str | None
    clock_hz: int | None
    flash_bytes: int
    ram_bytes: int
    example_part: str
    path: Path
    board_sources: tuple[Path, ...] = ()
    qemu: str | None = None  # the emulator binary, e.g. "qemu-system-arm"
    timer: str = "none"  # "systick" | "none"
    stack_bytes: int | None = None  # the linked stack (DKGEN_STACK_SIZE), qemu targets
    features: tuple[str, ...] = ()  # "dsp", "fpu-sp", "fpu-dp", "mve"
    memory: tuple[MemoryRegion, ...] = ()
    packages: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (tool, Debian packages)

    # -- derived ---------------------------------------------------------------------

    @property
    def is_host(self) -> bool:
        return self.kind == "host"

    @property
    def is_qemu(self) -> bool:
        return self.kind == "qemu"

    @property
    def has_timer(self) -> bool:
        """True when the board timer counts (and ticks_to_instructions gives numbers)."""
        return self.timer != "none" and self.clock_hz is not None

    @property
    def support_sources(self) -> tuple[Path, ...]:
        """The startup and board sources every program for this target is linked with."""
        return self.startup_sources + self.board_sources

    def packages_for(self, tool: str) -> tuple[str, ...]:
        """Debian packages that provide ``tool`` ("cc" or "qemu") for this target."""
        for name, pkgs in self.packages:
            if name == tool:
                return pkgs
        return ()

    def tool(self, name: str) -> str:
        """A binutils program matching the compiler: ``tool("size")`` is
        ``arm-none-eabi-size`` for ``arm-none-eabi-gcc`` and ``size`` for ``gcc``."""
        cc = Path(self.cc).name
        prefix = cc[: -len("gcc")] if cc.endswith("gcc") else ""
        return f"{prefix}{name}"

    def ticks_to_instructions(self, ticks: float) -> float | None:
        """Board timer ticks -> guest instructions (None where there is no timer).

        QEMU runs with ``-icount shift=0``: one instruction takes exactly 1 ns of virtual
        time, and SysTick counts the processor clock, so one tick is 1e9 / clock_hz
        instructions.
        """
        if not self.has_timer:
            return None
        assert self.clock_hz is not None
        return ticks * 1e9 / self.clock_hz


# -- loading ---------------------------------------------------------------------------

_REQUIRED = {
    "name": str,
    "description": str,
    "core": str,
    "kind": str,
    "cc": str,
    "cflags": list,
    "ldflags": list,
    "budget": dict,
}
_OPTIONAL = {
    "linker_script": str,
    "startup_sources": list,
    "board_sources": list,
    "include_dirs": list,
    "qemu": str,
    "qemu_machine": str,
    "clock_hz": int,
    "timer": str,
    "stack_bytes": int,
    "features": list,
    "packages": dict,
    "memory": list,
}
_BUDGET = {"flash_bytes": int, "ram_bytes": int, "example_part": str}
_MEMORY = {"name": str, "origin": int, "length": int, "holds": str}


def _type_name(kind: type) -> str:
    return {str: "a string", int: "an integer", list: "a list", dict: "a table"}[kind]


def _check_table(path: Path, where: str, table: dict[str, Any], required: dict[str, type],
                 optional: dict[str, type]) -> None:
    for key in table:
        if key not in required and key not in optional:
            known = ", ".join(sorted([*required, *optional]))
            raise DkgenError(f"unknown field (known fields: {known})", path=path,
                             field=f"{where}{key}")
    for key in required:
        if key not in table:
            raise DkgenError("missing", path=path, field=f"{where}{key}",
                             fix="see docs/targets.md")
    for key, value in table.items():
        kind = required.get(key) or optional[key]
        # bool is an int subclass; TOML true/false is never a valid integer field here.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise DkgenError(f"must be {_type_name(kind)}, not {value!r}", path=path,
                             field=f"{where}{key}")


def _strings(path: Path, key: str, value: list[Any]) -> tuple[str, ...]:
    for item in value:
        if not isinstance(item, str):
            raise DkgenError(f"must be a list of strings, found {item!r}", path=path,
                             field=key)
    return tuple(value)


def _file(path: Path, key: str, rel: str, *, directory: bool = False) -> Path:
    resolved = (path.parent / rel).resolve()
    ok = resolved.is_dir() if directory else resolved.is_file()
    if not ok:
        what = "folder" if directory else "file"
        raise DkgenError(f"{what} {rel!r} not found (paths are relative to targets/)",
                         path=path, field=key)
    return resolved


def _parse_target(path: Path) -> Target:
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise DkgenError(f"not valid TOML: {exc}", path=path) from None
    _check_table(path, "", raw, _REQUIRED, _OPTIONAL)

    name = raw["name"]
    if name != path.stem:
        raise DkgenError(f"name {name!r} must match the file name {path.stem!r}", path=path,
                         field="name")
    kind = raw["kind"]
    if kind not in KINDS:
        raise DkgenError(f"must be one of {', '.join(KINDS)}, not {kind!r}", path=path,
                         field="kind")
    timer = raw.get("timer", "none")
    if timer not in TIMERS:
        raise DkgenError(f"must be one of {', '.join(TIMERS)}, not {timer!r}", path=path,
                         field="timer")

    budget = raw["budget"]
    _check_table(path, "budget.", budget, _BUDGET, {})
    for key in ("flash_bytes", "ram_bytes"):
        if budget[key] <= 0:
            raise DkgenError("must be positive", path=path, field=f"budget.{key}")

    clock_hz = raw.get("clock_hz")
    if clock_hz is not None and clock_hz <= 0:
        raise DkgenError("must be positive", path=path, field="clock_hz")
    if timer != "none" and clock_hz is None:
        raise DkgenError(f"timer {timer!r} needs clock_hz", path=path, field="clock_hz")

    linker_script = None
    if "linker_script" in raw:
        linker_script = _file(path, "linker_script", raw["linker_script"])
    qemu_machine = raw.get("qemu_machine")
    qemu = raw.get("qemu")
    if kind == "qemu":
        if linker_script is None:
            raise DkgenError("missing (a qemu target needs a linker script)", path=path,
                             field="linker_script")
        if qemu_machine is None:
            raise DkgenError("missing", path=path, field="qemu_machine")
        qemu = qemu or "qemu-system-arm"

    memory = []
    for i, region in enumerate(raw.get("memory", [])):
        if not isinstance(region, dict):
            raise DkgenError("must be a table", path=path, field=f"memory[{i}]")
        _check_table(path, f"memory[{i}].", region,
                     {k: v for k, v in _MEMORY.items() if k != "holds"}, {"holds": str})
        memory.append(MemoryRegion(region["name"], region["origin"], region["length"],
                                   region.get("holds", "")))

    packages = []
    for tool, pkgs in raw.get("packages", {}).items():
        if not isinstance(pkgs, list):
            raise DkgenError("must be a list of Debian package names", path=path,
                             field=f"packages.{tool}")
        packages.append((tool, _strings(path, f"packages.{tool}", pkgs)))

    return Target(
        name=name,
        description=raw["description"],
        core=raw["core"],
        kind=kind,
        cc=raw["cc"],
        cflags=_strings(path, "cflags", raw["cflags"]),
        ldflags=_strings(path, "ldflags", raw["ldflags"]),
        linker_script=linker_script,
        startup_sources=tuple(_file(path, "startup_sources", s)
                              for s in _strings(path, "startup_sources",
                                                raw.get("startup_sources", []))),
        include_dirs=tuple(_file(path, "include_dirs", s, directory=True)
                           for s in _strings(path, "include_dirs",
                                             raw.get("include_dirs", []))),
        qemu_machine=qemu_machine,
        clock_hz=clock_hz,
        flash_bytes=budget["flash_bytes"],
        ram_bytes=budget["ram_bytes"],
        example_part=budget["example_part"],
        path=path.resolve(),
        board_sources=tuple(_file(path, "board_sources", s)
                            for s in _strings(path, "board_sources",
                                              raw.get("board_sources", []))),
        qemu=qemu,
        timer=timer,
        stack_bytes=raw.get("stack_bytes"),
        features=_strings(path, "features", raw.get("features", [])),
        memory=tuple(memory),
        packages=tuple(packages),
    )


def _natural(text: str) -> tuple[Any, ...]:
    """'cortex-m33' sorts after 'cortex-m7': compare digit runs as numbers."""
    return tuple(int(part) if part.isdigit() else part
                 for part in re.split(r"(\d+)", text))


def _order(target: Target) -> tuple[Any, ...]:
    return (not target.is_host, _natural(target.core), target.name)


def _load(folder: Path) -> tuple[Target, ...]:
    files = sorted(folder.glob("*.toml"))
    if not files:
        raise DkgenError("no target files (*.toml) found", path=folder)
    return tuple(sorted((_parse_target(f) for f in files), key=_order))


@lru_cache(maxsize=1)
def _load_shipped() -> tuple[Target, ...]:
    return _load(targets_dir().resolve())


def load_targets(folder: Path | None = None) -> dict[str, Target]:
    """All targets, host first, then by core (M0, M3, M4, M7, M33, M55, ...).

    ``folder`` defaults to the shipped targets/ folder (:func:`dkgen.resources.targets_dir`),
    which is read once per process; another folder is read on every call.
    """
    targets = _load_shipped() if folder is None else _load(Path(folder).resolve())
    return {t.name: t for t in targets}


def get_target(name: str) -> Target:
    """The target called ``name``; a DkgenError naming the valid names otherwise."""
    targets = load_targets()
    try:
        return targets[name]
    except KeyError:
        raise DkgenError(f"unknown target {name!r} (valid targets: {', '.join(targets)}, or "
                         "'all')") from None


def resolve_targets(spec: str | None) -> list[Target]:
    """Targets from a comma-separated list ("host,cortex-m4"), "all", or None.

    None (no --target given) means the embedded default, [cortex-m4].  Order follows
    the spec; repeats are dropped.
    """
    if spec is None:
        return [get_target(DEFAULT_TARGET)]
    names = [part.strip() for part in spec.split(",") if part.strip()]
    if not names:
        raise DkgenError(f"no target named in {spec!r} (valid targets: "
                         f"{', '.join(load_targets())}, or 'all')")
    result: list[Target] = []
    for name in names:
        chosen = list(load_targets().values()) if name == "all" else [get_target(name)]
        for target in chosen:
            if target not in result:
                result.append(target)
    return result


#: Every top-level key a target file may hold, with its TOML type.
TARGET_FILE_FIELDS: dict[str, type] = {**_REQUIRED, **_OPTIONAL}
