"""End-to-end parity: generated C on the host and under QEMU against the reference executor,
and proof that the harness can fail (corrupted golden vector, deliberately wrong kernel)."""

from __future__ import annotations

import numpy as np
import pytest
from random_models import mixed_model, token_model

from dkgen.harness.targets import resolve_targets
from dkgen.harness.verify import (
    FLOAT_ATOL,
    RUNNER_FLASH_RESERVE,
    golden_limit,
    make_inputs,
    parse_result,
    verify_model,
)


@pytest.mark.parametrize("make", [mixed_model, token_model])
def test_parity_on_host_and_cortex_m4(tmp_path, make):
    report = verify_model(make(3), resolve_targets("host,cortex-m4"), sequences=3, steps=6,
                          workdir=tmp_path, jobs=1)
    assert report.passed, [t.reason for t in report.targets]
    for t in report.targets:
        assert t.max_abs_err is not None and t.max_abs_err <= FLOAT_ATOL
        assert t.steps == 18 and t.flash_bytes > 0 and t.ram_bytes > 0
    host, m4 = report.targets
    assert host.instructions_per_step is None
    assert m4.instructions_per_step > 100


def test_instruction_counts_repeat(tmp_path):
    targets = resolve_targets("cortex-m4")
    a = verify_model(mixed_model(0), targets, workdir=tmp_path / "a", jobs=1)
    b = verify_model(mixed_model(0), targets, workdir=tmp_path / "b", jobs=1)
    assert a.targets[0].instructions_per_step == b.targets[0].instructions_per_step


def test_corrupted_golden_vector_fails(tmp_path):
    def corrupt(golden):
        golden.outputs[1, 2, 3] += 1e-3

    report = verify_model(mixed_model(0), resolve_targets("host,cortex-m4"), golden_hook=corrupt,
                          workdir=tmp_path, jobs=1)
    assert not report.passed
    for t in report.targets:
        assert not t.passed
        assert t.first_mismatch == {"sequence": 1, "step": 2, "index": 3}
        assert t.max_abs_err > 5e-4


def test_wrong_kernel_fails(tmp_path):
    report = verify_model(mixed_model(0), resolve_targets("host,cortex-m4"), workdir=tmp_path, jobs=1,
                          defines={"DKGEN_TEST_WRONG_KERNEL": "1"})
    assert [t.passed for t in report.targets] == [False, False]
    assert all("differ from the reference" in t.reason for t in report.targets)


def test_inputs_follow_the_recorded_range():
    model = mixed_model(0)
    model.input.low, model.input.high = 2.0, 3.0
    x = make_inputs(model, 2, 5, seed=1)
    assert x.shape == (2, 5, 6) and x.min() >= 2.0 and x.max() <= 3.0
    assert np.array_equal(x, make_inputs(model, 2, 5, seed=1))


def test_parse_result_rejects_garbage():
    assert parse_result("hello\n") is None
    line = ("DKGEN_RESULT PASS max_abs=33d6bf95 max_rel=00000000 steps=8 ticks=0000000000000010 "
            "fails=0 first=-1,-1,-1\n")
    parsed = parse_result("noise\n" + line)
    assert parsed["passed"] and parsed["steps"] == 8 and parsed["ticks"] == 16
    assert abs(parsed["max_abs"] - 1e-7) < 1e-12


def test_golden_vectors_split_across_runners(tmp_path, monkeypatch):
    import dkgen.harness.verify as verify

    model = mixed_model(0)
    per_seq = 4 * 3 * (6 + 5)  # steps x (inputs + outputs) floats
    monkeypatch.setattr(verify, "golden_limit", lambda target, library_flash=0: 5 * per_seq)

    def corrupt(golden):
        golden.outputs[11, 1, 2] += 1.0

    report = verify_model(model, resolve_targets("host,cortex-m4"), sequences=12, steps=3,
                          workdir=tmp_path, jobs=1, golden_hook=corrupt, print_argmax=True)
    for t in report.targets:
        assert (tmp_path / t.target / "part2").is_dir()  # 12 sequences, 5 per runner
        assert t.steps == 36 and len(t.predictions) == 12 and t.mismatches == 1
        assert t.first_mismatch == {"sequence": 11, "step": 1, "index": 2}


def test_golden_vectors_leave_flash_for_the_library():
    # A float32 model of 167 KB fits the M0's 256 KB part, but not beside a quarter of the
    # flash in golden vectors: the runners then carry less each.
    m0, host = resolve_targets("cortex-m0,host")
    assert golden_limit(m0) == m0.flash_bytes // 4
    assert golden_limit(m0, 166_920) == m0.flash_bytes - 166_920 - RUNNER_FLASH_RESERVE
    assert golden_limit(m0, m0.flash_bytes) == 1  # one sequence a runner, at least
    assert golden_limit(host, 10**8) == golden_limit(host)


def test_library_too_large_for_the_board_says_so(tmp_path):
    from dkgen.ir.graph import InputSpec, Linear, Model
    from dkgen.ir.weights import DenseWeight

    # 300 KB of float32 weights: over the Cortex-M0 board's 256 KB, run anyway.
    w = np.random.default_rng(0).standard_normal((300, 256)).astype(np.float32)
    model = Model("big", InputSpec("vector", 256), [Linear("fc", DenseWeight(w))])
    report = verify_model(model, resolve_targets("cortex-m0"), sequences=1, steps=1,
                          workdir=tmp_path, jobs=1, budget_check=False)
    (t,) = report.targets
    assert not t.passed and t.fits_budget is False
    assert t.reason.startswith("the library (")
    assert "262,144 B of flash" in t.reason and "overflowed" in t.reason
