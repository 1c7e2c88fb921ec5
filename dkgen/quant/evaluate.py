"""Accuracy of a quantised model against its float original, in numpy only.

`perplexity(executor, ids)` runs a token stream through a language model's reference
executor (float `dkgen.ir.reference.ReferenceExecutor` or int8 `QuantReferenceExecutor`),
`batch` parallel slices carried across windows the way the LM trainer evaluates, and
returns exp(mean negative log-likelihood of the next token).  The model must end in its
logits (export it without the Softmax: an int8 Softmax writes Q0.15 probabilities, in
which a rare next token's probability rounds to 0); for int8 those logits are the last
Linear layer's int16 outputs, and the log-softmax is taken in float64 here.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from dkgen.errors import DkgenError


class _Executor(Protocol):
    last_state: list

    def run(self, xs: np.ndarray, state: list | None = None, *, trace: bool = False
            ) -> tuple[np.ndarray, dict]: ...


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def perplexity(executor: _Executor, ids: np.ndarray, *, batch: int = 10, window: int = 35,
               max_tokens: int | None = None) -> float:
    """exp(mean NLL) of predicting each next token from the ones before it, over `batch`
    contiguous slices of the stream (the state carried across windows of `window` steps)."""
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    if max_tokens is not None:
        ids = ids[:max_tokens]
    # The trainer's split (dkgen.train.data.batchify): `batch` contiguous columns, each
    # predicting its own next tokens, so both score the same (per - 1) * batch tokens.
    per = ids.size // batch
    if per < 2:
        raise DkgenError(f"{ids.size} tokens are too few for {batch} slices")
    cols = ids[:per * batch].reshape(batch, per)
    inputs, targets = cols[:, :-1], cols[:, 1:]
    per -= 1
    state = None
    nll, count = 0.0, 0
    for start in range(0, per, window):
        xs = inputs[:, start:start + window]
        logits, _ = executor.run(xs, state)
        state = executor.last_state
        logp = _log_softmax(np.asarray(logits, np.float64))
        picked = np.take_along_axis(logp, targets[:, start:start + window, None], axis=2)
        nll -= float(picked.sum())
        count += picked.size
    return math.exp(nll / count)
