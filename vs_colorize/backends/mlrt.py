"""vs-mlrt backend: the model runs as a VapourSynth filter (``core.ort`` / ``core.ov`` / ``core.trt``).

The same ONNX file our ORT backend loads runs here unchanged (input ``input``/output ``output``, NCHW
float32); vs-mlrt stacks the planes of the input clips as channels, exactly like
:func:`vs_colorize.frames.infer_clip`. ``core.trt`` needs a serialized TensorRT engine, built from the
ONNX with :func:`vs_colorize.trt_engine.build_engine` for the exact input shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import vapoursynth as vs

from ..checks import check_choice, check_float, check_int, error
from ..core.contract import ModelInfo
from ..frames import check_finite
from .base import Backend

core = vs.core
Plugin = Literal["ort", "ov", "trt"]


@dataclass(frozen=True, kw_only=True)
class MLRT(Backend):
    """vs-mlrt's C++ runtimes as VapourSynth plugins.

    Args:
        plugin: ``"ort"`` (ONNX Runtime), ``"ov"`` (OpenVINO) or ``"trt"`` (TensorRT).
        device: ``ort``: provider ``"CPU"``, ``"CUDA"`` or ``"DML"``; ``ov``: device ``"CPU"`` or
            ``"GPU"``; ignored by ``trt``.
        device_id: GPU index (``ort`` CUDA, ``trt``).
        fp16: run in half precision (``ort``/``ov``: converted by the plugin; ``trt``: fp16 engine).
        workspace_gib: TensorRT builder workspace in GiB, 0.125..1024 (``trt`` only; default 4).
        num_streams: concurrent streams inside the plugin.
    """

    plugin: Plugin = "ort"
    device: str = "CPU"
    device_id: int = 0
    fp16: bool = False
    workspace_gib: float = 4

    name: ClassVar[str] = "mlrt"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice(self.plugin, "MLRT", "plugin", ("ort", "ov", "trt"))
        check_int(self.device_id, "MLRT", "device_id", 0)
        check_float(self.workspace_gib, "MLRT", "workspace_gib", 0.125, 1024)
        devices = {"ort": ("CPU", "CUDA", "DML"), "ov": ("CPU", "GPU"), "trt": ("CPU", "GPU", "CUDA")}
        check_choice(self.device, "MLRT", "device", devices[self.plugin])

    @property
    def gpu(self) -> bool:
        return self.plugin == "trt" or self.device in ("CUDA", "DML", "GPU")

    @property
    def formats(self) -> tuple[str, ...]:
        return ("onnx", "engine") if self.plugin == "trt" else ("onnx",)

    @staticmethod
    def available(plugin: Plugin) -> bool:
        """Whether the vs-mlrt plugin ``plugin`` is loaded in this core."""
        return hasattr(core, plugin)

    def apply(
        self,
        clips: Sequence[vs.VideoNode],
        path: Path,
        info: ModelInfo,
        *,
        width: int,
        height: int,
        func: str,
    ) -> tuple[vs.VideoNode, str]:
        if not self.available(self.plugin):
            raise error(
                func,
                f"backend MLRT(plugin={self.plugin!r}) needs the vs-mlrt plugin core.{self.plugin}: "
                f"pip install vapoursynth-mlrt-{self.plugin}",
            )
        ns = getattr(core, self.plugin)
        common = {"num_streams": self.num_streams}
        try:
            if self.plugin == "ort":
                node = ns.Model(
                    clips, network_path=str(path), provider=self.device, device_id=self.device_id,
                    fp16=int(self.fp16), **common,
                )  # fmt: skip
            elif self.plugin == "ov":
                node = ns.Model(
                    clips, network_path=str(path), device=self.device, fp16=int(self.fp16), **common
                )
            else:
                node = ns.Model(
                    clips, engine_path=str(self._engine(clips, path)), device_id=self.device_id, **common
                )
        except vs.Error as exc:
            raise error(func, f"vs-mlrt core.{self.plugin} refused {str(path)!r}: {exc}") from exc
        if (node.width, node.height, node.format.num_planes) != (width, height, info.out_channels):
            raise error(
                func,
                f"vs-mlrt core.{self.plugin} returned {node.width}x{node.height} with "
                f"{node.format.num_planes} planes, expected {width}x{height} with {info.out_channels}",
            )
        return check_finite(node, func=func, label=self.label), self.label

    @property
    def label(self) -> str:
        """The runtime as log lines name it, e.g. ``vs-mlrt ort[CPU]`` or ``vs-mlrt trt[GPU0/fp16]``."""
        device = f"GPU{self.device_id}" if self.plugin == "trt" else self.device
        return f"vs-mlrt {self.plugin}[{device}{'/fp16' if self.fp16 else ''}]"

    def _engine(self, clips: Sequence[vs.VideoNode], path: Path) -> Path:
        """A TensorRT engine for the exact input shape, built (and cached) from the ONNX file."""
        if path.suffix.lower() in (".engine", ".plan"):
            return path
        from ..trt_engine import TRTError, build_engine

        shape = (1, sum(c.format.num_planes for c in clips), clips[0].height, clips[0].width)
        try:
            return build_engine(
                path,
                min_shape=shape,
                opt_shape=shape,
                max_shape=shape,
                fp16=self.fp16,
                workspace_gib=self.workspace_gib,
                device_id=self.device_id,
            )
        except (TRTError, ValueError) as exc:
            raise error("MLRT", f"cannot build a TensorRT engine for {str(path)!r}: {exc}") from exc
