"""int8 perplexity of a trained language model against its float original.

`int8_perplexity(RUN_DIR)` exports the run's model to the IR ending in its logits (no
Softmax; see dkgen.quant.evaluate), quantises it post-training with dkgen.quant calibrated
on windows of the validation text, and scores the float64 reference executor and the
integer reference executor on the same split with the same batching.  The integer
reference is the arithmetic the generated C reproduces bit for bit (`dkgen verify --dtype
int8`), so its perplexity is the C library's.
"""

from __future__ import annotations

import time
from pathlib import Path

from dkgen.errors import DkgenError
from dkgen.inspect import model_summary
from dkgen.ir.reference import ReferenceExecutor
from dkgen.quant import QuantReferenceExecutor, plan_int8, quantize_model
from dkgen.quant.evaluate import perplexity
from dkgen.train.export import calibration_tokens, lm_to_ir
from dkgen.train.lm import load_run_model


def int8_perplexity(run_dir: str | Path, *, which: str = "best", split: str = "test",
                    calib_batch: int = 20, calib_steps: int = 35, batch: int = 10,
                    window: int = 35, max_tokens: int | None = None) -> dict:
    """Float and int8 perplexity of RUN_DIR's model on `split` ("valid" or "test")."""
    if split not in ("valid", "test"):
        raise DkgenError(f"unknown split {split!r}", field="split", fix="use valid or test")
    model, config, corpus = load_run_model(run_dir, which)
    ir = lm_to_ir(model, config, "lm", softmax=False)
    calib = calibration_tokens(corpus.valid, calib_batch, calib_steps)
    qm = quantize_model(ir, calib)
    ids = getattr(corpus, split)
    started = time.time()
    float_ppl = perplexity(ReferenceExecutor(ir), ids, batch=batch, window=window,
                           max_tokens=max_tokens)
    int8_ppl = perplexity(QuantReferenceExecutor(qm), ids, batch=batch, window=window,
                          max_tokens=max_tokens)
    tokens = ids.size if max_tokens is None else min(ids.size, max_tokens)
    layers = model_summary(ir, plan_int8(qm))["layers"]
    lstm = [w for layer in layers if layer["op"] in ("lstm", "gru") for w in layer["weights"]]
    return {"run": str(run_dir), "checkpoint": which, "method": config.method,
            "ratio": config.ratio, "split": split, "tokens": int(tokens),
            "batch": batch, "window": window,
            "calibration": {"source": "valid", "sequences": calib_batch, "steps": calib_steps},
            "float_ppl": float_ppl, "int8_ppl": int8_ppl,
            "change_pct": 100.0 * (int8_ppl / float_ppl - 1.0),
            "lstm_weight_bytes": {"float32": sum(w["bytes"] for w in lstm),
                                  "int8": sum(w["int8_bytes"] for w in lstm)},
            "seconds": time.time() - started}
