"""The backend interface shared by every runtime, and device probes that need no heavy imports."""

from __future__ import annotations

import ctypes
import functools
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import vapoursynth as vs

from ..checks import check_int
from ..core.contract import ModelInfo, Precision
from ..frames import Session, infer_clip


@dataclass(frozen=True, kw_only=True)
class Backend(ABC):
    """A runtime configuration. Subclasses are frozen keyword-only dataclasses, one module each.

    ``num_streams`` (≥ 1): how many sessions run frames concurrently (``FrameEval`` pattern when > 1);
    it should not exceed ``core.num_threads``.
    """

    num_streams: int = 1

    #: Short name used in ``backend="..."`` strings and log lines.
    name: ClassVar[str] = ""

    def __post_init__(self) -> None:
        check_int(self.num_streams, type(self).__name__, "num_streams", 1, 64)

    @property
    def gpu(self) -> bool:
        """Whether this configuration runs on a GPU (decides the preferred artifact precision)."""
        return False

    @property
    def formats(self) -> tuple[str, ...]:
        """Artifact formats this runtime loads (``onnx``, ``pt2``, ``engine``), registry lookup format first."""
        return ("onnx",)

    @property
    def precision(self) -> Precision:
        """The artifact precision to prefer for registry names: fp16 on GPUs, fp32 on CPUs."""
        return "fp16" if self.gpu else "fp32"

    @abstractmethod
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
        """Run the model on float clips whose planes, stacked, are its input channels.

        Returns the float32 output clip (``info.out_channels`` planes, ``width``×``height``) and a
        description of the runtime that really runs it. Inference errors and NaN/Inf output raise
        ``vs.Error`` at frame request.
        """


@dataclass(frozen=True, kw_only=True)
class SessionBackend(Backend):
    """A backend driven from Python: one :class:`~vs_colorize.frames.Session` per stream."""

    @abstractmethod
    def open(self, path: Path, info: ModelInfo, shape: tuple[int, int, int, int]) -> Session:
        """Load the artifact at ``path`` into one inference context for NCHW input ``shape``."""

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
        channels = sum(c.format.num_planes for c in clips)
        shape = (1, channels, clips[0].height, clips[0].width)
        sessions = [self.open(path, info, shape) for _ in range(self.num_streams)]
        node = infer_clip(
            clips, sessions, width=width, height=height, out_channels=info.out_channels, func=func
        )
        return node, sessions[0].description


@functools.cache
def cuda_device_count() -> int:
    """CUDA devices visible through the driver API (libcuda), 0 when there is no driver or no GPU."""
    for name in ("libcuda.so.1", "libcuda.so", "nvcuda.dll"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        count = ctypes.c_int(0)
        if lib.cuInit(0) != 0 or lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
            return 0
        return count.value
    return 0
