"""Shared helpers of the language-model tests: a tiny corpus and tiny run configs."""

from __future__ import annotations

from pathlib import Path

from dkgen.train.data import write_synthetic_corpus
from dkgen.train.lm import RunConfig


def tiny_corpus(folder: Path, train_tokens: int = 3000, eval_tokens: int = 600) -> Path:
    return write_synthetic_corpus(folder, vocab=40, train_tokens=train_tokens,
                                  eval_tokens=eval_tokens, seed=1)


def tiny_config(data: Path, **over: object) -> RunConfig:
    """The `tiny` recipe (2x64 LSTM, batch 10, BPTT 10): about 30 steps an epoch here."""
    return RunConfig(data=str(data), size="tiny", **over)  # type: ignore[arg-type]
