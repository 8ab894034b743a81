"""Tiny ONNX colorize/superres models built with ``onnx.helper`` (torch-free), plus test clips.

``tint``: per-channel affine map ``out_c = clip(scale_c·in_c + bias_c, 0, 1)``. The filter feeds grey
replicated into RGB, so for a grey level y the render is the known colour ``clip(scale·y + bias)``.
``luma_tint``: ``R = y, G = 1 − y, B = 0.5`` — chroma that follows the picture (for geometry tests).
``nan``: returns NaN everywhere (0/0). ``broken``: reshapes to a fixed 7×7 size, so every real run fails.
``slow``: a box blur with a huge kernel — a model that takes long enough per frame to interrupt a render.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import vapoursynth as vs
from onnx import TensorProto, helper, numpy_helper

from vs_colorize.core.contract import ModelInfo

OPSET = 18


def _save(
    nodes: list[onnx.NodeProto],
    inits: list[onnx.TensorProto],
    path: Path,
    *,
    info: ModelInfo | None,
    in_channels: int = 3,
    out_channels: int = 3,
    static_size: tuple[int, int] | None = None,
    scale: int = 1,
) -> Path:
    h, w = static_size if static_size else ("H", "W")
    oh, ow = (h * scale, w * scale) if static_size else ("OH", "OW")
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", in_channels, h, w])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", out_channels, oh, ow])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 9
    if info is not None:
        helper.set_model_props(model, info.to_props())
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path


def colorize_info(
    *, static_size: tuple[int, int] | None = None, dynamic_range: tuple[int, int] = (16, 2048), **kw
) -> ModelInfo:
    """Metadata of a colorize artifact (dynamic 16..2048 unless ``static_size`` is given)."""
    return ModelInfo(
        kind="colorize",
        arch=kw.pop("arch", "tiny"),
        static_size=static_size,
        dynamic_range=None if static_size else dynamic_range,
        **kw,
    )


def tint(
    path: Path,
    scale: Sequence[float] = (1.0, 0.6, 0.3),
    bias: Sequence[float] = (0.1, 0.05, 0.0),
    *,
    info: ModelInfo | None = None,
    metadata: bool = True,
    static_size: tuple[int, int] | None = None,
) -> Path:
    """The per-channel affine model; ``metadata=False`` writes a foreign ONNX with no vs_colorize props."""
    s = numpy_helper.from_array(np.asarray(scale, np.float32).reshape(1, 3, 1, 1), "s")
    b = numpy_helper.from_array(np.asarray(bias, np.float32).reshape(1, 3, 1, 1), "b")
    lo = numpy_helper.from_array(np.array(0.0, np.float32), "lo")
    hi = numpy_helper.from_array(np.array(1.0, np.float32), "hi")
    nodes = [
        helper.make_node("Mul", ["input", "s"], ["m"]),
        helper.make_node("Add", ["m", "b"], ["a"]),
        helper.make_node("Clip", ["a", "lo", "hi"], ["output"]),
    ]
    if info is None and metadata:
        info = colorize_info(static_size=static_size)
    return _save(nodes, [s, b, lo, hi], path, info=info, static_size=static_size)


def tint_expected(y: np.ndarray, scale: Sequence[float], bias: Sequence[float]) -> np.ndarray:
    """The tint model's render (``[3, …]`` RGB) for grey levels ``y`` in [0, 1]."""
    s = np.asarray(scale, np.float64).reshape(3, *([1] * y.ndim))
    b = np.asarray(bias, np.float64).reshape(3, *([1] * y.ndim))
    return np.clip(s * y[None] + b, 0.0, 1.0)


