"""A fuzzed importer: valid model files (dkgen's own and PyTorch's) mutated at random must
load or fail with a DkgenError naming the file, never with another exception."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import numpy_helper
from random_models import mixed_model, token_model

from dkgen.errors import DkgenError
from dkgen.ir.reference import ReferenceExecutor
from dkgen.onnx_io.export import model_to_onnx
from dkgen.onnx_io.importer import load_onnx


def _torch_proto() -> onnx.ModelProto:
    torch = pytest.importorskip("torch")
    import io

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM(4, 6, 2, batch_first=True)
            self.bn = torch.nn.BatchNorm1d(6)
            self.fc = torch.nn.Linear(6, 3)

        def forward(self, x):
            return torch.softmax(self.fc(self.bn(self.rnn(x)[0][:, -1])), -1)

    torch.manual_seed(0)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Net().eval(), (torch.randn(1, 3, 4),), buf, input_names=["x"],
                          output_names=["y"], dynamo=False)
    return onnx.load_from_string(buf.getvalue())


SOURCES = {"mixed": lambda: model_to_onnx(mixed_model(0)), "tokens": lambda: model_to_onnx(token_model(0)),
           "torch": _torch_proto}
_PROTOS: dict[str, bytes] = {}


def _proto(name: str) -> onnx.ModelProto:
    if name not in _PROTOS:
        _PROTOS[name] = SOURCES[name]().SerializeToString()
    return onnx.load_from_string(_PROTOS[name])


def _mutate(proto: onnx.ModelProto, data: st.DataObject) -> None:
    graph = proto.graph
    kind = data.draw(st.sampled_from(["drop_node", "attr", "input", "init_shape", "init_value",
                                      "op_type", "swap_inputs", "dim", "dup_node"]))
    nodes = list(graph.node)
    node = nodes[data.draw(st.integers(0, len(nodes) - 1))]
    if kind == "drop_node":
        graph.node.remove(node)
    elif kind == "dup_node":
        graph.node.append(node)
    elif kind == "attr" and node.attribute:
        attr = node.attribute[data.draw(st.integers(0, len(node.attribute) - 1))]
        if attr.type == onnx.AttributeProto.INT:
            attr.i = data.draw(st.integers(-3, 300))
        elif attr.type == onnx.AttributeProto.INTS and attr.ints:
            attr.ints[data.draw(st.integers(0, len(attr.ints) - 1))] = data.draw(st.integers(-3, 3))
        elif attr.type == onnx.AttributeProto.FLOAT:
            attr.f = data.draw(st.sampled_from([0.0, -1.0, float("nan"), 2.5]))
    elif kind == "input" and node.input:
        names = [n for x in nodes for n in x.output] + [i.name for i in graph.initializer] + ["", "nope"]
        node.input[data.draw(st.integers(0, len(node.input) - 1))] = data.draw(st.sampled_from(names))
    elif kind == "swap_inputs" and len(node.input) > 1:
        node.input[0], node.input[1] = node.input[1], node.input[0]
    elif kind == "op_type":
        node.op_type = data.draw(st.sampled_from(["LSTM", "GRU", "MatMul", "Gemm", "Add", "Gather",
                                                  "Softmax", "Transpose", "Squeeze", "Expand",
                                                  "Shape", "Concat", "Relu"]))
    elif kind in ("init_shape", "init_value") and graph.initializer:
        init = graph.initializer[data.draw(st.integers(0, len(graph.initializer) - 1))]
        arr = numpy_helper.to_array(init)
        if kind == "init_shape" and arr.size > 1:
            arr = arr.reshape(-1)[: data.draw(st.integers(1, arr.size - 1))]
        elif arr.size and arr.dtype.kind == "f":
            arr = arr.copy()
            arr.reshape(-1)[0] = data.draw(st.sampled_from([np.nan, np.inf, 1e30, 0.0]))
        elif arr.size:
            arr = arr.copy()
            arr.reshape(-1)[0] = data.draw(st.sampled_from([-5, 0, 10**6]))
        init.CopyFrom(numpy_helper.from_array(arr, init.name))
    elif kind == "dim":
        vi = graph.input[0]
        dims = vi.type.tensor_type.shape.dim
        if dims:
            dims[data.draw(st.integers(0, len(dims) - 1))].dim_value = data.draw(st.integers(0, 9))


@pytest.mark.parametrize("source", SOURCES)
@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_files_load_or_fail_cleanly(tmp_path, source, data):
    proto = _proto(source)
    for _ in range(data.draw(st.integers(1, 3))):
        _mutate(proto, data)
    path = tmp_path / "fuzzed.onnx"
    path.write_bytes(proto.SerializeToString())
    try:
        model = load_onnx(path)
    except DkgenError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc).strip()
        return
    # What loads is a valid IR model: the reference runs it.
    x = (np.zeros((1, 2), np.int64) if model.input.kind == "token"
         else np.zeros((1, 2, model.input.size), np.float32))
    ReferenceExecutor(model)(x)
