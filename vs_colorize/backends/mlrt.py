"""vs-mlrt backend: the model runs as a VapourSynth filter (``core.ort`` / ``core.ov`` / ``core.trt``).

The same ONNX file our ORT backend loads runs here unchanged (input ``input``/output ``output``, NCHW
float32); vs-mlrt stacks the planes of the input clips as channels, exactly like
:func:`vs_colorize.backends.session.infer_clip`. Tiles run through vs-mlrt's own ``tilesize``/``overlap``.
``core.trt`` needs a serialized TensorRT engine, built from the ONNX with
:func:`vs_colorize.trt_engine.build_engine` for the exact input shape (frame or tile).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import vapoursynth as vs

from ..checks import check_choice, check_float, check_int, error
from .base import Backend, Job

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

    def run(self, job: Job) -> tuple[vs.VideoNode, str]:
        if not self.available(self.plugin):
            raise error(
                job.func,
                f"backend MLRT(plugin={self.plugin!r}) needs the vs-mlrt plugin core.{self.plugin}: "
                f"pip install vapoursynth-mlrt-{self.plugin}",
            )
        ns = getattr(core, self.plugin)
        common = {"num_streams": self.num_streams, **self._tiling(job)}
        path = str(job.path)
        try:
            if self.plugin == "ort":
                node = ns.Model(
                    job.clips, network_path=path, provider=self.device, device_id=self.device_id,
                    fp16=int(self.fp16), **common,
                )  # fmt: skip
            elif self.plugin == "ov":
                node = ns.Model(
                    job.clips, network_path=path, device=self.device, fp16=int(self.fp16), **common
                )
            else:
                node = ns.Model(
                    job.clips, engine_path=str(self._engine(job)), device_id=self.device_id, **common
                )
        except vs.Error as exc:
            raise error(job.func, f"vs-mlrt core.{self.plugin} refused {path!r}: {exc}") from exc
        expected = (job.width, job.height, job.info.out_channels)
        if (node.width, node.height, node.format.num_planes) != expected:
            raise error(
                job.func,
                f"vs-mlrt core.{self.plugin} returned {node.width}x{node.height} with {node.format.num_planes} "
                f"planes, expected {job.width}x{job.height} with {job.info.out_channels}",
            )
        return _check_finite(node, func=job.func, label=self.label), self.label

    def _tiling(self, job: Job) -> dict[str, list[int]]:
        """vs-mlrt's ``tilesize``/``overlap`` for ``job``'s plan (none for whole frames).

        vs-mlrt runs tiles of exactly ``tilesize`` inside the frame (the last one aligned with the frame's end)
        and keeps each tile's output only ``overlap`` pixels away from an inner tile edge, without blending. Our
        ``overlap`` (pixels shared by adjacent tiles) becomes vs-mlrt's margin ``overlap // 2``: adjacent tiles
        share at least twice the margin, and each output pixel comes from a tile where it lies at least the margin
        away from an inner edge (the blend of the session backends discards a quarter of the overlap).
        """
        plan, clip = job.tiles, job.clips[0]
        if plan is None:
            return {}
        if plan.tile is None:
            raise error(
                job.func,
                f"backend 'mlrt' cannot pad a {clip.width}x{clip.height} frame for the model "
                f"({job.info.shapes()}); pass tile= or use backend='ort'",
            )
        th, tw = plan.tile
        if th > clip.height or tw > clip.width:
            raise error(
                job.func,
                f"backend 'mlrt' runs tiles inside the frame, but {tw}x{th} tiles do not fit a "
                f"{clip.width}x{clip.height} frame; pass a smaller tile or use backend='ort'",
            )
        margin = plan.overlap // 2
        return {"tilesize": [tw, th], "overlap": [margin, margin]}

    @property
    def label(self) -> str:
        """The runtime as log lines name it, e.g. ``vs-mlrt ort[CPU]`` or ``vs-mlrt trt[GPU0/fp16]``."""
        device = f"GPU{self.device_id}" if self.plugin == "trt" else self.device
        return f"vs-mlrt {self.plugin}[{device}{'/fp16' if self.fp16 else ''}]"

    def _engine(self, job: Job) -> Path:
        """A TensorRT engine for the exact model input shape (frame or tile), built (and cached) from the ONNX."""
        path = job.path
        if path.suffix.lower() in (".engine", ".plan"):
            return path
        from ..trt_engine import TRTError
        from .trt import engine_for

        try:
            return engine_for(
                path, job.input_shape(), fp16=self.fp16, workspace_gib=self.workspace_gib, cache_dir=None,
                device_id=self.device_id,
            )  # fmt: skip
        except (TRTError, ValueError) as exc:
            raise error("MLRT", f"cannot build a TensorRT engine for {str(path)!r}: {exc}") from exc


def _check_finite(clip: vs.VideoNode, *, func: str, label: str) -> vs.VideoNode:
    """Raise ``vs.Error`` on any frame of a float model-sized ``clip`` holding NaN/Inf (the plugin does not check)."""

    def check(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        for p in range(f.format.num_planes):
            if not np.isfinite(np.asarray(f[p])).all():
                raise error(
                    func, f"{label} produced NaN/Inf on frame {n}; refusing to pass the frame through"
                )
        return f

    return clip.std.ModifyFrame(clip, check)
