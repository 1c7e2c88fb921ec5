"""What each part of a trained DKP language model carries.

    python scripts/dkp_parts.py RUN_DIR [RUN_DIR ...]

For each run: validation perplexity of the model as trained, with the Kronecker term of
every DKP gate matrix switched off (its first factor zeroed, the dope alone), and with
the dope switched off (the Kronecker product alone), all without retraining; and each
matrix's Frobenius norms of the two parts. One JSON line a run on stdout.
"""

from __future__ import annotations

import json
import sys

import torch

from dkgen.nn.matrices import DopedKronMatrix
from dkgen.train import lm
from dkgen.train.data import load_corpus


def parts(run_dir: str) -> dict:
    model, cfg, _ = lm.load_run_model(run_dir)
    ids = load_corpus(cfg.data).split("valid")

    def ppl() -> float:
        return lm.evaluate(model, ids, cfg.eval_batch, cfg.recipe.bptt)

    mats = {n: m for n, m in model.named_modules() if isinstance(m, DopedKronMatrix)}
    if not mats:
        raise SystemExit(f"{run_dir}: not a DKP run (no doped Kronecker matrices)")
    out: dict = {"run": run_dir, "valid_ppl": ppl(), "norms": {}}
    with torch.no_grad():
        for name, m in mats.items():
            out["norms"][name] = {"kron": float(m.kron().norm()),
                                  "dope": float(m.sparse().norm()), "nnz": m.nnz}
        kept = {n: (m.a.clone(), m.values.clone()) for n, m in mats.items()}
        for m in mats.values():
            m.a.zero_()
        out["valid_ppl_dope_only"] = ppl()
        for n, m in mats.items():
            m.a.copy_(kept[n][0])
            m.values.zero_()
        out["valid_ppl_kron_only"] = ppl()
        for n, m in mats.items():
            m.values.copy_(kept[n][1])
    return out


if __name__ == "__main__":
    for run in sys.argv[1:]:
        print(json.dumps(parts(run)), flush=True)
