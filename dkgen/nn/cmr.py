"""Co-matrix dropout (CMR) of the whole dope product, per example or per batch.

`DopedKronMatrix(cmr=p)` drops individual dope *entries* (one random mask per forward,
shared by the batch).  The other form drops the dope's whole contribution S·x: for each
example, with probability p the LSTM runs on A ⊗ B alone, otherwise on A ⊗ B + S/(1-p).

PyTorch's fused LSTM kernel takes one weight per call, so a per-example choice cannot be
made inside one call.  It does not need to be: the examples of a batch are independent
sequences, so the batch is split into the examples that keep the dope and those that drop
it, the fused kernel runs once on each group with its own weight, and the outputs and
states are put back in batch order.  That is exact per-example dropout at the cost of two
kernel calls instead of one.  Per-batch dropout is the special case where every example
draws the same coin.

Nothing here is active in eval mode: `cmr_lstm_forward` then is the plain forward.
"""

from __future__ import annotations

import torch
from torch import _VF, Tensor

from dkgen.nn.matrices import DopedKronMatrix
from dkgen.nn.recurrent import LSTM

CMR_MODES = ("off", "entry", "example", "batch")


def flat_weights_with_dope_scale(lstm: LSTM, scale: float) -> list[Tensor]:
    """LSTM weights in PyTorch layout with every dope multiplied by `scale` (0 drops it).

    Entry-wise CMR is not applied here: this path replaces it.
    """
    perm = lstm._to_torch
    flat: list[Tensor] = []
    for k in range(lstm.num_layers):
        for m in lstm.matrices(k):
            w = m.kron() + (m.values * m.mask) * scale if isinstance(m, DopedKronMatrix) else m()
            flat.append(w.index_select(0, perm))
        biases = lstm.biases(k)
        if biases is not None:
            flat += [b.index_select(0, perm) for b in biases]
    return flat


def draw_keep(rate: float, mode: str, global_batch: int, start: int = 0,
              local_batch: int | None = None, generator: torch.Generator | None = None) -> Tensor:
    """Per-example keep flags for whole-dope CMR, for examples [start, start+local_batch).

    The flags of the whole (global) batch are drawn and then sliced, so data-parallel
    ranks that share the RNG state draw exactly what a single process would.
    """
    if mode not in ("example", "batch"):
        raise ValueError(f"whole-dope CMR mode must be 'example' or 'batch', got {mode!r}")
    local_batch = global_batch - start if local_batch is None else local_batch
    if mode == "batch":
        keep = torch.rand((), generator=generator) >= rate
        return keep.expand(local_batch).clone()
    keep = torch.rand(global_batch, generator=generator) >= rate
    return keep[start:start + local_batch].clone()


def cmr_lstm_forward(lstm: LSTM, input: Tensor, hx: tuple[Tensor, Tensor] | None,
                     keep: Tensor | None, rate: float) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """`lstm(input, hx)` with the whole dope dropped for the examples where `keep` is False.

    Kept dopes are scaled by 1/(1 - rate) so the expected weight is the eval weight.
    Batched input only; `keep` is a bool vector over the batch, or None for no CMR.
    """
    if keep is None or rate <= 0.0 or not lstm.training:
        return lstm(input, hx)
    if input.dim() != 3:
        raise ValueError("whole-dope CMR needs batched input")
    bdim = 0 if lstm.batch_first else 1
    batch = input.size(bdim)
    if keep.shape != (batch,):
        raise ValueError(f"keep has shape {tuple(keep.shape)}, expected ({batch},)")
    if hx is None:
        zeros = input.new_zeros(lstm.num_layers, batch, lstm.hidden_size)
        hx = (zeros, zeros)
    groups = [(torch.nonzero(keep).flatten(), 1.0 / (1.0 - rate)),
              (torch.nonzero(~keep).flatten(), 0.0)]
    outs, hs, cs, order = [], [], [], []
    for idx, scale in groups:
        if idx.numel() == 0:
            continue
        flat = flat_weights_with_dope_scale(lstm, scale)
        out, h, c = _VF.lstm(input.index_select(bdim, idx),
                             (hx[0].index_select(1, idx), hx[1].index_select(1, idx)), flat,
                             lstm.bias, lstm.num_layers, lstm.dropout, lstm.training, False,
                             lstm.batch_first)
        outs.append(out)
        hs.append(h)
        cs.append(c)
        order.append(idx)
    if len(outs) == 1:
        return outs[0], (hs[0], cs[0])
    inv = torch.argsort(torch.cat(order))
    return (torch.cat(outs, bdim).index_select(bdim, inv),
            (torch.cat(hs, 1).index_select(1, inv), torch.cat(cs, 1).index_select(1, inv)))
