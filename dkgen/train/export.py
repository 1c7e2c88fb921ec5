"""Export a trained language-model run to ONNX, with calibration inputs for int8.

`export_run(RUN_DIR, model.onnx)` writes the model (embedding -> LSTM with its compressed
gate matrices kept compressed -> decoder -> softmax) and `model.npz` beside it, holding
`x`: token-id sequences (batch, time) cut from the validation text, which `dkgen
generate`/`verify` accept as calibration and test inputs.

`lstm_only=True` writes the part the paper compresses and a microcontroller can hold: the
LSTM layers alone, from the embedding vectors to the last layer's hidden state (the 10k-word
embedding and decoder of a PTB model are 8 MB each in float32). Its `x` is then those
windows looked up in the run's own embedding, (batch, time, embedding size) float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dkgen.errors import DkgenError
from dkgen.fileio import save_npz
from dkgen.ir.graph import InputSpec, Model
from dkgen.nn.export import to_ir
from dkgen.onnx_io.export import save_onnx
from dkgen.train.lm import LanguageModel, RunConfig, load_run_model
from dkgen.train.methods import lstm_size


@dataclass
class ExportResult:
    model_path: Path
    data_path: Path
    ir: Model
    lstm: dict


def lm_to_ir(model: LanguageModel, config: RunConfig, name: str = "lm",
             softmax: bool = True) -> Model:
    """The language model as IR: token id -> Embedding -> LSTM -> Linear (-> Softmax)."""
    spec = InputSpec("token", model.embed.num_embeddings, name="token")
    meta = {"task": "word-level language model, next-token distribution at every step",
            "method": config.method, "ratio": str(config.ratio), "size": config.size}
    return to_ir(model, name, spec, softmax=softmax, metadata=meta)


def lstm_layers_ir(model: LanguageModel, config: RunConfig, name: str = "lstm") -> Model:
    """The language model's LSTM layers alone: embedding vector in, hidden state out."""
    meta = {"task": "the LSTM layers of a word-level language model: embedding in, hidden state out",
            "method": config.method, "ratio": str(config.ratio), "size": config.size}
    spec = InputSpec("vector", model.embed.embedding_dim, name="embedding")
    return to_ir(model.rnn, name, spec, metadata=meta)


def calibration_tokens(ids: np.ndarray, batch: int, steps: int) -> np.ndarray:
    """(batch, steps) int64: `batch` windows spread evenly over a token stream."""
    if batch < 1 or steps < 1:
        raise DkgenError("calibration batch and steps must be positive")
    if len(ids) < steps:
        raise DkgenError(f"the text has {len(ids)} tokens, fewer than {steps} steps")
    starts = np.linspace(0, len(ids) - steps, batch).astype(np.int64)
    return np.stack([ids[s:s + steps] for s in starts]).astype(np.int64)


def export_run(run_dir: str | Path, out: str | Path, *, force: bool = False,
               which: str = "best", batch: int = 8, steps: int = 35, name: str | None = None,
               softmax: bool = True, lstm_only: bool = False) -> ExportResult:
    """Write RUN_DIR's model to `out` (ONNX) and its calibration inputs to out.with_suffix('.npz').

    which: "best" (best validation checkpoint; the last one if there is none) or "last".
    Nothing is written if either file exists and `force` is not set.
    lstm_only: the LSTM layers alone (module docstring); `softmax` does not apply.
    """
    out = Path(out)
    data_path = out.with_suffix(".npz")
    for p in (out, data_path):
        if p.exists() and not force:
            raise DkgenError("exists; refusing to overwrite", path=p, fix="pass --force to replace it")
    model, config, corpus = load_run_model(run_dir, which)
    x = calibration_tokens(corpus.valid, batch, steps)
    if lstm_only:
        ir = lstm_layers_ir(model, config, name or "lstm")
        x = model.embed.weight.detach().cpu().numpy()[x].astype(np.float32)
    else:
        ir = lm_to_ir(model, config, name or "lm", softmax)
    save_onnx(ir, out, force=force)
    save_npz(data_path, x=x)
    return ExportResult(out, data_path, ir, lstm_size(model.rnn))
