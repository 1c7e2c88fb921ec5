"""`dkgen inspect`: per-layer structure, parameters, bytes, MACs and compression."""

from __future__ import annotations

from dkgen.ir.graph import Model
from dkgen.ir.weights import KronWeight, LowRankWeight, RowStackWeight, SparseWeight, Weight


def structure_text(w: Weight) -> str:
    """A short description of how `w` is stored."""
    if isinstance(w, KronWeight):
        text = " ⊗ ".join(f"{m}x{n}" for m, n in w.factor_shapes)
        if w.dope is not None:
            text += f" + dope {w.dope.nnz} ({100 * w.dope.density:.2f}%)"
        return text
    if isinstance(w, LowRankWeight):
        return f"rank {w.u.shape[1]}"
    if isinstance(w, RowStackWeight):
        return " / ".join(f"{p.shape[0]} rows {structure_text(p)}" for p in w.parts)
    if isinstance(w, SparseWeight):
        return f"{w.sparse.nnz} nonzeros ({100 * w.sparse.density:.2f}%)"
    return "dense"


def model_summary(model: Model, int8_plan: object | None = None) -> dict:
    """A JSON-ready description of `model`, layer by layer, float32 sizes; with the plan
    of its int8 build (`dkgen.quant.plan_int8`), also the int8 bytes of every weight
    (values, per-row scales and the packed dope) and layer (with its int32 biases)."""
    layers = []
    totals = {"params": 0, "bytes": 0, "dense_params": 0, "dense_bytes": 0, "macs": 0, "dense_macs": 0}
    for layer in model.layers:
        weights = []
        for role, w in layer.weights().items():
            # A GRU with linear_before_reset=0 multiplies by R twice a step: R h, R (r * h).
            uses = 2 if role == "w_hh" and not getattr(layer, "linear_before_reset", True) else 1
            dense_macs = 0 if layer.op == "embedding" else uses * w.dense_param_count
            macs = 0 if layer.op == "embedding" else uses * w.macs
            weights.append({
                "role": role, "kind": w.kind, "shape": list(w.shape), "structure": structure_text(w),
                "params": w.param_count, "bytes": w.storage_bytes(4),
                "dense_params": w.dense_param_count, "dense_bytes": 4 * w.dense_param_count,
                "compression": w.dense_param_count / max(w.param_count, 1),
                "macs": macs, "dense_macs": dense_macs,
            })
        vec = sum(int(v.size) for v in layer.vectors().values())
        entry = {
            "name": layer.name, "op": layer.op, "in": layer.in_size, "out": layer.out_size,
            "weights": weights,
            "params": sum(w["params"] for w in weights) + vec,
            "bytes": sum(w["bytes"] for w in weights) + 4 * vec,
            "dense_params": sum(w["dense_params"] for w in weights) + vec,
            "dense_bytes": sum(w["dense_bytes"] for w in weights) + 4 * vec,
            "macs": sum(w["macs"] for w in weights),
            "dense_macs": sum(w["dense_macs"] for w in weights),
        }
        entry["compression"] = entry["dense_bytes"] / max(entry["bytes"], 1)
        if int8_plan is not None:
            qlp = int8_plan.layers[len(layers)]
            for w in weights:
                # An int8 embedding table is a plain lookup array, not a matrix kernel.
                packed = qlp.matrices.get(w["role"]) or qlp.vectors[w["role"]]
                w["int8_bytes"] = packed.nbytes
            entry["int8_bytes"] = sum(m.nbytes for m in qlp.matrices.values()) + sum(
                v.nbytes for v in qlp.vectors.values())
            totals["int8_bytes"] = totals.get("int8_bytes", 0) + entry["int8_bytes"]
        for k in ("params", "bytes", "dense_params", "dense_bytes", "macs", "dense_macs"):
            totals[k] += entry[k]
        layers.append(entry)
    totals["compression"] = totals["dense_bytes"] / max(totals["bytes"], 1)
    if int8_plan is not None:
        totals["int8_weight_bytes"] = int8_plan.weight_bytes  # every constant, tables included
    return {
        "name": model.name,
        "input": {"kind": model.input.kind, "size": model.input.size},
        "output_size": model.output_size,
        "layers": layers,
        "total": totals,
    }
