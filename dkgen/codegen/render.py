"""Template rendering: a `ModelPlan` -> the files of a C library, written atomically.

Output layout (DESIGN.md):
    <out>/include/<name>.h  src/<name>.c  src/<name>_weights.c  src/<name>_weights.h
    <out>/runtime/...        the runtime kernels this model calls, copied verbatim, and
                             dkgen_namespace.h, which renames them to <name>_dkgen_...
    <out>/CMakeLists.txt  <out>/<name>.mk  <out>/manifest.json
Generation is deterministic: the same model and options give byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

from dkgen import __version__
from dkgen.codegen.pack import c_literal
from dkgen.codegen.plan import ModelPlan, plan_model
from dkgen.errors import DkgenError
from dkgen.ir.graph import Model
from dkgen.resources import runtime_dir, templates_dir

if TYPE_CHECKING:
    from dkgen.quant.codegen import QuantPlan

    AnyPlan = ModelPlan | QuantPlan

_INCLUDE = re.compile(r'#include\s+"(dkgen_[a-z0-9_]+)\.h"')
# A runtime header's file-scope declaration of a function or table with external linkage:
# a type at the very start of a line, then a dkgen_ name and "(" or "[" (static inline
# helpers, typedefs and struct members are indented or start otherwise).
_EXTERN_DECL = re.compile(
    r"^(?!static\b|DKGEN_INLINE\b|typedef\b)(?:extern\s+)?(?:const\s+)?[A-Za-z_]\w*[\s*]+"
    r"(dkgen_\w+)\s*[(\[]", re.M)


def template_env() -> jinja2.Environment:
    """The templates' environment; the filter `c_literal(ctype)` writes a number as a C
    literal of that type (`dkgen.codegen.pack.c_literal`)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["c_literal"] = c_literal
    return env


def runtime_symbols(headers: list[str]) -> list[str]:
    """The names with external linkage that the runtime headers `headers` declare."""
    return sorted({n for h in headers for n in _EXTERN_DECL.findall(h)})


def runtime_closure(stems: set[str]) -> list[str]:
    """The runtime file stems needed for `stems`, following their #includes."""
    rt = runtime_dir()
    todo, done = sorted(stems | {"dkgen_common"}), set()
    while todo:
        stem = todo.pop()
        if stem in done:
            continue
        done.add(stem)
        for suffix in (".h", ".c"):
            path = rt / f"{stem}{suffix}"
            if path.exists():
                todo += [s for s in _INCLUDE.findall(path.read_text()) if s not in done]
    return sorted(done)


@dataclass
class GeneratedLibrary:
    out_dir: Path
    name: str
    plan: AnyPlan
    manifest: dict

    @property
    def c_sources(self) -> list[Path]:
        return [self.out_dir / f for f in self.manifest["c_sources"]]

    @property
    def include_dirs(self) -> list[Path]:
        return [self.out_dir / d for d in ("include", "runtime", "src")]


def render_library(plan: AnyPlan, templates: dict[str, str], macros: str, *, source: str = "model",
                   extra: dict | None = None) -> dict[str, bytes]:
    """Render a library (float32 or int8) as {relative path: bytes}, manifest excepted.

    `plan` is a ModelPlan or an int8 QuantPlan (name, kernels, macs); `templates` maps
    each template to its output path (`{name}` is filled in); `macros` is the macro
    template the others call as `macros`; `extra` adds to the templates' context.
    """
    env = template_env()
    name = plan.name
    stems = runtime_closure(plan.kernels)
    rt = runtime_dir()
    files: dict[str, bytes] = {}
    runtime_files = [f"{s}{x}" for s in stems for x in (".h", ".c") if (rt / f"{s}{x}").exists()]
    for f in runtime_files:
        files[f"runtime/{f}"] = (rt / f).read_bytes()
    # Each library renames its kernels to its own (dkgen_namespace.h, read by dkgen_common.h),
    # so that several link into one firmware.
    symbols = runtime_symbols([files[f"runtime/{f}"].decode() for f in runtime_files
                               if f.endswith(".h")])
    c_sources = [f"src/{name}.c", f"src/{name}_weights.c"] + [
        f"runtime/{f}" for f in runtime_files if f.endswith(".c")]
    ctx = {
        "name": name,
        "NAME": name.upper(),
        "plan": plan,
        "version": __version__,
        "source": source,
        "macs": plan.macs,
        "kernel_headers": [s for s in stems if s != "dkgen_common" and (rt / f"{s}.h").exists()],
        "c_sources": c_sources,
        "macros": env.get_template(macros).module,
        "runtime_symbols": symbols,
        **(extra or {}),
    }
    files["runtime/dkgen_namespace.h"] = env.get_template(
        "lib/dkgen_namespace.h.j2").render(ctx).encode()
    for tpl, out in templates.items():
        files[out.format(name=name)] = env.get_template(tpl).render(ctx).encode()
    return files


