"""Dope (and pruning) schedules, and co-matrix dropout switches, over a whole model.

Training a DKP model starts with a dense dope and anneals it to its final, extremely
sparse density (Thakker et al., "Doping", MLSys 2021).  The annealing follows Zhu & Gupta's
cubic schedule ("To prune, or not to prune", 2017): at step t between `start` and `end`

    nnz(t) = final + (initial - final) * (1 - (t - start) / (end - start))**3

entries are kept, by magnitude, in every masked matrix (`DopedKronMatrix` dopes and
`PrunedMatrix` baselines).  Fast early, slow near the end, so the network recovers from
the last, most damaging cuts.  At `end` the count is exactly the target and the mask is
frozen from then on.

The count applies to each matrix on its own (scope "matrix"), or to all the model's masked
matrices together (scope "model"): they then share one magnitude threshold, and a matrix
whose entries matter more keeps more of them (global magnitude pruning).
"""

from __future__ import annotations

import torch
from torch import nn

from dkgen.nn.matrices import DopedKronMatrix, MaskedMatrix, keep_largest


def masked_matrices(model: nn.Module) -> list[MaskedMatrix]:
    return [m for m in model.modules() if isinstance(m, MaskedMatrix)]


def set_cmr(model: nn.Module, rate: float) -> None:
    """Set the co-matrix dropout rate of every DKP matrix in `model` (0 turns CMR off)."""
    for m in model.modules():
        if isinstance(m, DopedKronMatrix):
            m.set_cmr(rate)


def cubic_nnz(step: int, start: int, end: int, initial: int, final: int) -> int:
    """Entries kept at `step` under the cubic schedule (exactly `final` from `end` on)."""
    if step <= start:
        return initial
    if step >= end:
        return final
    remaining = 1.0 - (step - start) / float(end - start)
    return int(round(final + (initial - final) * remaining ** 3))


MASK_SCOPES = ("matrix", "model")


class DopeSchedule:
    """Anneals every masked matrix in a model to its target entry count.

    Call `step(t)` after each optimiser step with the global step count t.  Pruning happens
    every `frequency` steps from `start` on, and always at `end`; each matrix goes from the
    entry count its mask had when the schedule was made to its own `target_nnz` (or to
    `final_density` of its entries, if given).  Masks only ever shrink.

    With `scope` "model" only the total is scheduled: at every pruning event the model's
    masked matrices together keep the largest entries of all of them, so each matrix ends
    wherever the shared threshold leaves it and the total is exactly the sum of the targets.
    """

    def __init__(self, model: nn.Module, start: int, end: int, frequency: int = 1,
                 final_density: float | None = None, scope: str = "matrix") -> None:
        if scope not in MASK_SCOPES:
            raise ValueError(f"scope must be one of {', '.join(MASK_SCOPES)}, got {scope!r}")
        self.scope = scope
        if not 0 <= start < end:
            raise ValueError(f"need 0 <= start < end, got start={start}, end={end}")
        if frequency < 1:
            raise ValueError(f"frequency must be at least 1, got {frequency}")
        self.start, self.end, self.frequency = int(start), int(end), int(frequency)
        self.matrices = masked_matrices(model)
        if not self.matrices:
            raise ValueError("the model has no doped or pruned matrices to schedule")
        for m in self.matrices:
            m.shared_threshold = scope == "model"
        self.initial = [m.nnz for m in self.matrices]
        if final_density is None:
            self.final = [m.target_nnz for m in self.matrices]
        else:
            if not 0.0 <= final_density <= 1.0:
                raise ValueError(f"final_density must lie in [0, 1], got {final_density}")
            self.final = [int(round(final_density * m.rows * m.cols)) for m in self.matrices]
        self.final = [min(f, i) for f, i in zip(self.final, self.initial, strict=True)]
        self.finished = False

    def density_at(self, step: int) -> float:
        """Overall density of all scheduled masks at `step` (for logging)."""
        kept = sum(cubic_nnz(step, self.start, self.end, i, f)
                   for i, f in zip(self.initial, self.final, strict=True))
        return kept / float(sum(m.rows * m.cols for m in self.matrices))

    def step(self, step: int) -> None:
        if self.finished or step < self.start:
            return
        if step < self.end and (step - self.start) % self.frequency:
            return
        if self.scope == "model":
            self._prune_together(cubic_nnz(step, self.start, self.end, sum(self.initial),
                                           sum(self.final)))
        else:
            for m, i, f in zip(self.matrices, self.initial, self.final, strict=True):
                m.prune_to(cubic_nnz(step, self.start, self.end, i, f))
        self.finished = step >= self.end

    def _prune_together(self, total: int) -> None:
        """Keep the `total` largest masked entries over all matrices."""
        if total >= sum(m.nnz for m in self.matrices):
            return
        # prune_to's rule over all matrices at once: ties go to the earlier matrix, then to
        # the earlier position, as they do within one.
        scores = [m.prune_score().reshape(-1) for m in self.matrices]
        keep = keep_largest(torch.cat(scores), total)
        for m, part in zip(self.matrices, keep.split([s.numel() for s in scores]), strict=True):
            m.set_mask(part)

    def finish(self) -> None:
        """Jump to the final masks (for training runs that stop before `end`)."""
        self.step(max(self.end, self.start))
