"""The digits example: a small DKP LSTM classifier on scikit-learn's bundled 8x8 digits.

Each 8x8 image is read as 8 timesteps (rows) of 8 features (pixels scaled to [0, 1]).
The model is a one-layer LSTM whose two gate matrices are doped Kronecker products,
followed by a dense linear layer applied at every timestep; the class is read from the
last timestep's logits, exactly as the generated C would stream it.

Training anneals each dope from dense to its final density with the cubic schedule, under
co-matrix dropout (CMR), then fine-tunes with the masks frozen and CMR off.  Everything is
seeded and runs single-threaded by default, so the same seed gives bit-identical weights.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dkgen.ir.graph import InputSpec, Model
from dkgen.nn.export import to_ir
from dkgen.nn.recurrent import LSTM
from dkgen.nn.schedule import DopeSchedule, set_cmr
from dkgen.structure.factors import FactorShapes

TIMESTEPS = 8
FEATURES = 8
CLASSES = 10


class DigitsClassifier(nn.Module):
    """LSTM (DKP gate matrices by default) -> Linear at every timestep.

    forward(x) returns per-timestep logits (batch, 8, 10); `predict` uses the last step.
    """

    def __init__(self, hidden_size: int = 64, weight: str = "dkp",
                 factors: dict[str, FactorShapes] | None = None, dope_density: float = 0.02,
                 initial_density: float = 1.0, cmr: float = 0.3) -> None:
        super().__init__()
        options: dict[str, object] = {}
        if weight in ("dkp", "doped_kron"):
            options = {"dope_density": dope_density, "initial_density": initial_density,
                       "cmr": cmr}
        if factors is not None and weight != "dense":
            options["factors"] = factors
        self.rnn = LSTM(FEATURES, hidden_size, batch_first=True, weight=weight, **options)
        self.head = nn.Linear(hidden_size, CLASSES)

    def ir_chain(self) -> list[tuple[str, nn.Module]]:
        return [("lstm", self.rnn), ("fc", self.head)]

    def forward(self, x: Tensor) -> Tensor:
        h, _ = self.rnn(x)
        return self.head(h)

    def predict(self, x: Tensor) -> Tensor:
        return self(x)[:, -1].argmax(dim=-1)


def digits_classifier(hidden_size: int = 64, **options: object) -> DigitsClassifier:
    """The example's model with its default DKP configuration (options as DigitsClassifier)."""
    return DigitsClassifier(hidden_size, **options)  # type: ignore[arg-type]


@dataclass
class DigitsResult:
    model: DigitsClassifier
    accuracy: float  # on the test split
    x_test: np.ndarray  # (n, 8, 8) float32 in [0, 1]
    y_test: np.ndarray  # (n,) int64
    train_accuracy: float
    final_loss: float
    epochs: int
    train_seconds: float
    lstm_stored_params: int  # factor entries + dope values of w_ih and w_hh
    lstm_dense_params: int
    dope_nnz: int
    seed: int
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def compression(self) -> float:
        """Dense / stored values of the LSTM gate matrices."""
        return self.lstm_dense_params / float(self.lstm_stored_params)


def load_digits_split(seed: int = 0, test_size: float = 0.25
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): images as (n, 8, 8) float32 in [0, 1].

    The split is stratified and fixed by `seed`.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    # Pixel values are integers 0..16.
    x = (data.images / 16.0).astype(np.float32).reshape(-1, TIMESTEPS, FEATURES)
    y = data.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_size, random_state=seed,
                                              stratify=y)
    return x_tr, y_tr, x_te, y_te