def luma_tint(path: Path) -> Path:
    """``R = y, G = 1 − y, B = 0.5`` for input grey y."""
    w = numpy_helper.from_array(np.array([1.0, -1.0, 0.0], np.float32).reshape(1, 3, 1, 1), "w")
    b = numpy_helper.from_array(np.array([0.0, 1.0, 0.5], np.float32).reshape(1, 3, 1, 1), "b")
    nodes = [helper.make_node("Mul", ["input", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["output"])]
    return _save(nodes, [w, b], path, info=colorize_info())


def nan(path: Path) -> Path:
    """Outputs NaN everywhere: (x − x) / (x − x)."""
    nodes = [
        helper.make_node("Sub", ["input", "input"], ["z"]),
        helper.make_node("Div", ["z", "z"], ["output"]),
    ]
    return _save(nodes, [], path, info=colorize_info())


def slow(path: Path, kernel: int = 63) -> Path:
    """A ``kernel``×``kernel`` box blur over all three channels (≈ 9·kernel² multiply-adds per pixel)."""
    weight = np.full((3, 3, kernel, kernel), 1.0 / (3 * kernel * kernel), np.float32)
    w = numpy_helper.from_array(weight, "w")
    pad = kernel // 2
    nodes = [helper.make_node("Conv", ["input", "w"], ["output"], pads=[pad] * 4)]
    return _save(nodes, [w], path, info=colorize_info())


def broken(path: Path) -> Path:
    """Fails on every real input: a Reshape to a fixed 1×3×7×7 shape."""
    shape = numpy_helper.from_array(np.array([1, 3, 7, 7], np.int64), "shape")
    nodes = [helper.make_node("Reshape", ["input", "shape"], ["output"])]
    return _save(nodes, [shape], path, info=colorize_info())


def superres(path: Path, scale: int = 2) -> Path:
    """A superres artifact (mean of the 3 frames, nearest upscale) — the wrong kind for colorize."""
    info = ModelInfo(
        kind="superres", arch="tiny-sr", dynamic_range=(8, 1024), multiple=1, window=3, out_channels=1,
        scale=scale,
    )  # fmt: skip
    axes = numpy_helper.from_array(np.array([1], np.int64), "axes")
    scales = numpy_helper.from_array(np.array([1, 1, scale, scale], np.float32), "scales")
    nodes = [
        helper.make_node("ReduceMean", ["input", "axes"], ["m"], keepdims=1),
        helper.make_node("Resize", ["m", "", "scales"], ["output"], mode="nearest"),
    ]
    return _save(nodes, [axes, scales], path, info=info, out_channels=1, scale=scale)


# --- test clips and analytic expectations -----------------------------------------------------------------

KR_KB = {1: (0.2126, 0.0722), 5: (0.299, 0.114), 6: (0.299, 0.114), 9: (0.2627, 0.0593)}


def noise_clip(fmt: int, width: int = 96, height: int = 64, length: int = 3, seed: int = 0) -> vs.VideoNode:
    """A clip of uniform noise over each plane's legal code range (different every frame)."""
    blank = vs.core.std.BlankClip(format=fmt, width=width, height=height, length=length, keep=True)
    info = blank.format

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        rng = np.random.default_rng(seed * 1000 + n)
        for p in range(info.num_planes):
            a = np.asarray(out[p])
            if info.sample_type == vs.INTEGER:
                a[...] = rng.integers(0, 1 << info.bits_per_sample, a.shape)
            else:
                lo = -0.5 if info.color_family == vs.YUV and p else 0.0
                a[...] = rng.uniform(lo, lo + 1.0, a.shape)
        return out

    return blank.std.ModifyFrame(blank, fill)


def expected_chroma(y: float, scale, bias, matrix: int) -> tuple[float, float]:
    """(U, V) in [-0.5, 0.5] of the tint model's render for grey level ``y`` under ``matrix``."""
    r, g, b = tint_expected(np.array(y), scale, bias)
    return expected_chroma_rgb((r, g, b), matrix)


def chroma_code(c: float, bits: int, full: bool) -> float:
    """A chroma value in [-0.5, 0.5] as an integer code (zimg's limited/full range scaling)."""
    if full:
        return (1 << (bits - 1)) + c * ((1 << bits) - 1)
    return (1 << (bits - 1)) + c * 224 * (1 << (bits - 8))


def expected_chroma_rgb(rgb: tuple[float, float, float], matrix: int) -> tuple[float, float]:
    """(U, V) in [-0.5, 0.5] of an RGB colour under ``matrix``."""
    r, g, b = (float(c) for c in rgb)
    kr, kb = KR_KB[matrix]
    luma = kr * r + (1 - kr - kb) * g + kb * b
    return (b - luma) / (2 * (1 - kb)), (r - luma) / (2 * (1 - kr))
