"""Shared pieces of the int8 tests: random models of varied shapes, and building and running
an int8 library's parity runner on a target."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dkgen.harness import toolchain
from dkgen.harness.targets import get_target
from dkgen.ir.graph import (
    GRU,
    LSTM,
    RNN,
    Clip,
    Embedding,
    InputSpec,
    LeakyRelu,
    Linear,
    Model,
    Relu,
    Softmax,
)
from dkgen.ir.weights import (
    DenseWeight,
    KronWeight,
    LowRankWeight,
    RowStackWeight,
    SparseDope,
    SparseWeight,
    Weight,
)
from dkgen.quant.codegen import RUNNER_DEFINES, Int8Golden, parse_layer_mismatch, write_runner_int8


def _split(rng: np.random.Generator, n: int) -> tuple[int, int]:
    """A random factorisation n = p * q (1-sized factors included)."""
    divisors = [d for d in range(1, n + 1) if n % d == 0]
    p = int(rng.choice(divisors))
    return p, n // p


def random_weight(rng: np.random.Generator, rows: int, cols: int, kinds: tuple[str, ...] | None = None,
                  scale: float = 0.5) -> Weight:
    kinds = kinds or ("dense", "kron", "doped_kron", "doped_kron", "low_rank", "sparse", "row_stack")
    kind = str(rng.choice(kinds))
    if kind == "row_stack" and rows < 2:
        kind = "dense"
    if kind == "dense":
        return DenseWeight(rng.normal(scale=scale, size=(rows, cols)))
    if kind in ("kron", "doped_kron"):
        (m1, m2), (n1, n2) = _split(rng, rows), _split(rng, cols)
        dope = None
        if kind == "doped_kron":
            nnz = max(1, int(rng.uniform(0.01, 0.2) * rows * cols))
            idx = rng.choice(rows * cols, size=nnz, replace=False)
            dope = SparseDope(rows, cols, idx, rng.normal(scale=scale * rng.uniform(0.1, 4), size=nnz))
        return KronWeight(rng.normal(scale=scale, size=(m1, n1)), rng.normal(scale=scale, size=(m2, n2)), dope)
    if kind == "low_rank":
        r = int(rng.integers(1, 4))
        return LowRankWeight(rng.normal(scale=scale, size=(rows, r)), rng.normal(scale=scale, size=(r, cols)))
    if kind == "sparse":
        nnz = max(1, int(0.3 * rows * cols))
        idx = rng.choice(rows * cols, size=nnz, replace=False)
        return SparseWeight(SparseDope(rows, cols, idx, rng.normal(scale=scale, size=nnz)))
    top = int(rng.integers(1, rows))
    return RowStackWeight((DenseWeight(rng.normal(scale=scale, size=(top, cols))),
                           LowRankWeight(rng.normal(scale=scale, size=(rows - top, 1)),
                                         rng.normal(scale=scale, size=(1, cols)))))


def random_model(seed: int) -> Model:
    """A random chain: [embedding] then 1-3 of LSTM/GRU/RNN/Linear (a Linear maybe followed by a
    ReLU, Clip or LeakyRelu), maybe a softmax."""
    rng = np.random.default_rng(seed)
    layers = []
    if rng.random() < 0.3:
        vocab = int(rng.integers(2, 30))
        spec = InputSpec("token", vocab)
        size = int(rng.integers(1, 9))
        layers.append(Embedding("emb", DenseWeight(rng.normal(size=(vocab, size)))))
    else:
        size = int(rng.integers(1, 11))
        spec = InputSpec("vector", size, low=-2.0, high=2.0)
    for i in range(int(rng.integers(1, 4))):
        op = str(rng.choice(["lstm", "gru", "linear"]))
        if op == "linear":
            out = int(rng.integers(1, 13))
            layers.append(Linear(f"fc{i}", random_weight(rng, out, size), rng.normal(size=out)))
        else:
            h = int(rng.integers(1, 11))
            # A third of the GRUs become RNNs, drawn apart so that other seeds keep their models.
            if op == "gru" and np.random.default_rng([seed, i, 1]).random() < 1 / 3:
                op = "rnn"
            g = {"lstm": 4, "gru": 3, "rnn": 1}[op]
            cls = {"lstm": LSTM, "gru": GRU, "rnn": RNN}[op]
            # GRUs in either form of ONNX's linear_before_reset
            extra = {"linear_before_reset": bool(rng.random() < 0.5)} if op == "gru" else {}
            layers.append(cls(f"{op}{i}", h, random_weight(rng, g * h, size), random_weight(rng, g * h, h),
                              rng.normal(size=g * h), rng.normal(size=g * h), **extra))
            out = h
        size = out
        # An element-wise layer after a Linear, from a generator of its own so that the
        # other draws (and the models every seed gave before) stay as they were.
        act_rng = np.random.default_rng([seed, i])
        if op == "linear" and act_rng.random() < 0.5:
            kind = str(act_rng.choice(["relu", "clip", "leaky"]))
            if kind == "relu":
                layers.append(Relu(f"relu{i}", size))
            elif kind == "clip":
                lo = float(act_rng.uniform(-3.0, 0.5))
                layers.append(Clip(f"clip{i}", size, lo, lo + float(act_rng.uniform(0.0, 4.0))))
            else:
                layers.append(LeakyRelu(f"leaky{i}", size, float(act_rng.uniform(-0.5, 1.5))))
    if rng.random() < 0.3:
        layers.append(Softmax("softmax", size))
    return Model(f"rand{seed}", spec, layers)


def inputs_for(model: Model, sequences: int, steps: int, seed: int, gain: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if model.input.kind == "token":
        return rng.integers(0, model.input.size, size=(sequences, steps)).astype(np.int32)
    return (gain * rng.uniform(-2.0, 2.0, size=(sequences, steps, model.input.size))).astype(np.float32)


def run_parity(lib, golden: Int8Golden, work: Path, target: str = "host",
               defines: dict[str, str | None] | None = None) -> dict:
    """Build and run the int8 runner; return {'stdout', 'returncode', 'passed', 'layer'}."""
    t = get_target(target)
    runner = write_runner_int8(lib, golden, work / "runner")
    build = toolchain.build(t, [*lib.c_sources, runner], work / "build",
                            include_dirs=[*lib.include_dirs, runner.parent],
                            defines={**RUNNER_DEFINES, **(defines or {})})
    result = toolchain.run(t, build.elf, timeout_s=60)
    return {"stdout": result.stdout, "returncode": result.returncode,
            "passed": result.returncode == 0 and "DKGEN_RESULT PASS" in result.stdout,
            "layer": parse_layer_mismatch(result.stdout), "elf": build.elf, "objects": build.objects}
