"""ONNX's default GRU (linear_before_reset=0) reads only the last H rows of its second
recurrent product, R (r * h): the generated code forms just those rows where the packed
form allows (float32: views of a dense, low-rank or CSR matrix's rows and of a Kronecker
product's rows of A; int8: by blocks from the block that holds row 2H). For every weight
form of R, with Kronecker factors whose m2 does and does not divide 2H, the C stays
within float32 rounding of the reference and bit-exact in int8."""

from __future__ import annotations

import numpy as np
import pytest
from int8_helpers import inputs_for, random_weight

from dkgen.codegen.render import generate
from dkgen.harness.targets import resolve_targets
from dkgen.harness.verify import verify_model
from dkgen.ir.graph import GRU, InputSpec, Linear, Model
from dkgen.ir.weights import KronWeight, SparseDope

H, X = 6, 5


def gru_model(kind: str, seed: int) -> Model:
    rng = np.random.default_rng(seed)
    if kind.startswith("kron-m2-"):  # 3H = 18 rows as m1 x m2
        m2 = int(kind.split("-")[-1])
        idx = rng.choice(18 * H, size=12, replace=False)
        w_hh = KronWeight(rng.normal(size=(18 // m2, 2)), rng.normal(size=(m2, 3)),
                          SparseDope(18, H, idx, rng.normal(size=12)))
    else:
        w_hh = random_weight(rng, 3 * H, H, (kind,))
    return Model(f"reset_{kind.replace('-', '_')}", InputSpec("vector", X, low=-2.0, high=2.0), [
        GRU("gru", H, random_weight(rng, 3 * H, X, ("dense",)), w_hh, rng.normal(size=3 * H),
            rng.normal(size=3 * H), linear_before_reset=False),
        Linear("fc", random_weight(rng, 4, H, ("dense",)), rng.normal(size=4))])


# Row 2H = 12 starts a row of A for m2 = 3 and 6, not for m2 = 9 (it falls inside A's
# second row).
KINDS = ["dense", "low_rank", "sparse", "row_stack", "doped_kron", "kron-m2-3", "kron-m2-6",
         "kron-m2-9"]


@pytest.mark.parametrize("kind", KINDS)
def test_rows_from_2h_only(tmp_path, kind):
    model = gru_model(kind, 7)
    source = (generate(model, tmp_path / "lib", name="net").out_dir / "src" / "net.c").read_text()
    second = source[source.index("dkgen_gru_reset_f32("):source.index("dkgen_gru_update_f32(")]
    if kind == "dense":
        assert f"_w_hh + {2 * H * H}u, {H}u, {H}u" in second
    elif kind in ("sparse", "kron-m2-3", "kron-m2-6"):
        assert "rows_from" in second
    elif kind == "kron-m2-9":  # not a whole row of A: the whole product
        assert "rows_from" not in second
    x = inputs_for(model, 3, 6, 1)
    for dtype in ("float32", "int8"):
        report = verify_model(model, resolve_targets("host"), inputs=x, dtype=dtype,
                              calib=inputs_for(model, 8, 6, 2) if dtype == "int8" else None,
                              workdir=tmp_path / dtype, jobs=1)
        assert report.passed, (dtype, [t.reason for t in report.targets])
