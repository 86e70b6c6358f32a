"""Honest stand-ins for the user-supplied ONNX models, with their real signatures.

- ``make_inswapper``: inputs ``target`` [1,3,128,128] and ``source`` [1,512], one output
  [1,3,128,128], and a 512x512 initializer last (the ``emap`` insightface reads). The output
  is the colour-inverted crop blended with a grey level set by the latent, so a test can see
  where the patch went and that the source identity reached the model.
- ``make_arcface``: input [1,3,112,112] -> [1,512]; the embedding is a fixed projection of the
  crop's mean colour (a different face colour gives a different identity).
Both go through insightface's own ``model_zoo.get_model`` routing, as the real files do.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _save(graph, path: Path) -> Path:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def make_inswapper(path: Path, seed: int = 0) -> Path:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array((rng.standard_normal((512, 1)) * 4).astype(np.float32), "w_latent")
    one = numpy_helper.from_array(np.array(1.0, np.float32), "one")
    half = numpy_helper.from_array(np.array(0.5, np.float32), "half")
    emap = numpy_helper.from_array(np.linalg.qr(rng.standard_normal((512, 512)))[0].astype(np.float32), "emap")
    nodes = [
        helper.make_node("MatMul", ["source", "w_latent"], ["s"]),          # [1, 1]
        helper.make_node("Sigmoid", ["s"], ["g"]),
        helper.make_node("Sub", ["one", "target"], ["inv"]),
        helper.make_node("Mul", ["inv", "half"], ["a"]),
        helper.make_node("Mul", ["g", "half"], ["b"]),
        helper.make_node("Add", ["a", "b"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes, "inswapper_standin",
        [helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, 128, 128]),
         helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 512])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 128, 128])],
        initializer=[w, one, half, emap])                                    # emap last, as in the release
    return _save(graph, path)


def make_arcface(path: Path, seed: int = 1) -> Path:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.standard_normal((3, 512)).astype(np.float32), "proj")
    nodes = [helper.make_node("GlobalAveragePool", ["input.1"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"], axis=1),
             helper.make_node("MatMul", ["f", "proj"], ["683"])]
    graph = helper.make_graph(
        nodes, "arcface_standin",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info("683", TensorProto.FLOAT, [1, 512])], initializer=[w])
    return _save(graph, path)
