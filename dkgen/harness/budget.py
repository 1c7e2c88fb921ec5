"""A library's footprint on a target, and whether it fits the target's part.

The footprint is measured, not estimated: the library's own sources are compiled for the
target and their object files read.  Flash is code + constants + initialised data; RAM is
the library's data and bss plus the caller-owned state struct (recurrent state and
scratch, from the plan); stack is the worst case of `<name>_step` over GCC's call graph.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from dkgen.codegen.render import GeneratedLibrary
from dkgen.errors import DkgenError
from dkgen.harness import toolchain
from dkgen.harness.stack import CallGraph, callgraph_files, worst_case
from dkgen.harness.targets import Target


@dataclass
class Footprint:
    target: str
    flash_bytes: int
    ram_bytes: int
    stack_bytes: int | None
    stack_external: list[str] = field(default_factory=list)
    sections: dict[str, int] = field(default_factory=dict)


def measure_library(lib: GeneratedLibrary, target: Target, work: Path | None = None, *,
                    defines: dict[str, str] | None = None) -> Footprint:
    """Compile `lib` for `target` (no link) and measure it."""
    tmp = None
    if work is None:
        tmp = tempfile.TemporaryDirectory(prefix="dkgen-footprint-")
        work = Path(tmp.name)
    try:
        build = toolchain.build(target, lib.c_sources, work, include_dirs=lib.include_dirs,
                                defines=defines, link=False)
        sizes = toolchain.section_sizes(target, build.objects)
        depth = worst_case(CallGraph.from_files(callgraph_files(build.objects)), f"{lib.name}_step")
        return Footprint(target.name, int(sizes["flash"]),
                         int(sizes["ram"]) + lib.plan.state_bytes + lib.plan.scratch_bytes,
                         depth.bytes, depth.external, {k: int(v) for k, v in sizes.items()})
    finally:
        if tmp is not None:
            tmp.cleanup()


def budget_problems(fp: Footprint, target: Target) -> list[str]:
    """What does not fit, each with the amount over; empty when the library fits."""
    problems = []
    if fp.flash_bytes > target.flash_bytes:
        problems.append(f"flash {fp.flash_bytes:,} B > {target.flash_bytes:,} B "
                        f"(over by {fp.flash_bytes - target.flash_bytes:,} B)")
    ram = fp.ram_bytes + (fp.stack_bytes or 0)
    if ram > target.ram_bytes:
        problems.append(f"RAM {ram:,} B (state, scratch and stack) > {target.ram_bytes:,} B "
                        f"(over by {ram - target.ram_bytes:,} B)")
    return problems


def check_budget(lib: GeneratedLibrary, target: Target) -> Footprint:
    """Raise DkgenError when `lib` does not fit `target`'s part."""
    fp = measure_library(lib, target)
    problems = budget_problems(fp, target)
    if problems:
        raise DkgenError(f"does not fit {target.name} ({target.example_part}): " + "; ".join(problems),
                         field=f"model '{lib.plan.model.name}'",
                         fix="choose a larger target, compress the model further, or pass --no-budget-check")
    return fp
