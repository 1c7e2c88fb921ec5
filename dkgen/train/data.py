"""Word-level language-model corpora in the PTB layout (ptb.{train,valid,test}.txt).

The corpus is never shipped with dkgen: its folder is an argument.  Tokenisation is the
one every PTB language-model paper uses (Mikolov's preprocessed files): split on
whitespace, one `<eos>` after every line, the vocabulary is the training set's words
(10,000 for PTB; `<unk>` is already in the text), sorted by descending frequency then
alphabetically so that ids are reproducible from the files alone.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from dkgen.errors import DkgenError

SPLITS = ("train", "valid", "test")
EOS = "<eos>"


def _read_words(path: Path) -> list[str]:
    words: list[str] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            words.extend(line.split())
            words.append(EOS)
    return words


@dataclass
class Corpus:
    """Token ids of each split (int64 1-D arrays) and the vocabulary."""

    vocab: list[str]
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    path: Path

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def split(self, name: str) -> np.ndarray:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {SPLITS}")
        return getattr(self, name)


def load_corpus(folder: str | Path, prefix: str = "ptb") -> Corpus:
    """Read `<prefix>.{train,valid,test}.txt` from `folder`.

    Words of valid/test that the training set lacks map to `<unk>` (PTB has none).
    """
    folder = Path(folder)
    paths = {s: folder / f"{prefix}.{s}.txt" for s in SPLITS}
    for split, p in paths.items():
        if not p.is_file():
            raise DkgenError(f"no {split} split", path=p,
                             fix=f"pass --data a folder holding {prefix}.train.txt, "
                                 f"{prefix}.valid.txt and {prefix}.test.txt")
    words = {s: _read_words(p) for s, p in paths.items()}
    counts = Counter(words["train"])
    vocab = sorted(counts, key=lambda w: (-counts[w], w))
    ids = {w: i for i, w in enumerate(vocab)}
    unk = ids.get("<unk>")

    def encode(ws: list[str]) -> np.ndarray:
        if unk is None:
            missing = {w for w in ws if w not in ids}
            if missing:
                raise DkgenError(f"{len(missing)} word(s) outside the training vocabulary and "
                                 "no <unk> token", path=folder)
            return np.fromiter((ids[w] for w in ws), dtype=np.int64, count=len(ws))
        return np.fromiter((ids.get(w, unk) for w in ws), dtype=np.int64, count=len(ws))

    return Corpus(vocab, encode(words["train"]), encode(words["valid"]), encode(words["test"]),
                  folder)


def batchify(ids: np.ndarray, batch_size: int) -> Tensor:
    """(steps, batch) tensor: the stream cut into `batch_size` contiguous columns.

    The tail that does not fill a row is dropped, as in Zaremba et al.'s reader.  Column
    b holds tokens [b*steps, (b+1)*steps): each column is one long sequence whose hidden
    state is carried from one BPTT window to the next.
    """
    steps = len(ids) // batch_size
    if steps < 2:
        raise ValueError(f"{len(ids)} tokens are too few for batch size {batch_size}")
    data = torch.from_numpy(np.ascontiguousarray(ids[: steps * batch_size]))
    return data.view(batch_size, steps).t().contiguous()


def windows(steps: int, bptt: int) -> list[tuple[int, int]]:
    """(start, length) of each BPTT window over a (steps, batch) stream (target is +1)."""
    return [(i, min(bptt, steps - 1 - i)) for i in range(0, steps - 1, bptt)]


def write_synthetic_corpus(folder: str | Path, *, vocab: int = 50, train_tokens: int = 6000,
                           eval_tokens: int = 1200, seed: int = 0, prefix: str = "ptb") -> Path:
    """A tiny learnable corpus in the PTB layout, for tests and smoke runs.

    Sentences follow a fixed random first-order Markov chain: each word is followed by its
    one likely successor 70% of the time, else by one of two others or a random word, so a
    language model can beat the unigram perplexity within a few dozen steps.
    """
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    words = [f"w{i}" for i in range(vocab - 1)] + ["<unk>"]
    succ = rng.integers(0, vocab, size=(vocab, 3))

    def text(n: int) -> str:
        lines, line, w = [], [], int(rng.integers(vocab))
        for _ in range(n):
            line.append(words[w])
            if len(line) >= 12 or rng.random() < 0.05:
                lines.append(" " + " ".join(line) + " ")
                line = []
            u = rng.random()
            w = int(succ[w, 0 if u < 0.7 else 1 if u < 0.8 else 2]) if u < 0.9 else \
                int(rng.integers(vocab))
        if line:
            lines.append(" " + " ".join(line) + " ")
        return "\n".join(lines) + "\n"

    # Every word appears in train, so valid/test never need <unk> beyond the real one.
    (folder / f"{prefix}.train.txt").write_text(" ".join(words) + "\n" + text(train_tokens))
    (folder / f"{prefix}.valid.txt").write_text(text(eval_tokens))
    (folder / f"{prefix}.test.txt").write_text(text(eval_tokens))
    return folder