# The float32 library: template -> output path.
LIB_TEMPLATES = {
    "lib/model.h.j2": "include/{name}.h",
    "lib/model.c.j2": "src/{name}.c",
    "lib/model_weights.h.j2": "src/{name}_weights.h",
    "lib/model_weights.c.j2": "src/{name}_weights.c",
    "lib/CMakeLists.txt.j2": "CMakeLists.txt",
    "lib/model.mk.j2": "{name}.mk",
}


def render_files(plan: ModelPlan, *, source: str = "model") -> dict[str, bytes]:
    """All files of the float32 library as {relative path: bytes} (no manifest)."""
    return render_library(plan, LIB_TEMPLATES, "lib/macros.j2", source=source)


def build_manifest(plan: AnyPlan, files: dict[str, bytes], source: str, source_sha256: str | None,
                   dtype: str = "float32") -> dict:
    model = plan.model
    layers = []
    for lp in plan.layers:
        layers.append({
            "name": lp.layer.name,
            "op": lp.op,
            "in": lp.in_size,
            "out": lp.out_size,
            "weights": {role: {"kind": m.kind, "shape": [m.rows, m.cols], "bytes": m.nbytes,
                               "macs": m.macs} for role, m in lp.matrices.items()},
        })
    return {
        "generator": f"dkgen {__version__}",
        "name": plan.name,
        "source": {"file": source, "sha256": source_sha256},
        "dtype": dtype,
        "input": {"kind": model.input.kind, "size": model.input.size},
        "output_size": plan.output_size,
        "sizes": {"weight_bytes": plan.weight_bytes, "state_bytes": plan.state_bytes,
                  "scratch_bytes": plan.scratch_bytes},
        "macs_per_step": plan.macs,
        "layers": layers,
        "c_sources": [f for f in sorted(files) if f.endswith(".c")],
        "files": {f: hashlib.sha256(b).hexdigest() for f, b in sorted(files.items())},
    }


def write_tree(files: dict[str, bytes], out_dir: Path, *, force: bool,
               check: Callable[[Path], None] | None = None) -> None:
    """Write `files` under `out_dir` all at once: into a temporary folder, then rename.

    `check`, when given, is called with the temporary folder once every file is there; if
    it raises, nothing is written (a budget check compiles the library there).
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DkgenError("exists and is not a folder", path=out_dir, fix="choose another -o")
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise DkgenError("exists and is not empty; refusing to overwrite", path=out_dir,
                         fix="pass --force to replace it")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        for rel, data in files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        if check is not None:
            check(tmp)
        old = None
        if out_dir.exists():
            old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def generate(model: Model, out_dir: str | os.PathLike[str], *, name: str | None = None,
             force: bool = False, source: str | None = None, source_sha256: str | None = None,
             check: Callable[[GeneratedLibrary], None] | None = None) -> GeneratedLibrary:
    """Generate the float32 C library for `model` into `out_dir`.

    `check` sees the complete library in its temporary folder before it is moved into
    place (e.g. a budget check); raising there leaves `out_dir` untouched.
    """
    try:
        plan = plan_model(model, name)
    except ValueError as exc:
        raise DkgenError(str(exc), path=source, field="model") from None
    src = Path(source or model.name).name
    files = render_files(plan, source=src)
    manifest = build_manifest(plan, files, src, source_sha256)
    return write_library(plan, files, manifest, out_dir, force=force, check=check)


def write_library(plan: AnyPlan, files: dict[str, bytes], manifest: dict, out_dir: str | os.PathLike[str], *,
                  force: bool, check: Callable[[GeneratedLibrary], None] | None) -> GeneratedLibrary:
    """Add the manifest to `files` and write them to `out_dir` (see `write_tree`); `check`
    sees the complete library in its temporary folder first."""
    files["manifest.json"] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    hook = None if check is None else (lambda tmp: check(GeneratedLibrary(tmp, plan.name, plan, manifest)))
    write_tree(files, Path(out_dir), force=force, check=hook)
    return GeneratedLibrary(Path(out_dir), plan.name, plan, manifest)
