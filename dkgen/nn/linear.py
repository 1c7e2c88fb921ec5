"""Linear layers whose weight is a matrix module: y = x Wᵀ + b, like nn.Linear."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dkgen.nn.matrices import (
    DopedKronMatrix,
    KronMatrix,
    MatrixModule,
    MatrixSpec,
    make_matrix,
)
from dkgen.structure.factors import FactorShapes


class MatrixLinear(nn.Module):
    """nn.Linear with any matrix parametrisation of its (out, in) weight."""

    def __init__(self, matrix: MatrixModule, bias: bool = True) -> None:
        super().__init__()
        self.matrix = matrix
        self.out_features, self.in_features = matrix.shape
        if bias:
            bound = 1.0 / math.sqrt(self.in_features)
            self.bias = nn.Parameter(torch.empty(self.out_features).uniform_(-bound, bound))
        else:
            self.register_parameter("bias", None)

    @classmethod
    def of_kind(cls, in_features: int, out_features: int, bias: bool = True,
                weight: MatrixSpec = "dense", **options: object) -> MatrixLinear:
        return cls(make_matrix(weight, out_features, in_features, **options), bias)

    @property
    def weight(self) -> Tensor:
        """The dense (out, in) weight, built from the parametrisation."""
        return self.matrix()

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.matrix(), self.bias)

    def num_stored_params(self) -> int:
        """Stored weight values (bias not included)."""
        return self.matrix.num_stored_params()

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class KronLinear(MatrixLinear):
    """Linear layer with W = A ⊗ B."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 factors: FactorShapes | None = None, *, ratio: float | None = None) -> None:
        super().__init__(KronMatrix(out_features, in_features, factors, ratio=ratio), bias)


class DopedKronLinear(MatrixLinear):
    """Linear layer with W = A ⊗ B + S (see DopedKronMatrix for the dope options)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 factors: FactorShapes | None = None, *, dope_density: float | None = None,
                 ratio: float | None = None, initial_density: float | None = None,
                 cmr: float = 0.0) -> None:
        super().__init__(DopedKronMatrix(out_features, in_features, factors, density=dope_density,
                                         ratio=ratio, initial_density=initial_density, cmr=cmr),
                         bias)
