"""Random IR models of varied, awkward shapes, shared by the IR, ONNX and codegen tests."""

from __future__ import annotations

import numpy as np

from dkgen.ir.graph import (
    GRU,
    LSTM,
    RNN,
    Affine,
    Clip,
    Embedding,
    InputSpec,
    LeakyRelu,
    Linear,
    Model,
    Softmax,
)
from dkgen.ir.weights import (
    DenseWeight,
    KronWeight,
    LowRankWeight,
    RowStackWeight,
    SparseDope,
    SparseWeight,
)


def doped_kron(rng: np.random.Generator, a: tuple[int, int], b: tuple[int, int], density: float = 0.05,
               scale: float = 0.5) -> KronWeight:
    rows, cols = a[0] * b[0], a[1] * b[1]
    nnz = max(1, int(round(density * rows * cols)))
    idx = rng.choice(rows * cols, size=nnz, replace=False)
    dope = SparseDope(rows, cols, idx, rng.normal(scale=scale, size=nnz))
    return KronWeight(rng.normal(scale=scale, size=a), rng.normal(scale=scale, size=b), dope)


def mixed_model(seed: int = 0) -> Model:
    """Vector input, every weight kind, LSTM, GRU (both forms of ONNX's
    linear_before_reset) and RNN, an affine layer, a LeakyRelu and a Clip,
    softmax output."""
    rng = np.random.default_rng(seed)
    reset_rng = np.random.default_rng(seed + 1000)  # gru2's own: the others keep their values
    rnn_rng = np.random.default_rng(seed + 2000)  # rnn3's
    h = 12
    norm_rng = np.random.default_rng(seed + 3000)  # the affine's
    return Model("mixed", InputSpec("vector", 6), [
        LSTM("lstm0", h, doped_kron(rng, (8, 2), (6, 3)), doped_kron(rng, (8, 4), (6, 3)),
             rng.normal(size=4 * h), rng.normal(size=4 * h)),
        Affine("scale", h, norm_rng.uniform(0.5, 2.0, size=h) * norm_rng.choice([-1, 1], size=h),
               norm_rng.normal(scale=0.5, size=h)),
        GRU("gru1", 5, DenseWeight(rng.normal(scale=0.4, size=(15, h))),
            KronWeight(rng.normal(size=(3, 5)), rng.normal(size=(5, 1))),
            rng.normal(size=15), rng.normal(size=15)),
        GRU("gru2", 4, doped_kron(reset_rng, (4, 5), (3, 1)), doped_kron(reset_rng, (6, 2), (2, 2), 0.1),
            reset_rng.normal(size=12), reset_rng.normal(size=12), linear_before_reset=False),
        RNN("rnn3", 4, doped_kron(rnn_rng, (2, 2), (2, 2), 0.2), DenseWeight(rnn_rng.normal(scale=0.5, size=(4, 4))),
            rnn_rng.normal(size=4), rnn_rng.normal(size=4)),
        Linear("low_rank", LowRankWeight(rng.normal(size=(7, 2)), rng.normal(size=(2, 5))[:, :4]),
               rng.normal(size=7)),
        LeakyRelu("leaky", 7, alpha=0.2),
        Linear("pruned", SparseWeight(SparseDope(4, 7, [1, 5, 9, 20, 27], [1.0, -2.0, 0.5, 0.25, 3.0]))),
        Linear("hmd", RowStackWeight((DenseWeight(rng.normal(size=(2, 4))),
                                      LowRankWeight(rng.normal(size=(3, 1)), rng.normal(size=(1, 4))))),
               rng.normal(size=5)),
        Clip("clip", 5, lo=-0.5, hi=1.5),
        Softmax("softmax", 5),
    ])


def token_model(seed: int = 0, vocab: int = 20) -> Model:
    """Token input through an embedding, two LSTMs with 1-sized factors, a Kron decoder."""
    rng = np.random.default_rng(seed)
    h = 6
    return Model("lm", InputSpec("token", vocab), [
        Embedding("embedding", DenseWeight(rng.normal(size=(vocab, 5)))),
        LSTM("lstm0", h, doped_kron(rng, (1, 5), (24, 1)), doped_kron(rng, (24, 1), (1, 6)),
             rng.normal(size=4 * h), rng.normal(size=4 * h)),
        LSTM("lstm1", 7, KronWeight(rng.normal(size=(4, 3)), rng.normal(size=(7, 2))),
             doped_kron(rng, (7, 7), (4, 1), density=0.01)),
        Linear("decoder", doped_kron(rng, (5, 7), (4, 1)), rng.normal(size=vocab)),
    ])
