"""int8 quantisation: calibration, the integer scheme, its numpy reference, and C generation.

    qm = quantize_model(model, calib_x)              # post-training quantisation
    y, traces = QuantReferenceExecutor(qm).run(xs, trace=True)
    lib = generate_int8(qm, None, "out/net")         # or generate_int8(model, calib_x, ...)

docs/quantization.md describes the scheme; the C library matches the reference bit for bit.
"""

from dkgen.quant.codegen import (
    RUNNER_DEFINES,
    Int8Golden,
    generate_int8,
    golden_int8,
    parse_layer_mismatch,
    plan_int8,
    quant_summary,
    write_runner_int8,
)
from dkgen.quant.model import QuantModel
from dkgen.quant.quantize import QuantOptions, quantize_model
from dkgen.quant.reference import QuantReferenceExecutor

__all__ = [
    "RUNNER_DEFINES",
    "Int8Golden",
    "QuantModel",
    "QuantOptions",
    "QuantReferenceExecutor",
    "generate_int8",
    "golden_int8",
    "parse_layer_mismatch",
    "plan_int8",
    "quant_summary",
    "quantize_model",
    "write_runner_int8",
]
