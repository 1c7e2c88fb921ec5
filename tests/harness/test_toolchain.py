"""Targets, build and run: real compilers and real QEMU, no mocks.

Every test that needs a toolchain skips (naming the missing package) when it is not
installed.  Builds go to pytest's per-worker temporary folders, so pytest-xdist works.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from dkgen.errors import DkgenError, ToolchainError
from dkgen.harness.targets import (
    DEFAULT_TARGET,
    Target,
    get_target,
    load_targets,
    resolve_targets,
)
from dkgen.harness.toolchain import (
    FAULT_EXIT_STATUS,
    build,
    check_toolchain,
    run,
    section_sizes,
    stack_usage,
)
from dkgen.resources import targets_dir

PROGRAMS = Path(__file__).resolve().parent / "programs"
TARGETS = load_targets()
ALL = list(TARGETS)
QEMU = [name for name, t in TARGETS.items() if t.is_qemu]
EXPECTED = ["host", "cortex-m0", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33",
            "cortex-m55"]
MACHINES = {"cortex-m0": "microbit", "cortex-m3": "mps2-an385", "cortex-m4": "mps2-an386",
            "cortex-m7": "mps2-an500", "cortex-m33": "mps2-an505",
            "cortex-m55": "mps3-an547"}
CLOCKS = {"cortex-m0": 16_000_000, "cortex-m3": 25_000_000, "cortex-m4": 25_000_000,
          "cortex-m7": 25_000_000, "cortex-m33": 20_000_000, "cortex-m55": 32_000_000}


def usable(name: str) -> Target:
    """The target, or skip the test when its toolchain is not installed."""
    target = TARGETS[name]
    try:
        check_toolchain(target)
    except ToolchainError as exc:
        pytest.skip(str(exc))
    return target


@pytest.fixture(scope="session")
def behave_elves(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """behave.c built once per target (per xdist worker), on demand."""

    class Builder(dict[str, Path]):
        def __missing__(self, name: str) -> Path:
            out = tmp_path_factory.mktemp(f"behave-{name}")
            elf = build(TARGETS[name], [PROGRAMS / "behave.c"], out).elf
            self[name] = elf
            return elf

    return Builder()


# -- target files -------------------------------------------------------------------------


def test_all_targets_in_order() -> None:
    assert [name for name in ALL if name in EXPECTED] == EXPECTED  # others may be added
    assert ALL[0] == "host"
    assert [t.name for t in resolve_targets("all")] == ALL


def test_resolve_targets() -> None:
    assert [t.name for t in resolve_targets(None)] == [DEFAULT_TARGET] == ["cortex-m4"]
    assert [t.name for t in resolve_targets("host,cortex-m4")] == ["host", "cortex-m4"]
    assert [t.name for t in resolve_targets(" cortex-m55 , host,cortex-m55")] == [
        "cortex-m55", "host"]
    assert [t.name for t in resolve_targets("host,all")] == ALL


@pytest.mark.parametrize("spec", ["cortex-m99", "host,m4", "", " , "])
def test_unknown_target_names_the_valid_ones(spec: str) -> None:
    with pytest.raises(DkgenError) as info:
        resolve_targets(spec)
    message = str(info.value)
    assert "\n" not in message
    for name in EXPECTED:
        assert name in message


def test_get_target() -> None:
    assert get_target("cortex-m7").qemu_machine == "mps2-an500"
    with pytest.raises(DkgenError, match="valid targets: host, host-sanitize, cortex-m0"):
        get_target("nope")


@pytest.mark.parametrize("name", ALL)
def test_target_fields(name: str) -> None:
    t = TARGETS[name]
    assert t.path == targets_dir().resolve() / f"{name}.toml"
    assert t.flash_bytes > 0 and t.ram_bytes > 0 and t.example_part
    for p in (*t.startup_sources, *t.board_sources):
        assert p.is_file()
    assert any((d / "dkgen_board.h").is_file() for d in t.include_dirs)
    if t.is_host:
        assert t.cc == "gcc" and (t.cflags == ()) == (name == "host")
        assert t.linker_script is None and t.qemu_machine is None and t.clock_hz is None
        assert t.ticks_to_instructions(1000) is None
        return
    assert t.kind == "qemu" and t.qemu_machine and t.clock_hz
    assert t.ticks_to_instructions(1000) == pytest.approx(1000 * 1e9 / t.clock_hz)
    if name in MACHINES:
        assert t.cc == "arm-none-eabi-gcc"
        assert f"-mcpu={name}" in t.cflags and "-mthumb" in t.cflags
        assert t.qemu_machine == MACHINES[name]
        assert t.clock_hz == CLOCKS[name]
    assert t.linker_script is not None and t.linker_script.is_file()
    assert t.stack_bytes is not None and t.stack_bytes < min(r.length for r in t.memory)


def _ld_memory(script: Path) -> dict[str, tuple[int, int]]:
    text = script.read_text()
    block = re.search(r"MEMORY\s*\{(.*?)\}", text, re.S)
    assert block, script
    units = {"": 1, "K": 1024, "M": 1024 * 1024}
    regions = {}
    for m in re.finditer(r"(\w+)\s*\([rwx]+\)\s*:\s*ORIGIN\s*=\s*(0x[0-9A-Fa-f]+),\s*"
                         r"LENGTH\s*=\s*(\d+)([KM]?)", block.group(1)):
        regions[m.group(1)] = (int(m.group(2), 16), int(m.group(3)) * units[m.group(4)])
    return regions


@pytest.mark.parametrize("name", QEMU)
def test_memory_map_matches_linker_script(name: str) -> None:
    t = TARGETS[name]
    assert t.linker_script is not None
    declared = {r.name: (r.origin, r.length) for r in t.memory}
    assert declared == _ld_memory(t.linker_script)
    stack = re.search(r"DKGEN_STACK_SIZE\s*:\s*(0x[0-9a-fA-F]+)", t.linker_script.read_text())
    assert stack and int(stack.group(1), 16) == t.stack_bytes


def test_bad_target_file_is_a_one_line_error(tmp_path: Path) -> None:
    good = (targets_dir() / "cortex-m4.toml").read_text()
    folder = tmp_path / "targets"
    folder.mkdir()
    for sub in ("ld", "startup", "board", "include"):
        (folder / sub).symlink_to(targets_dir() / sub)
    bad = folder / "cortex-m4.toml"
    bad.write_text(good.replace("clock_hz = 25_000_000", 'clock_hz = "fast"'))
    with pytest.raises(DkgenError, match=r"cortex-m4\.toml: clock_hz: must be an integer"):
        load_targets(folder)
    bad.write_text(good + '\nflavour = "x"\n')
    with pytest.raises(DkgenError, match="flavour: unknown field"):
        load_targets(folder)
    bad.write_text(good.replace('linker_script = "ld/mps2-an386.ld"',
                                'linker_script = "ld/nope.ld"'))
    with pytest.raises(DkgenError, match="linker_script: file 'ld/nope.ld' not found"):
        load_targets(folder)
    bad.write_text(good)
    assert list(load_targets(folder)) == ["cortex-m4"]


# -- toolchain checks ---------------------------------------------------------------------


@pytest.mark.parametrize(("name", "package"), [("cortex-m4", "gcc-arm-none-eabi"),
                                               ("cortex-m0", "libnewlib-arm-none-eabi"),
                                               ("host", "gcc")])
def test_check_toolchain_without_path(name: str, package: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(ToolchainError) as info:
        check_toolchain(TARGETS[name])
    message = str(info.value)
    assert package in message and "apt-get install" in message and "\n" not in message


def test_check_toolchain_names_qemu_package(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    target = usable("cortex-m4")
    real = subprocess.run(["which", target.cc], capture_output=True, text=True).stdout.strip()
    (tmp_path / target.cc).symlink_to(real)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolchainError, match=r"qemu-system-arm not found.*apt-get install "
                                             r"qemu-system-arm"):
        check_toolchain(target)


# -- build and run ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_hello_everywhere(name: str, tmp_path: Path) -> None:
    target = usable(name)
    result = build(target, [PROGRAMS / "hello.c"], tmp_path)
    assert result.elf.is_file() and [o.name for o in result.objects] == ["hello.o"]
    assert len(result.support_objects) == len(target.support_sources)
    first = run(target, result.elf, timeout_s=20)
    second = run(target, result.elf, timeout_s=20)
    for r in (first, second):
        assert r.returncode == 0 and r.ok, r
        assert not r.timed_out and r.fault is None
    assert "DKGEN_HELLO acc=1000.994" in first.stdout
    ticks = int(re.search(r"^DKGEN_HELLO ok ticks=(\d+)$", first.stdout, re.M).group(1))
    if target.is_qemu:
        assert ticks > 0 and "has_timer=1" in first.stdout
        assert first.stdout == second.stdout  # -icount: the count repeats exactly
    else:
        assert ticks == 0 and "has_timer=0" in first.stdout
        assert first.stdout == second.stdout


@pytest.mark.parametrize("period", [None, 256])
@pytest.mark.parametrize("name", QEMU)
def test_ticks_count_instructions(name: str, period: int | None, tmp_path: Path) -> None:
    """A loop of exactly 2 instructions x N: ticks_to_instructions must give ~2N.

    period=256 shortens the SysTick period so that the count wraps 25-50 times and the
    wrap counting is exercised (the 2^24 default would need ~10^9 instructions)."""
    target = usable(name)
    n = 200_000
    defines = {"CALIBRATE_N": f"{n}u"}
    if period:
        defines["DKGEN_SYSTICK_PERIOD"] = f"{period}u"
    elf = build(target, [PROGRAMS / "calibrate.c"], tmp_path, defines=defines).elf
    r = run(target, elf, timeout_s=20)
    assert r.ok, r
    ticks = int(re.search(r"ticks=(\d+)", r.stdout).group(1))
    wraps = ticks // period if period else 0
    if period:
        assert wraps >= 20
    instructions = target.ticks_to_instructions(ticks)
    per_tick = 1e9 / target.clock_hz
    # timer start/read overhead, tick quantisation, the SysTick handler on every wrap
    assert abs(instructions - 2 * n) <= 150 + 2 * per_tick + 20 * wraps, (ticks, instructions)


@pytest.mark.parametrize("name", ALL)
def test_exit_status_and_args(name: str, behave_elves: dict[str, Path]) -> None:
    target = usable(name)
    elf = behave_elves[name]
    r = run(target, elf, args=["exit3"], timeout_s=20)
    assert r.returncode == 3 and not r.timed_out and r.fault is None, r
    assert "DKGEN_BEHAVE exit3" in r.stdout
    r = run(target, elf, args=["args", "a", "bb", "c=1"], timeout_s=20)
    assert r.ok, r
    assert "DKGEN_BEHAVE argc=5 [args] [a] [bb] [c=1]" in r.stdout
    if target.is_qemu:
        with pytest.raises(DkgenError, match="spaces"):
            run(target, elf, args=["two words"])


@pytest.mark.parametrize("name", ["host", "cortex-m0", "cortex-m4"])
def test_spinning_program_times_out(name: str, behave_elves: dict[str, Path]) -> None:
    target = usable(name)
    r = run(target, behave_elves[name], args=["spin"], timeout_s=1.0)
    assert r.timed_out and r.returncode is None and not r.ok and r.fault is None
    assert 1.0 <= r.wall_s < 6.0
    assert "DKGEN_BEHAVE spin" in r.stdout


@pytest.mark.parametrize("mode", ["fault-jump", "fault-read", "overflow"])
@pytest.mark.parametrize("name", ALL)
def test_fault_ends_the_run(name: str, mode: str, behave_elves: dict[str, Path]) -> None:
    target = usable(name)
    r = run(target, behave_elves[name], args=[mode], timeout_s=15)
    assert not r.timed_out and r.wall_s < 10, r
    assert r.returncode != 0 and not r.ok and r.faulted, r
    assert f"DKGEN_BEHAVE {mode}" in r.stdout
    if name == "host-sanitize":
        assert r.returncode > 0 and "AddressSanitizer" in r.fault  # it reports, then exits
    elif target.is_host:
        assert r.returncode < 0  # killed by a signal (SIGSEGV)
    elif mode == "overflow" and name == "cortex-m0":
        # Armv6-M: the fault cannot be stacked below RAM; QEMU aborts with "Lockup".
        assert "Lockup" in r.fault
    else:
        assert r.returncode == FAULT_EXIT_STATUS
        assert r.fault.startswith("DKGEN_FAULT HardFault pc=0x")
        if mode == "overflow":
            assert r.fault.endswith("stack_overflow")


def test_sanitizer_target_reports_what_a_plain_build_misses(behave_elves: dict[str, Path]) -> None:
    plain = run(TARGETS["host"], behave_elves["host"], args=["past-end"], timeout_s=20)
    assert plain.ok and plain.fault is None, plain
    r = run(TARGETS["host-sanitize"], behave_elves["host-sanitize"], args=["past-end"], timeout_s=20)
    assert r.returncode != 0 and r.fault is not None, r
    # UBSan's object-size check or ASan's heap redzone, whichever sees it first
    assert "insufficient space" in r.fault or "heap-buffer-overflow" in r.fault, r.fault


def test_compile_error_is_one_line(tmp_path: Path) -> None:
    target = usable("host")
    src = tmp_path / "narrowing.c"
    src.write_text("int narrowing(double x);\nint narrowing(double x) { return x; }\n"
                   "int main(void) { return narrowing(0.0); }\n")
    with pytest.raises(ToolchainError) as info:
        build(target, [src], tmp_path / "out")
    message = str(info.value)
    assert "\n" not in message and "compiling narrowing.c failed" in message
    assert re.search(r"-Werror=(float-)?conversion", message) and "build.log" in message
    ok = build(target, [src], tmp_path / "out2", warnings_as_errors=False)
    assert "-Wconversion" in ok.log and run(target, ok.elf).returncode == 0


def test_link_error_is_one_line(tmp_path: Path) -> None:
    target = usable("cortex-m0")
    src = tmp_path / "missing.c"
    src.write_text("int missing(void);\nint main(void) { return missing(); }\n")
    with pytest.raises(ToolchainError, match=r"linking failed: .*undefined reference to "
                                             r"`missing'"):
        build(target, [src], tmp_path / "out")


# -- sizes --------------------------------------------------------------------------------


def _size_a(target: Target, obj: Path) -> dict[str, int]:
    out = subprocess.run([target.tool("size"), "-A", str(obj)], capture_output=True,
                         text=True, check=True).stdout
    sizes: dict[str, int] = {}
    for line in out.splitlines()[2:]:
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


@pytest.mark.parametrize("name", ["host", "cortex-m0", "cortex-m4", "cortex-m55"])
def test_section_sizes_and_stack_usage(name: str, tmp_path: Path) -> None:
    target = usable(name)
    result = build(target, [PROGRAMS / "sizes_main.c", PROGRAMS / "sizes_table.c"], tmp_path)
    assert [o.name for o in result.objects] == ["sizes_main.o", "sizes_table.o"]
    assert run(target, result.elf).ok
    table = section_sizes(target, [result.objects[1]])
    assert table["rodata"] >= 4000 and table["rodata"] < 4200
    assert table["data"] >= 4 and table["bss"] >= 400
    assert 0 < table["text"] < 400
    assert table["flash"] == table["text"] + table["rodata"] + table["data"]
    assert table["ram"] == table["data"] + table["bss"]
    # The same numbers from binutils' size -A, by section name.
    named = _size_a(target, result.objects[1])

    def total(*prefixes: str) -> int:
        return sum(v for k, v in named.items() if k.startswith(prefixes))

    assert table["rodata"] == total(".rodata", ".eh_frame", ".ARM.exidx")
    assert table["text"] == total(".text")
    assert table["data"] == total(".data")
    assert table["bss"] == total(".bss")
    both = section_sizes(target, result.objects)
    alone = section_sizes(target, [result.objects[0]])
    assert all(both[k] == table[k] + alone[k] for k in both)

    usage = stack_usage(result.objects)
    assert set(usage) >= {"main", "sizes_lookup"}
    assert all(isinstance(v, int) and 0 <= v < 256 for v in usage.values())
    assert "Reset_Handler" not in usage  # support objects are not counted
    if target.is_qemu:
        assert "Reset_Handler" in stack_usage(result.support_objects)


def test_same_stem_sources_get_distinct_objects(tmp_path: Path) -> None:
    target = usable("host")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "part.c").write_text("int part_a(void);\nint part_a(void) { return 1; }\n")
    (tmp_path / "b" / "part.c").write_text(
        "int part_a(void);\nint main(void) { return part_a() - 1; }\n")
    result = build(target, [tmp_path / "a" / "part.c", tmp_path / "b" / "part.c"],
                   tmp_path / "out", name="prog")
    assert [o.name for o in result.objects] == ["part.o", "part_1.o"]
    assert result.elf.name == "prog.elf" and run(target, result.elf).ok


def test_no_torch_import() -> None:
    code = ("import sys, dkgen.harness.toolchain, dkgen.harness.targets; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
