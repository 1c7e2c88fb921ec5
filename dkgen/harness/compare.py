"""A model against the forms it replaces, as C on the same targets (`dkgen bench`).

A compressed model earns its place on a microcontroller only if it beats what the firmware
engineer would otherwise ship. For any model this builds two equivalents with the same
layers and measures all three in one run (each also a parity test):

- dense: every structured weight stored as the dense matrix it stands for;
- pruned at equal size: every structured weight replaced by a CSR matrix storing as many
  values as it does, the largest entries of its dense form (magnitude pruning without
  retraining: the same cost as a trained pruned model of that size, not its accuracy).

A form identical to the model (a dense model's dense form, a pruned model's pruned one)
is not measured twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dkgen.harness.targets import Target
from dkgen.harness.verify import VerifyReport, make_inputs, verify_model
from dkgen.ir.graph import Model, map_weights, weights_of
from dkgen.ir.weights import DenseWeight, SparseWeight, Weight
from dkgen.structure.fit import largest_entries

FORMS = ("model", "pruned", "dense")


def densify(w: Weight) -> Weight:
    """The dense matrix `w` stands for."""
    return w if isinstance(w, DenseWeight) else DenseWeight(w.to_dense())


def prune(w: Weight) -> Weight:
    """A CSR matrix storing as many values as `w` does: the largest entries of its dense form
    (the rule of `dkgen compress --method pruned`, ties to the lower index)."""
    if isinstance(w, DenseWeight | SparseWeight):
        return w
    dense = w.to_dense()
    return SparseWeight(largest_entries(*dense.shape, dense, w.param_count))


def dense_equivalent(model: Model) -> Model:
    """The same layers with every weight stored dense: what the compressed model replaces."""
    return map_weights(model, densify, "dense")


def pruned_equivalent(model: Model) -> Model:
    """The same layers with every structured weight pruned to its stored values (equal size)."""
    return map_weights(model, prune, "pruned")


def with_trained_form(model: Model, name: str, other: Model) -> dict[str, Model]:
    """`equivalents(model)` with the form `name` ("pruned", "dense") replaced by a model
    trained as such: the fair comparison, when there is one. Its input and output must be
    the same as the model's."""
    if (other.input.kind, other.input.size, other.output_size) != (
            model.input.kind, model.input.size, model.output_size):
        raise ValueError(f"its input ({other.input.kind} {other.input.size}) and output "
                         f"({other.output_size}) differ from the model's ({model.input.kind} "
                         f"{model.input.size}, {model.output_size})")
    forms = equivalents(model)
    forms[name] = other
    return {k: forms[k] for k in FORMS if k in forms}


def equivalents(model: Model) -> dict[str, Model]:
    """{form: model} in FORMS order, without forms that change no weight of the model."""
    forms = {"model": model, "pruned": pruned_equivalent(model), "dense": dense_equivalent(model)}
    mine = weights_of(model)
    return {name: m for name, m in forms.items()
            if name == "model" or any(a is not b for a, b in zip(weights_of(m), mine, strict=True))}


@dataclass
class Comparison:
    """Each form's verification report, on the same targets and inputs."""

    reports: dict[str, VerifyReport]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.reports.values())

    def to_json(self) -> dict:
        return {"passed": self.passed, "forms": {k: r.to_json() for k, r in self.reports.items()}}


def compare_model(model: Model, targets: list[Target], *, inputs: np.ndarray | None = None,
                  sequences: int = 4, steps: int = 8, seed: int = 0, dtype: str = "float32",
                  calib: np.ndarray | None = None, optimize: str = "ram", jobs: int = 2,
                  timeout_s: float = 300.0, workdir: Path | None = None,
                  forms: dict[str, Model] | None = None, profile: bool = False,
                  form_inputs: dict[str, np.ndarray] | None = None) -> Comparison:
    """Generate, build and run `model` and its equivalents (or the given `forms`) on every
    target with the same inputs and (int8) the same calibration inputs. Budgets are not
    enforced: a form that does not fit the part is measured all the same and the report says
    so (`fits_budget`). `profile`: each layer's instructions too (`verify_model`).
    `form_inputs`: a form's own inputs, for a model trained on its own (a pruned model with
    its own embedding); with int8 they are its calibration inputs too."""
    forms = forms or equivalents(model)
    x = inputs if inputs is not None else make_inputs(model, sequences, steps, seed)
    form_inputs = form_inputs or {}
    reports = {}
    for name, m in forms.items():
        own = form_inputs.get(name)
        reports[name] = verify_model(m, targets, inputs=x if own is None else own, dtype=dtype,
                                     calib=calib if own is None or calib is None else own,
                                     optimize=optimize, jobs=jobs, timeout_s=timeout_s,
                                     budget_check=False, profile=profile,
                                     workdir=None if workdir is None else workdir / name)
    return Comparison(reports)
