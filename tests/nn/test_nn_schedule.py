"""The cubic dope schedule: exact final density, monotone, frozen after the end."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dkgen.nn import LSTM, DopedKronLinear, DopeSchedule, PrunedMatrix, cubic_nnz, set_cmr


def test_cubic_curve() -> None:
    counts = [cubic_nnz(t, 10, 110, 1000, 10) for t in range(0, 130)]
    assert counts[10] == 1000 and counts[110] == 10 and counts[-1] == 10
    assert all(a >= b for a, b in zip(counts, counts[1:], strict=False))
    # Cubic: half-way through, (1/2)^3 of the way back to the start remains.
    assert counts[60] == round(10 + 990 / 8)


def test_schedule_reaches_exactly_the_target_and_freezes() -> None:
    torch.manual_seed(0)
    model = nn.ModuleDict({
        "rnn": LSTM(5, 12, 2, weight="dkp", dope_density=0.013, initial_density=1.0),
        "fc": DopedKronLinear(12, 7, dope_density=0.3, initial_density=0.9),
    })
    sched = DopeSchedule(model, start=3, end=40, frequency=5)
    mats = sched.matrices
    assert len(mats) == 5
    history = []
    for step in range(1, 60):
        with torch.no_grad():  # stands in for training: the values keep moving
            for m in mats:
                m.values.add_(0.1 * torch.randn_like(m.values))
        sched.step(step)
        history.append([m.nnz for m in mats])
        if step >= 40:
            assert sched.finished
    for counts in zip(*history, strict=True):
        assert all(a >= b for a, b in zip(counts, counts[1:], strict=False))
    for m in mats:
        assert m.nnz == m.target_nnz == round(m.density * m.rows * m.cols)
        assert m.to_ir().dope.nnz == m.target_nnz
    assert history[-1] == history[39 - 1]  # unchanged after the end
    assert sched.density_at(100) == pytest.approx(
        sum(m.target_nnz for m in mats) / sum(m.rows * m.cols for m in mats))


def test_schedule_prunes_baselines_and_final_density_override() -> None:
    m = PrunedMatrix(10, 10, density=0.5, initial_density=1.0)
    sched = DopeSchedule(m, start=0, end=4, final_density=0.07)
    sched.finish()
    assert m.nnz == 7 and sched.finished
    with pytest.raises(ValueError, match="no doped or pruned"):
        DopeSchedule(nn.Linear(3, 3), 0, 10)


def test_model_scope_shares_one_threshold() -> None:
    torch.manual_seed(0)
    model = nn.ModuleList([PrunedMatrix(20, 10, density=0.1, initial_density=1.0)
                           for _ in range(3)])
    with torch.no_grad():
        for scale, m in zip((0.1, 1.0, 3.0), model, strict=True):
            m.values.copy_(scale * torch.randn(20, 10))
    everything = torch.cat([m.values.detach().abs().reshape(-1) for m in model])
    sched = DopeSchedule(model, start=0, end=10, frequency=3, scope="model")
    totals = []
    for step in range(1, 12):
        sched.step(step)
        totals.append(sum(m.nnz for m in model))
    # The total follows the cubic curve of the summed counts and ends exactly on the sum of
    # the targets, but the matrices end unequal: the larger the values, the more are kept.
    assert totals[-1] == 3 * 20 and sched.finished
    assert totals[2] == cubic_nnz(3, 0, 10, 600, 60)
    counts = [m.nnz for m in model]
    assert counts[0] < counts[1] < counts[2] and sum(counts) == 60
    # Exactly the 60 largest entries of the whole model (no ties among random values).
    kept = torch.cat([m.sparse().detach().abs().reshape(-1) for m in model])
    assert set(torch.nonzero(kept).flatten().tolist()) == set(
        torch.topk(everything, 60).indices.tolist())
    with pytest.raises(ValueError, match="scope"):
        DopeSchedule(model, 0, 10, scope="layer")


def test_repr_says_whether_the_target_is_the_matrix_own() -> None:
    model = LSTM(8, 8, 1, weight="dkp")
    DopeSchedule(model, 0, 10)
    assert "(target " in repr(model) and "model-wide" not in repr(model)
    DopeSchedule(model, 0, 10, scope="model")
    assert "model-wide threshold" in repr(model) and "(target " not in repr(model)


def test_set_cmr_switches_every_dope() -> None:
    model = LSTM(4, 4, 2, weight="dkp", cmr=0.4)
    assert {m.cmr for m in model.modules() if hasattr(m, "cmr")} == {0.4}
    set_cmr(model, 0.0)
    assert {m.cmr for m in model.modules() if hasattr(m, "cmr")} == {0.0}
