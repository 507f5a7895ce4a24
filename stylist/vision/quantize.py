"""Smaller, faster variants of a backbone: int8 (static, QDQ) for CPUs and fp16 for GPUs.

* ``quantize_int8`` runs ONNX Runtime's static quantizer in QDQ format: weights int8 per output
  channel, activations uint8 with ranges calibrated on real photos (the person's own, or the
  shared wardrobe photos). ONNX Runtime fuses the QDQ pairs into integer kernels on the CPU.
* ``convert_fp16`` stores weights and computes in float16 but keeps the model's input and outputs
  float32 (one Cast at each end), so callers never see the difference. It handles the operators
  of convolutional backbones (Conv, Gemm, pooling, activations, Pad, Reshape, Add …); other graphs
  are refused rather than converted wrongly.
* ``agreement`` measures how close a variant stays to fp32 (cosine similarity of features), which
  goes into the manifest; the extractor uses int8 automatically only when it is within tolerance.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# Features of an approximate variant must keep at least this cosine similarity to fp32 on every
# calibration-check photo for the extractor to pick it by itself.
COSINE_TOLERANCE = 0.99

# Operators whose float inputs/outputs may simply become float16.
FP16_SAFE_OPS = frozenset(
    {
        "Conv",
        "Gemm",
        "MatMul",
        "Relu",
        "Clip",
        "MaxPool",
        "AveragePool",
        "GlobalAveragePool",
        "Flatten",
        "Reshape",
        "Add",
        "Mul",
        "Sub",
        "Div",
        "Pad",
        "Concat",
        "Slice",
        "Transpose",
        "Identity",
        "Dropout",
        "Sigmoid",
        "HardSigmoid",
        "HardSwish",
        "Squeeze",
        "Unsqueeze",
        "Shape",
        "Gather",
        "Cast",
        "Constant",
        "ConstantOfShape",
    }
)


def _batches(
    calibration: np.ndarray | Iterable[np.ndarray], batch_size: int
) -> Iterator[np.ndarray]:
    if isinstance(calibration, np.ndarray):
        for start in range(0, len(calibration), batch_size):
            yield calibration[start : start + batch_size]
    else:
        yield from calibration


def quantize_int8(
    fp32_path: Path,
    out_path: Path,
    calibration: np.ndarray | Iterable[np.ndarray],
    input_name: str = "image",
    batch_size: int = 8,
    method: str = "minmax",
    keep_float: Sequence[str] = (),
) -> list[str]:
    """Static int8 QDQ quantization of ``fp32_path`` into ``out_path``.

    ``calibration``: preprocessed photos, (N, 3, S, S) float32 or an iterable of such batches.
    ``method``: "minmax" (fast) or "percentile" (clips rare outliers; better for some nets).
    ``keep_float``: node-name prefixes left in float (layers too sensitive to quantize).
    Returns the names of the nodes kept in float.
    """
    import tempfile

    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = _batches(calibration, batch_size)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._it, None)
            return None if batch is None else {input_name: np.ascontiguousarray(batch)}

    methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile}
    with tempfile.TemporaryDirectory(prefix="stylist-quant-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        # Shape inference and graph clean-up make more nodes quantizable.
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        excluded = []
        if keep_float:
            import onnx

            graph = onnx.load(str(prepared), load_external_data=False).graph
            excluded = [n.name for n in graph.node if n.name.startswith(tuple(keep_float))]
        quantize_static(
            str(prepared),
            str(out_path),
            Reader(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            calibrate_method=methods[method],
            nodes_to_exclude=excluded,
            # The calibrator keeps only per-batch min/max of each tensor, so memory stays small
            # however many photos calibrate.
            extra_options={"ActivationSymmetric": False},
        )
    return excluded


def convert_fp16(fp32_path: Path, out_path: Path) -> None:
    """A float16 copy of a convolutional network with float32 input and outputs."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(fp32_path))
    graph = model.graph
    unknown = sorted({n.op_type for n in graph.node} - FP16_SAFE_OPS)
    if unknown:
        raise ValueError(f"{fp32_path.name}: cannot convert to fp16 ({', '.join(unknown)})")

    for init in graph.initializer:
        if init.data_type == TensorProto.FLOAT:
            array = numpy_helper.to_array(init).astype(np.float16)
            init.CopyFrom(numpy_helper.from_array(array, init.name))
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == TensorProto.FLOAT:
                array = numpy_helper.to_array(attr.t).astype(np.float16)
                attr.t.CopyFrom(numpy_helper.from_array(array, attr.t.name))
        if node.op_type == "Cast":
            for attr in node.attribute:
                if attr.name == "to" and attr.i == TensorProto.FLOAT:
                    attr.i = TensorProto.FLOAT16
    # Intermediate types are re-inferred by ONNX Runtime; stale float32 annotations would clash.
    del graph.value_info[:]

    # Cast the float32 input to float16 right at the start, and the outputs back at the end.
    casts_in, casts_out = [], []
    for inp in graph.input:
        if inp.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        inner = f"{inp.name}__fp16"
        for node in graph.node:
            for i, name in enumerate(node.input):
                if name == inp.name:
                    node.input[i] = inner
        casts_in.append(helper.make_node("Cast", [inp.name], [inner], to=TensorProto.FLOAT16))
    for out in graph.output:
        if out.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        inner = f"{out.name}__fp16"
        # The output may also feed other nodes (features feed the classifier): rename it all.
        for node in graph.node:
            for i, name in enumerate(node.output):
                if name == out.name:
                    node.output[i] = inner
            for i, name in enumerate(node.input):
                if name == out.name:
                    node.input[i] = inner
        casts_out.append(helper.make_node("Cast", [inner], [out.name], to=TensorProto.FLOAT))
    nodes = casts_in + list(graph.node) + casts_out
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(out_path))


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of matching rows: (N, D), (N, D) -> (N,)."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    num = (a * b).sum(1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return num / np.maximum(den, 1e-12)


def run_features(
    path: Path, batches: Sequence[np.ndarray], input_name: str = "image", threads: int = 0
) -> np.ndarray:
    """Features output of an ONNX file on CPU for some preprocessed batches -> (N, D)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    outs = [session.run(["features"], {input_name: b})[0] for b in batches]
    return np.concatenate(outs).astype(np.float32)


def agreement(
    fp32_path: Path, variant_path: Path, batches: Sequence[np.ndarray], input_name: str = "image"
) -> dict[str, Any]:
    """How close a variant's features stay to fp32 on held-out photos (cosine, max abs)."""
    ref = run_features(fp32_path, batches, input_name)
    got = run_features(variant_path, batches, input_name)
    cos = cosine_rows(ref, got)
    return {
        "cosine_min": float(cos.min()),
        "cosine_mean": float(cos.mean()),
        "max_abs_diff": float(np.abs(ref - got).max()),
        "checked_photos": int(len(ref)),
        "within_tolerance": bool(cos.min() >= COSINE_TOLERANCE),
        "tolerance": COSINE_TOLERANCE,
    }
