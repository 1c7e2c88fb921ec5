"""LSTM and GRU layers whose gate matrices are matrix modules (dense, Kronecker, DKP, ...).

Interface as nn.LSTM / nn.GRU (input_size, hidden_size, num_layers, bias, batch_first,
dropout between layers, initial state in, final state out), unidirectional only.

Each layer k holds two matrix modules, `w_ih_l{k}` (G*H, in) and `w_hh_l{k}` (G*H, H), and
biases `b_ih_l{k}`, `b_hh_l{k}`, all with the gates stacked in ONNX order (LSTM i, o, f, c;
GRU z, r, h).  That is the structure the ONNX file and the generated C see, so a Kronecker
factorisation trained here is the one deployed.  forward() builds each dense weight once,
permutes its rows into PyTorch's gate order (LSTM i, f, g, o; GRU r, z, n) and calls the
fused kernel: no Python loop over timesteps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch
from torch import _VF, Tensor, nn

from dkgen.nn.matrices import MatrixModule, MatrixSpec, make_matrix

MatrixFactory = Callable[[int, int, str], MatrixModule]

# ONNX block b of the stacked gates goes to PyTorch block position p: torch = onnx[perm].
ONNX_TO_TORCH_GATES = {"lstm": (0, 2, 3, 1), "gru": (1, 0, 2)}
# And back: onnx = torch[perm].
TORCH_TO_ONNX_GATES = {"lstm": (0, 3, 1, 2), "gru": (1, 0, 2)}


def gate_permutation(order: tuple[int, ...], hidden_size: int) -> Tensor:
    """Row indices that reorder stacked gate blocks: out = rows[index]."""
    return torch.cat([torch.arange(g * hidden_size, (g + 1) * hidden_size) for g in order])


def _resolve(value: object, role: str, layer: int) -> object:
    # A dict option is per role: the layer-specific key ("w_ih_l1") wins over the role
    # ("w_ih"); a role it does not name gets the kind's default.
    if isinstance(value, Mapping):
        for key in (f"{role}_l{layer}", role):
            if key in value:
                return value[key]
        return _MISSING
    return value


_MISSING = object()


class _RecurrentBase(nn.Module):
    mode = ""
    gates = 0

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 *, weight: MatrixSpec | MatrixFactory = "dense", **weight_options: object) -> None:
        super().__init__()
        if bidirectional:
            raise ValueError("dkgen recurrent layers are unidirectional (streaming inference)")
        if input_size < 1 or hidden_size < 1 or num_layers < 1:
            raise ValueError("input_size, hidden_size and num_layers must be positive")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout must lie in [0, 1], got {dropout}")
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = False
        if "dope_density" in weight_options:
            # The name DopedKronLinear uses; the matrix option is `density`.
            weight_options["density"] = weight_options.pop("dope_density")
        rows = self.gates * hidden_size
        bound = 1.0 / math.sqrt(hidden_size)
        for k in range(num_layers):
            cols_in = input_size if k == 0 else hidden_size
            for role, cols in (("w_ih", cols_in), ("w_hh", hidden_size)):
                name = f"{role}_l{k}"
                if callable(weight) and not isinstance(weight, type):
                    matrix = weight(rows, cols, name)
                    if not isinstance(matrix, MatrixModule) or matrix.shape != (rows, cols):
                        raise ValueError(f"weight factory returned {matrix!r} for {name}, "
                                         f"expected a {rows}x{cols} MatrixModule")
                else:
                    options = {key: v for key, v in
                               ((key, _resolve(val, role, k)) for key, val in weight_options.items())
                               if v is not _MISSING}
                    matrix = make_matrix(weight, rows, cols, **options)
                    # PyTorch's recurrent init scale, whatever the parametrisation.
                    matrix.reset_parameters(bound)
                self.add_module(name, matrix)
            if bias:
                for role in ("b_ih", "b_hh"):
                    self.register_parameter(
                        f"{role}_l{k}", nn.Parameter(torch.empty(rows).uniform_(-bound, bound)))
        self.register_buffer("_to_torch", gate_permutation(ONNX_TO_TORCH_GATES[self.mode], hidden_size),
                             persistent=False)

    def matrices(self, layer: int) -> tuple[MatrixModule, MatrixModule]:
        """(w_ih, w_hh) matrix modules of a layer, gates in ONNX order."""
        return getattr(self, f"w_ih_l{layer}"), getattr(self, f"w_hh_l{layer}")

    def biases(self, layer: int) -> tuple[Tensor, Tensor] | None:
        """(b_ih, b_hh) of a layer in ONNX order, or None without biases."""
        if not self.bias:
            return None
        return getattr(self, f"b_ih_l{layer}"), getattr(self, f"b_hh_l{layer}")

    def num_stored_params(self) -> int:
        """Stored values of all gate matrices (biases not included)."""
        return sum(m.num_stored_params() for k in range(self.num_layers) for m in self.matrices(k))

    def dense_param_count(self) -> int:
        """Entries of all gate matrices if they were dense."""
        return sum(m.rows * m.cols for k in range(self.num_layers) for m in self.matrices(k))

    def torch_flat_weights(self) -> list[Tensor]:
        """The weights in nn.LSTM/nn.GRU layout and gate order, built once."""
        perm = self._to_torch
        flat: list[Tensor] = []
        for k in range(self.num_layers):
            w_ih, w_hh = self.matrices(k)
            flat += [w_ih().index_select(0, perm), w_hh().index_select(0, perm)]
            biases = self.biases(k)
            if biases is not None:
                flat += [b.index_select(0, perm) for b in biases]
        return flat

    def to_torch(self) -> nn.Module:
        """An nn.LSTM / nn.GRU holding the current dense weights (a frozen copy)."""
        cls = nn.LSTM if self.mode == "lstm" else nn.GRU
        module = cls(self.input_size, self.hidden_size, self.num_layers, bias=self.bias,
                     batch_first=self.batch_first, dropout=self.dropout)
        with torch.no_grad():
            names = [f"{kind}_{role}_l{k}" for k in range(self.num_layers)
                     for kind in (("weight", "bias") if self.bias else ("weight",))
                     for role in ("ih", "hh")]
            for name, w in zip(names, self.torch_flat_weights(), strict=True):
                getattr(module, name).copy_(w)
        return module

    def _prepare(self, input: Tensor, hx: Tensor | None) -> tuple[Tensor, Tensor | None, bool]:
        if not isinstance(input, Tensor):
            raise TypeError("dkgen recurrent layers take a padded tensor, not a PackedSequence")
        if input.dim() not in (2, 3):
            raise ValueError(f"input must be 2-D or 3-D, got shape {tuple(input.shape)}")
        batched = input.dim() == 3
        if not batched:
            input = input.unsqueeze(0 if self.batch_first else 1)
            if hx is not None:
                hx = hx.unsqueeze(1)
        if input.size(-1) != self.input_size:
            raise ValueError(f"input has {input.size(-1)} features, expected {self.input_size}")
        return input, hx, batched

    def _zeros(self, input: Tensor) -> Tensor:
        batch = input.size(0 if self.batch_first else 1)
        return input.new_zeros(self.num_layers, batch, self.hidden_size)

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
                f"bias={self.bias}, batch_first={self.batch_first}, dropout={self.dropout}")


class LSTM(_RecurrentBase):
    """nn.LSTM-like LSTM with structured gate matrices (`weight=` "dense", "kron", "dkp", ...).

    weight: a kind name or MatrixModule class, built with `weight_options` (for example
        factors=..., dope_density=..., initial_density=..., cmr=..., ratio=...); an option
        given as a dict is per matrix, keyed "w_ih"/"w_hh" or "w_ih_l0" etc.  Or a factory
        `(rows, cols, role) -> MatrixModule`, used as is (no re-initialisation).
    """

    mode = "lstm"
    gates = 4

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h0, c0 = (None, None) if hx is None else hx
        input, h0, batched = self._prepare(input, h0)
        if hx is None:
            h0 = c0 = self._zeros(input)
        elif not batched:
            c0 = c0.unsqueeze(1)
        output, h_n, c_n = _VF.lstm(input, (h0, c0), self.torch_flat_weights(), self.bias,
                                    self.num_layers, self.dropout, self.training, False,
                                    self.batch_first)
        if not batched:
            output = output.squeeze(0 if self.batch_first else 1)
            h_n, c_n = h_n.squeeze(1), c_n.squeeze(1)
        return output, (h_n, c_n)


class GRU(_RecurrentBase):
    """nn.GRU-like GRU with structured gate matrices; options as for `LSTM`."""

    mode = "gru"
    gates = 3

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        input, h0, batched = self._prepare(input, hx)
        if h0 is None:
            h0 = self._zeros(input)
        output, h_n = _VF.gru(input, h0, self.torch_flat_weights(), self.bias, self.num_layers,
                              self.dropout, self.training, False, self.batch_first)
        if not batched:
            output = output.squeeze(0 if self.batch_first else 1)
            h_n = h_n.squeeze(1)
        return output, h_n
