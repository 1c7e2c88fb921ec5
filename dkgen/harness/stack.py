"""Worst-case stack depth from GCC's call graphs (-fcallgraph-info=su).

Each object's `.ci` file lists its functions with their frame sizes and the calls they
make.  The worst case of a root is the deepest path through that graph.  Calls that leave
the analysed objects (libm's expf, compiler helpers) have no known frame; they are listed
so a report can say the figure excludes them.  Recursion makes the depth unbounded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

_NODE = re.compile(r'node:\s*\{\s*title:\s*"([^"]+)"\s*label:\s*"([^"]*)"')
_EDGE = re.compile(r'edge:\s*\{\s*sourcename:\s*"([^"]+)"\s*targetname:\s*"([^"]+)"')
_BYTES = re.compile(r"\\n(\d+) bytes \((static|dynamic)")


@dataclass
class CallGraph:
    frames: dict[str, int] = field(default_factory=dict)  # function -> its own frame bytes
    dynamic: set[str] = field(default_factory=set)  # frames that vary (alloca, VLAs)
    calls: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def from_files(cls, paths: Iterable[Path]) -> CallGraph:
        graph = cls()
        for path in paths:
            text = Path(path).read_text(errors="replace")
            for title, label in _NODE.findall(text):
                m = _BYTES.search(label)
                if m:
                    graph.frames[title] = int(m.group(1))
                    if m.group(2) == "dynamic":
                        graph.dynamic.add(title)
            for src, dst in _EDGE.findall(text):
                graph.calls.setdefault(src, set()).add(dst)
        return graph


@dataclass
class StackDepth:
    root: str
    bytes: int | None  # None: recursion or an unknown root
    path: list[str]
    external: list[str]  # called functions outside the analysed objects


def worst_case(graph: CallGraph, root: str) -> StackDepth:
    """The deepest stack use starting at `root`."""
    if root not in graph.frames:
        return StackDepth(root, None, [], [])
    external: set[str] = set()
    memo: dict[str, tuple[int, list[str]]] = {}
    on_path: set[str] = set()

    class _Recursion(Exception):
        pass

    def depth(fn: str) -> tuple[int, list[str]]:
        if fn in memo:
            return memo[fn]
        if fn in on_path:
            raise _Recursion(fn)
        on_path.add(fn)
        best, best_path = 0, []
        for callee in sorted(graph.calls.get(fn, ())):
            if callee not in graph.frames:
                external.add(callee)
                continue
            d, p = depth(callee)
            if d > best:
                best, best_path = d, p
        on_path.discard(fn)
        memo[fn] = (graph.frames[fn] + best, [fn, *best_path])
        return memo[fn]

    try:
        total, path = depth(root)
    except _Recursion:
        return StackDepth(root, None, [], sorted(external))
    return StackDepth(root, total, path, sorted(external))


def callgraph_files(objects: Iterable[Path]) -> list[Path]:
    return [Path(o).with_suffix(".ci") for o in objects if Path(o).with_suffix(".ci").exists()]
