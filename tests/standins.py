"""Honest stand-ins for the user-supplied ONNX models, with their real signatures.

- ``make_inswapper``: inputs ``target`` [1,3,128,128] and ``source`` [1,512], one output
  [1,3,128,128], and a 512x512 initializer last (the ``emap`` insightface reads). The output
  is the colour-inverted crop blended with a grey level set by the latent, so a test can see
  where the patch went and that the source identity reached the model.
- ``make_arcface``: input [1,3,112,112] -> [1,512]; the embedding is a fixed projection of the
  crop's mean colour (a different face colour gives a different identity).
Both go through insightface's own ``model_zoo.get_model`` routing, as the real files do.
- ``make_enhancer``: Deep-Live-Cam's face enhancers (GFPGAN, GPEN-BFR): input ``input``
  [1,3,S,S] in [-1, 1], output ``output`` [1,3,S',S']; the output is the input times ``gain``
  (nearest-upsampled when S' > S, as gfpgan-1024's 2x output), so a test can predict each pixel.
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


def make_enhancer(path: Path, side: int, out_side: int | None = None, gain: float = 0.5) -> Path:
    from onnx import TensorProto, helper, numpy_helper

    out_side = out_side or side
    g = numpy_helper.from_array(np.array(gain, np.float32), "gain")
    inits = [g]
    if out_side == side:
        nodes = [helper.make_node("Mul", ["input", "gain"], ["output"])]
    else:
        inits += [numpy_helper.from_array(np.zeros(0, np.float32), "roi"),
                  numpy_helper.from_array(np.array([1, 1, out_side / side, out_side / side], np.float32), "scales")]
        nodes = [helper.make_node("Mul", ["input", "gain"], ["g"]),
                 helper.make_node("Resize", ["g", "roi", "scales"], ["output"], mode="nearest")]
    graph = helper.make_graph(
        nodes, "enhancer_standin",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, side, side])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, out_side, out_side])], initializer=inits)
    return _save(graph, path)


def make_scrfd(path: Path, box=(240.0, 200.0, 400.0, 400.0), score: float = 0.9) -> Path:
    """SCRFD's signature at a fixed 640x640 input: 9 outputs (scores, box distances, 5-point
    offsets for strides 8/16/32, two anchors per cell), as buffalo_l's det_10g.onnx. It
    "finds" one face, ``box`` in the 640x640 input, with the 5 points placed in it as on an
    upright face; the image itself is ignored (a stand-in tests plumbing, not detection)."""
    from onnx import TensorProto, helper, numpy_helper

    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    kps = np.array([[x1 + 0.3 * w, y1 + 0.4 * h], [x1 + 0.7 * w, y1 + 0.4 * h], [x1 + 0.5 * w, y1 + 0.6 * h],
                    [x1 + 0.35 * w, y1 + 0.8 * h], [x1 + 0.65 * w, y1 + 0.8 * h]], np.float32)
    consts, outputs = [], {"score": [], "bbox": [], "kps": []}
    for stride in (8, 16, 32):
        cells = 640 // stride
        n = cells * cells * 2
        sc = np.zeros((n, 1), np.float32)
        bb = np.zeros((n, 4), np.float32)
        kp = np.zeros((n, 10), np.float32)
        if stride == 16:
            gx, gy = int((x1 + x2) / 2 // stride), int((y1 + y2) / 2 // stride)
            ax, ay = gx * stride, gy * stride
            k = (gy * cells + gx) * 2
            sc[k] = score
            bb[k] = np.array([ax - x1, ay - y1, x2 - ax, y2 - ay]) / stride
            kp[k] = ((kps - [ax, ay]) / stride).ravel()
        for kind, arr in (("score", sc), ("bbox", bb), ("kps", kp)):
            name = f"{kind}_{stride}"
            consts.append(numpy_helper.from_array(arr, f"c_{name}"))
            outputs[kind].append((name, arr.shape))
    zero = numpy_helper.from_array(np.array(0.0, np.float32), "zero")
    nodes = [helper.make_node("ReduceMean", ["input.1"], ["m"], keepdims=0),
             helper.make_node("Mul", ["m", "zero"], ["z"])]
    outs = []
    for kind in ("score", "bbox", "kps"):
        for name, shape in outputs[kind]:
            nodes.append(helper.make_node("Add", [f"c_{name}", "z"], [name]))
            outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape)))
    graph = helper.make_graph(nodes, "scrfd_standin",
                              [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, 640, 640])],
                              outs, initializer=consts + [zero])
    return _save(graph, path)


def make_genderage(path: Path) -> Path:
    """insightface's genderage signature (buffalo_l's ``genderage.onnx``): input ``data``
    [1,3,96,96], one output ``fc1`` [1,3] = female score, male score, age / 100. The stand-in
    reads the crop's mean colour: redder than blue is "female", bluer than red "male", age 0.3
    (30). insightface routes it by its 96 x 96 input to its ``Attribute`` class, as the real file."""
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.array([[1.0, -1.0, 0.0], [0.0, 0.0, 0.0], [-1.0, 1.0, 0.0]], np.float32), "w")
    b = numpy_helper.from_array(np.array([[0.0, 0.0, 0.3]], np.float32), "b")
    nodes = [helper.make_node("GlobalAveragePool", ["data"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"], axis=1),
             helper.make_node("MatMul", ["f", "w"], ["m"]),
             helper.make_node("Add", ["m", "b"], ["fc1"])]
    graph = helper.make_graph(
        nodes, "genderage_standin",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 96, 96])],
        [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, [1, 3])], initializer=[w, b])
    return _save(graph, path)
