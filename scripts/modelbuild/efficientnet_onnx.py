"""Build an ONNX graph of EfficientNet-Lite from a PyTorch state dict (NumPy arrays).

The state dict uses the key names of the EfficientNet-PyTorch family
(``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` / ``_depthwise_conv`` /
``_project_conv`` with ``_bn0``/``_bn1``/``_bn2``, ``_conv_head``, ``_bn1``, ``_fc``).
Channels, kernel sizes, the presence of the expansion conv and the number of
blocks are read from the weights; the strides, which weights cannot tell, come
from the EfficientNet stage schedule. Lite variants have no squeeze-excitation
and use ReLU6. Batch norms are folded into the convolutions, and convolutions
pad like TensorFlow's ``SAME`` (``auto_pad=SAME_UPPER``), as the original
TensorFlow weights expect.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# EfficientNet-B0 / Lite0 stages: output channels and stride of the stage's first block.
STAGE_SCHEDULE = [(16, 1), (24, 2), (40, 2), (80, 2), (112, 1), (192, 2), (320, 1)]
BN_EPS = 1e-3  # TensorFlow's batch_norm_epsilon for EfficientNet
OPSET = 17
IR_VERSION = 8


class ArchitectureError(ValueError):
    """The state dict does not look like an EfficientNet-Lite checkpoint."""


@dataclass(frozen=True)
class BlockSpec:
    index: int
    in_channels: int
    out_channels: int
    expanded_channels: int
    kernel_size: int
    stride: int
    has_expand: bool

    @property
    def has_skip(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels


def infer_blocks(state: dict[str, np.ndarray]) -> list[BlockSpec]:
    """Derive the MBConv blocks from the state dict's keys and shapes."""
    indices = sorted({int(m.group(1)) for k in state if (m := re.match(r"_blocks\.(\d+)\.", k))})
    if not indices or indices != list(range(len(indices))):
        raise ArchitectureError("no contiguous _blocks.N entries in the state dict")
    if any(k.startswith("_blocks.") and "_se_" in k for k in state):
        raise ArchitectureError("squeeze-excitation weights found: not an EfficientNet-Lite checkpoint")

    blocks: list[BlockSpec] = []
    in_ch = state["_conv_stem.weight"].shape[0]
    stage_outputs: list[int] = []
    for i in indices:
        prefix = f"_blocks.{i}."
        dw = state[prefix + "_depthwise_conv.weight"]
        proj = state[prefix + "_project_conv.weight"]
        out_ch = proj.shape[0]
        first_of_stage = not stage_outputs or stage_outputs[-1] != out_ch
        if first_of_stage:
            stage_outputs.append(out_ch)
        blocks.append((i, in_ch, out_ch, dw.shape[0], dw.shape[-1], first_of_stage,
                       prefix + "_expand_conv.weight" in state))
        in_ch = out_ch

    expected = [c for c, _ in STAGE_SCHEDULE]
    if stage_outputs != expected:
        raise ArchitectureError(f"stage widths {stage_outputs} differ from EfficientNet-Lite0's {expected}")
    strides = iter(s for _, s in STAGE_SCHEDULE)
    specs = []
    for i, cin, cout, cexp, k, first, has_expand in blocks:
        stride = next(strides) if first else 1
        specs.append(BlockSpec(i, cin, cout, cexp, k, stride, has_expand))
    return specs


def fold_bn(weight: np.ndarray, state: dict[str, np.ndarray], bn: str) -> tuple[np.ndarray, np.ndarray]:
    """Fold batch norm ``bn`` into the preceding bias-free convolution ``weight``."""
    gamma, beta = state[bn + ".weight"], state[bn + ".bias"]
    mean, var = state[bn + ".running_mean"], state[bn + ".running_var"]
    scale = gamma / np.sqrt(var + BN_EPS)
    folded_w = weight * scale.reshape(-1, *([1] * (weight.ndim - 1)))
    folded_b = beta - mean * scale
    return folded_w.astype(np.float32), folded_b.astype(np.float32)


class _GraphBuilder:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._relu6_bounds = False

    def const(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def conv_bn(self, x: str, name: str, weight: np.ndarray, state, bn: str,
                stride: int = 1, groups: int = 1, relu6: bool = True) -> str:
        w, b = fold_bn(weight, state, bn)
        k = w.shape[-1]
        attrs = {"strides": [stride, stride], "group": groups, "kernel_shape": [k, k]}
        if k > 1 or stride > 1:
            attrs["auto_pad"] = "SAME_UPPER"
        out = name
        self.nodes.append(helper.make_node(
            "Conv", [x, self.const(name + ".weight", w), self.const(name + ".bias", b)], [out],
            name=name, **attrs))
        return self.relu6(out) if relu6 else out

    def relu6(self, x: str) -> str:
        if not self._relu6_bounds:
            self.const("relu6.min", np.array(0.0, dtype=np.float32))
            self.const("relu6.max", np.array(6.0, dtype=np.float32))
            self._relu6_bounds = True
        out = x + ".relu6"
        self.nodes.append(helper.make_node("Clip", [x, "relu6.min", "relu6.max"], [out], name=out))
        return out


def build_model(state: dict[str, np.ndarray], input_name: str = "pixel_values",
                output_name: str = "logits") -> onnx.ModelProto:
    """Return the ONNX model of the EfficientNet-Lite described by ``state``."""
    specs = infer_blocks(state)
    g = _GraphBuilder()
    x = g.conv_bn(input_name, "stem", state["_conv_stem.weight"], state, "_bn0", stride=2)
    for spec in specs:
        p = f"_blocks.{spec.index}."
        name = f"blocks.{spec.index}"
        h = x
        if spec.has_expand:
            h = g.conv_bn(h, name + ".expand", state[p + "_expand_conv.weight"], state, p + "_bn0")
        h = g.conv_bn(h, name + ".depthwise", state[p + "_depthwise_conv.weight"], state, p + "_bn1",
                      stride=spec.stride, groups=spec.expanded_channels)
        h = g.conv_bn(h, name + ".project", state[p + "_project_conv.weight"], state, p + "_bn2", relu6=False)
        if spec.has_skip:
            out = name + ".add"
            g.nodes.append(helper.make_node("Add", [h, x], [out], name=out))
            h = out
        x = h
    x = g.conv_bn(x, "head", state["_conv_head.weight"], state, "_bn1")
    g.nodes.append(helper.make_node("GlobalAveragePool", [x], ["pool"], name="pool"))
    g.nodes.append(helper.make_node("Flatten", ["pool"], ["pool.flat"], name="flatten", axis=1))
    fc_w, fc_b = state["_fc.weight"].astype(np.float32), state["_fc.bias"].astype(np.float32)
    g.nodes.append(helper.make_node(
        "Gemm", ["pool.flat", g.const("fc.weight", fc_w), g.const("fc.bias", fc_b)], [output_name],
        name="fc", transB=1))

    num_classes = fc_w.shape[0]
    graph = helper.make_graph(
        g.nodes, "efficientnet_lite0",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch_size", 3, "height", "width"])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch_size", num_classes])],
        initializer=g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="ecs-lab build_test_model")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model
