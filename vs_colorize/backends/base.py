"""The backend contract shared by every runtime, and device probes that need no heavy imports.

Filters only ask: :meth:`Backend.apply` takes the clips, the model and what the user asked for (tiles,
overlap); the backend decides sessions, streams and how the frames are cut (:mod:`.tiles`).
"""

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
from .session import Session, TiledSession, infer_clip
from .tiles import TileArg, TilePlan, plan_tiles


@dataclass(frozen=True)
class Job:
    """One model over one clip, as :meth:`Backend.apply` hands it to a runtime (see its arguments).

    ``tiles`` is None when the model takes the frames as they are. Settings of the runtime (streams, the
    batch size) are fields of the backend that :meth:`Backend.run` reads, not arguments of
    :meth:`Backend.apply`; a per-job setting would be a field here. Neither changes a signature.
    """

    clips: tuple[vs.VideoNode, ...]
    path: Path
    info: ModelInfo
    width: int
    height: int
    func: str
    tiles: TilePlan | None

    def input_shape(self, batch: int = 1) -> tuple[int, int, int, int]:
        """The NCHW shape of every model call: ``batch`` frames (or tiles) with the planes of all clips as channels."""
        channels = sum(c.format.num_planes for c in self.clips)
        h, w = self.clips[0].height, self.clips[0].width
        if self.tiles is not None:
            h, w = self.tiles.model_size(h, w)
        return batch, channels, h, w


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

    def apply(
        self,
        clips: Sequence[vs.VideoNode],
        path: Path,
        info: ModelInfo,
        *,
        width: int,
        height: int,
        func: str,
        tile: TileArg = None,
        overlap: int | None = None,
    ) -> tuple[vs.VideoNode, str]:
        """Run the model on float clips whose planes, stacked, are its input channels.

        Args:
            clips: float clips of one size and length; their planes, in order, are the model's input channels.
            path: the artifact; info: its metadata (sizes it accepts, ``scale``, ``out_channels``).
            width, height: the output size (the input size × ``info.scale``).
            func: the asking filter's name, which every error message starts with.
            tile: None (whole frames; tiled automatically only where the model cannot take them), an int side
                or (height, width) of the tiles on the input grid. See :func:`~vs_colorize.backends.tiles.plan_tiles`.
            overlap: input pixels shared by adjacent tiles (None: 32, at most half the tile side).

        Returns the float32 output clip (``info.out_channels`` planes, ``width``×``height``) and a
        description of the runtime that really runs it. Bad ``tile``/``overlap`` raise ``vs.Error`` here;
        inference errors and NaN/Inf output raise ``vs.Error`` at frame request.
        """
        tiles = plan_tiles(info, clips[0].height, clips[0].width, tile=tile, overlap=overlap, func=func)
        job = Job(tuple(clips), path, info, width, height, func, tiles)
        return self.run(job)

    @abstractmethod
    def run(self, job: Job) -> tuple[vs.VideoNode, str]:
        """The runtime's part of :meth:`apply`: the output clip of ``job`` and the runtime's description."""


@dataclass(frozen=True, kw_only=True)
class SessionBackend(Backend):
    """A backend driven from Python: one :class:`~vs_colorize.backends.session.Session` per stream.

    ``batch_size`` (1..64, default 1): consecutive frames per model call (see
    :func:`~vs_colorize.backends.session.infer_clip`); the output does not depend on it. Batches help GPUs,
    whose kernels are under-filled by one frame; on the CPU batching showed no gain (docs/benchmarks.md).
    """

    batch_size: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int(self.batch_size, type(self).__name__, "batch_size", 1, 64)

    @abstractmethod
    def open(self, path: Path, info: ModelInfo, shape: tuple[int, int, int, int]) -> Session:
        """Load the artifact at ``path`` into one inference context for NCHW input ``shape``."""

    def run(self, job: Job) -> tuple[vs.VideoNode, str]:
        shape = job.input_shape(self.batch_size)
        sessions = [self._session(job, shape) for _ in range(self.num_streams)]
        node = infer_clip(
            job.clips,
            sessions,
            width=job.width,
            height=job.height,
            out_channels=job.info.out_channels,
            func=job.func,
            batch=self.batch_size,
        )
        label = sessions[0].description
        return node, label if self.batch_size == 1 else f"{label}, batch {self.batch_size}"

    def _session(self, job: Job, shape: tuple[int, int, int, int]) -> Session:
        session = self.open(job.path, job.info, shape)
        return session if job.tiles is None else TiledSession(session, job.tiles)


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
