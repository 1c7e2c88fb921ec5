"""PTB-layout corpora: vocabulary, batching, BPTT windows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dkgen.errors import DkgenError
from dkgen.train.data import EOS, batchify, load_corpus, windows, write_synthetic_corpus


def test_load_corpus_vocab_and_ids(tmp_path: Path) -> None:
    (tmp_path / "ptb.train.txt").write_text(" a b a \n c a <unk> \n")
    (tmp_path / "ptb.valid.txt").write_text(" a zzz \n")
    (tmp_path / "ptb.test.txt").write_text(" b \n")
    c = load_corpus(tmp_path)
    # Frequency, then alphabetical: a(3) <eos>(2) <unk> b c (1 each).
    assert c.vocab == ["a", EOS, "<unk>", "b", "c"]
    assert c.train.tolist() == [0, 3, 0, 1, 4, 0, 2, 1]
    assert c.valid.tolist() == [0, 2, 1]  # an unseen word is <unk>
    assert c.test.tolist() == [3, 1]


def test_missing_split_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "ptb.train.txt").write_text("a\n")
    with pytest.raises(DkgenError, match="ptb.valid.txt"):
        load_corpus(tmp_path)


def test_batchify_and_windows() -> None:
    ids = np.arange(23)
    data = batchify(ids, 4)
    assert data.shape == (5, 4)
    assert data[:, 1].tolist() == [5, 6, 7, 8, 9]  # each column a contiguous stream
    wins = windows(data.size(0), 3)
    assert wins == [(0, 3), (3, 1)]  # targets are one ahead, so 4 inputs at most


def test_synthetic_corpus_is_deterministic(tmp_path: Path) -> None:
    a = load_corpus(write_synthetic_corpus(tmp_path / "a", seed=5))
    b = load_corpus(write_synthetic_corpus(tmp_path / "b", seed=5))
    assert a.vocab == b.vocab and np.array_equal(a.train, b.train)
    assert a.vocab_size == 50 + 1  # the words and <eos>