def _accuracy(model: DigitsClassifier, x: Tensor, y: Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return float((model.predict(x) == y).float().mean())


def train_digits(seed: int = 0, *, hidden_size: int = 64, epochs: int = 60,
                 batch_size: int = 64, lr: float = 1e-2, dope_density: float = 0.02,
                 cmr: float = 0.3, anneal: tuple[float, float] = (0.1, 0.6),
                 weight: str = "dkp", factors: dict[str, FactorShapes] | None = None,
                 num_threads: int | None = 1, verbose: bool = False) -> DigitsResult:
    """Train the digits classifier; the same seed gives identical weights.

    anneal: (start, end) of the dope schedule as fractions of the training steps; after
        `end` the masks are frozen and CMR is switched off for fine-tuning.
    num_threads: torch threads while training (restored afterwards).  Fixing it keeps
        float reductions, and so the weights, identical from machine to machine.
    """
    x_tr, y_tr, x_te, y_te = load_digits_split(seed)
    old_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        # fork_rng leaves the caller's global RNG state as it was.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return _train(seed, x_tr, y_tr, x_te, y_te, hidden_size=hidden_size, epochs=epochs,
                          batch_size=batch_size, lr=lr, dope_density=dope_density, cmr=cmr,
                          anneal=anneal, weight=weight, factors=factors, verbose=verbose)
    finally:
        torch.set_num_threads(old_threads)


def _train(seed: int, x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, y_te: np.ndarray, *,
           hidden_size: int, epochs: int, batch_size: int, lr: float, dope_density: float,
           cmr: float, anneal: tuple[float, float], weight: str,
           factors: dict[str, FactorShapes] | None, verbose: bool) -> DigitsResult:
    model = DigitsClassifier(hidden_size, weight, factors, dope_density=dope_density,
                             initial_density=1.0, cmr=cmr)
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    xe, ye = torch.from_numpy(x_te), torch.from_numpy(y_te)
    steps_per_epoch = math.ceil(len(xt) / batch_size)
    total = epochs * steps_per_epoch
    schedule = None
    if weight in ("dkp", "doped_kron"):
        schedule = DopeSchedule(model, start=int(anneal[0] * total), end=int(anneal[1] * total),
                                frequency=max(1, steps_per_epoch // 4))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched_lr = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total,
                                                   pct_start=0.15)
    gen = torch.Generator().manual_seed(seed)
    history: list[dict[str, float]] = []
    step, loss_sum, t0 = 0, 0.0, time.perf_counter()
    for epoch in range(epochs):
        model.train()
        loss_sum, seen = 0.0, 0
        for idx in torch.randperm(len(xt), generator=gen).split(batch_size):
            logits = model(xt[idx])[:, -1]
            loss = F.cross_entropy(logits, yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched_lr.step()
            step += 1
            if schedule is not None:
                schedule.step(step)
                if schedule.finished:
                    set_cmr(model, 0.0)
            loss_sum += loss.item() * len(idx)
            seen += len(idx)
        if verbose or epoch == epochs - 1:
            stats = {"epoch": float(epoch), "loss": loss_sum / seen,
                     "test_accuracy": _accuracy(model, xe, ye),
                     "dope_density": schedule.density_at(step) if schedule else 0.0}
            history.append(stats)
            if verbose:
                print(" ".join(f"{k}={v:.4f}" for k, v in stats.items()))
    if schedule is not None:
        schedule.finish()
    train_seconds = time.perf_counter() - t0
    model.eval()
    rnn = model.rnn
    dope_nnz = sum(getattr(m, "nnz", 0) for m in rnn.matrices(0))
    return DigitsResult(
        model=model, accuracy=_accuracy(model, xe, ye), x_test=x_te, y_test=y_te,
        train_accuracy=_accuracy(model, xt, yt), final_loss=loss_sum / max(seen, 1),
        epochs=epochs, train_seconds=train_seconds,
        lstm_stored_params=rnn.num_stored_params(), lstm_dense_params=rnn.dense_param_count(),
        dope_nnz=dope_nnz, seed=seed, history=history)


def digits_model_to_ir(result: DigitsResult | DigitsClassifier, name: str = "digits") -> Model:
    """The trained classifier as IR: 8 inputs in [0, 1] -> LSTM -> Linear -> Softmax."""
    model = result.model if isinstance(result, DigitsResult) else result
    spec = InputSpec("vector", FEATURES, name="pixels", low=0.0, high=1.0)
    return to_ir(model, name, spec, softmax=True,
                 metadata={"task": "sklearn digits, 8 rows of 8 pixels, class at last step"})
