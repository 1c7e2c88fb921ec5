"""PyTorch side of dkgen: structured matrices, DKP layers, dope schedules, export to the IR.

Importing this package needs torch (the `train` extra); nothing downstream of the IR
imports it.
"""

from dkgen.nn.compress import compress, compress_linear, compress_recurrent, fit_matrix
from dkgen.nn.export import layer_to_ir, to_ir
from dkgen.nn.linear import DopedKronLinear, KronLinear, MatrixLinear
from dkgen.nn.matrices import (
    DenseMatrix,
    DopedKronMatrix,
    KronMatrix,
    LowRankMatrix,
    MaskedMatrix,
    MatrixModule,
    PrunedMatrix,
    kron2,
    make_matrix,
    matrix_class,
)
from dkgen.nn.recurrent import GRU, LSTM
from dkgen.nn.schedule import MASK_SCOPES, DopeSchedule, cubic_nnz, masked_matrices, set_cmr
from dkgen.structure.factors import (
    FactorShapes,
    check_factors,
    dkp_plan,
    factor_shapes,
    kron_param_count,
)
from dkgen.structure.nkp import nearest_kron, rearrange

__all__ = [
    "GRU",
    "LSTM",
    "MASK_SCOPES",
    "DenseMatrix",
    "DopeSchedule",
    "DopedKronLinear",
    "DopedKronMatrix",
    "FactorShapes",
    "KronLinear",
    "KronMatrix",
    "LowRankMatrix",
    "MaskedMatrix",
    "MatrixLinear",
    "MatrixModule",
    "PrunedMatrix",
    "check_factors",
    "compress",
    "compress_linear",
    "compress_recurrent",
    "cubic_nnz",
    "dkp_plan",
    "factor_shapes",
    "fit_matrix",
    "kron2",
    "kron_param_count",
    "layer_to_ir",
    "make_matrix",
    "masked_matrices",
    "matrix_class",
    "nearest_kron",
    "rearrange",
    "set_cmr",
    "to_ir",
]
