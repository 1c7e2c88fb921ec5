"""Kernel test programs for QEMU targets: constant inputs, a batch of calls, one output
line per call (`R <case> <value>...`).

The Python side holds only data: arrays (`CArray`, as the generated libraries hold
weights) and one `Case` per call, naming its kind and fields. All C text is in templates:
tests/kernel_cases.c.j2 (the program's skeleton and each case's output buffers and print
loops) and, extending it, one template per test file whose `call` block writes each
kind's kernel call. Struct initialisers come from the library's own template macros
(templates/lib), so the tests also hold those to the runtime's struct layouts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import numpy as np

from dkgen.codegen.pack import CArray, c_literal
from dkgen.harness import toolchain
from dkgen.harness.targets import get_target
from dkgen.resources import templates_dir

TESTS = Path(__file__).resolve().parent
RUNTIME = TESTS.parent / "runtime"
_ENV = jinja2.Environment(
    loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(TESTS),
                                jinja2.FileSystemLoader(str(templates_dir()))]),
    trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined)
_ENV.filters["c_literal"] = c_literal


@dataclass
class Output:
    """One output array of a case, in the shared buffer at `offset` (buffer elements);
    `init` names an array copied into it before the call (accumulators, cell state)."""

    ctype: str
    n: int
    init: str | None = None
    offset: int = 0


@dataclass
class Case:
    """One kernel call: its template kind, the fields the template uses, its outputs
    (`s0`, `s1`, ... in the call) and the reference the test compares with."""

    k: int
    kind: str
    fields: dict
    outs: list[Output]
    expected: object = None


@dataclass
class CasesProgram:
    """template: the test file's template (extends kernel_cases.c.j2); sources: runtime
    files to build with; buffers: (ctype, name, size) of the shared arrays, the first
    being where the outputs go."""

    template: str
    sources: list[str]
    buffers: list[tuple[str, str, int]]
    show_float_bits: bool = False
    arrays: list[CArray] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)

    def array(self, ctype: str, values: object) -> str:
        """A `static const` array of the values (C has no empty arrays: one 0 then)."""
        flat = np.asarray(values).ravel()
        name = f"d{len(self.arrays)}"
        self.arrays.append(CArray(name, ctype, flat if flat.size else np.zeros(1)))
        return name

    def case(self, kind: str, expected: object, outs: list[Output], **fields: object) -> Case:
        offset = 0
        for o in outs:
            o.offset = offset
            offset += o.n
        c = Case(len(self.cases), kind, fields, outs, expected)
        self.cases.append(c)
        return c

    @property
    def expected(self) -> list:
        return [c.expected for c in self.cases]

    def describe(self, k: int) -> str:
        """A case, for failure messages."""
        c = self.cases[k]
        return f"case {k} {c.kind} {c.fields}"[:200]

    def source(self) -> str:
        return _ENV.get_template(self.template).render(
            headers=[s.replace(".c", ".h") for s in self.sources], buffers=self.buffers,
            show_float_bits=self.show_float_bits, arrays=self.arrays, cases=self.cases)


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
    assert len(got) == len(prog.cases)
    return got
