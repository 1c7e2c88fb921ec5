"""Kernel test programs for QEMU targets: constant inputs, a batch of calls, one output
line per call (`R <case> <value>...`).  The C skeleton is tests/kernel_cases.c.j2; the
tests add arrays and calls and compare what the core printed with their references."""

from __future__ import annotations

from pathlib import Path

import jinja2

from dkgen.harness import toolchain
from dkgen.harness.targets import get_target

RUNTIME = Path(__file__).resolve().parents[1] / "runtime"
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent),
                          trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                          undefined=jinja2.StrictUndefined)


class CasesProgram:
    """decls: constant arrays; calls: one block per case; expected: one reference per case."""

    def __init__(self, sources: list[str], buffers: list[tuple[str, str, int]], *,
                 show_float_bits: bool = False) -> None:
        self.sources = sources
        self.buffers = buffers
        self.show_float_bits = show_float_bits
        self.decls: list[str] = []
        self.calls: list[str] = []
        self.expected: list = []

    def source(self) -> str:
        return _ENV.get_template("kernel_cases.c.j2").render(
            headers=[s.replace(".c", ".h") for s in self.sources], buffers=self.buffers,
            show_float_bits=self.show_float_bits, decls=self.decls, calls=self.calls)


def run_cases(prog: CasesProgram, src: Path, target: str, build_dir: Path, *,
              defines: dict[str, str | None] | None = None, timeout_s: float) -> dict[int, list[str]]:
    """Build `src` with the runtime sources for `target`, run it, return each case's fields."""
    t = get_target(target)
    build = toolchain.build(t, [src, *(RUNTIME / s for s in prog.sources)], build_dir,
                            include_dirs=[RUNTIME], defines=defines)
    result = toolchain.run(t, build.elf, timeout_s=timeout_s)
    assert result.returncode == 0 and "DONE" in result.stdout, result.stdout[-2000:] + result.stderr[-2000:]
    got: dict[int, list[str]] = {}
    for line in result.stdout.splitlines():
        if line.startswith("R "):
            fields = line.split()
            got[int(fields[1])] = fields[2:]
    assert len(got) == len(prog.expected)
    return got
