"""Native TensorRT backend, on :mod:`vs_colorize.trt_engine` (engine builder and runner).

An ``.onnx`` artifact is turned into an engine for the exact input shape by
``trt_engine.build_engine`` (cached under the user cache's ``engines/``, keyed by the ONNX hash, shapes,
precision, TensorRT version and GPU); an ``.engine``/``.plan`` file is run as it is (metadata in the
sidecar ``<file>.json``). Written against the documented TensorRT Python API; not exercised on the
development machines, which have no GPU.
"""

from __future__ import annotations

import importlib.util
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..checks import check_float, check_int, error
from ..core.contract import ModelInfo
from .base import SessionBackend, cuda_device_count

#: Engines built from ONNX files in this process, by (ONNX path, mtime, size, input shape, build settings):
#: every stream of a filter (and every filter on the same model) opens one engine instead of re-hashing the
#: ONNX and re-validating the cached engine once per stream.
_BUILT: dict[tuple[object, ...], Path] = {}


def trt_available() -> bool:
    """Whether tensorrt is importable and a CUDA GPU is visible (checked without importing tensorrt)."""
    return importlib.util.find_spec("tensorrt") is not None and cuda_device_count() > 0


@dataclass(frozen=True, kw_only=True)
class TRT(SessionBackend):
    """TensorRT engines.

    Args:
        device_id: CUDA device.
        fp16: build fp16 engines (fp32 I/O either way).
        workspace_gib: builder workspace limit in GiB.
        cache_dir: engine cache directory (None = ``<user cache>/engines``).
        num_streams: concurrent execution contexts (see :class:`~vs_colorize.backends.base.Backend`).
    """

    device_id: int = 0
    fp16: bool = True
    workspace_gib: float = 4
    cache_dir: str | None = None

    name: ClassVar[str] = "trt"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int(self.device_id, "TRT", "device_id", 0)
        check_float(self.workspace_gib, "TRT", "workspace_gib", 0.125, 1024)

    @property
    def gpu(self) -> bool:
        return True

    @property
    def formats(self) -> tuple[str, ...]:
        return ("onnx", "engine")

    def open(self, path: Path, info: ModelInfo, shape: tuple[int, int, int, int]) -> TrtSession:
        from .. import trt_engine

        try:
            engine = self._engine(path, shape) if path.suffix.lower() == ".onnx" else path
            runner = trt_engine.TRTRunner(engine, device_id=self.device_id)
        except (trt_engine.TRTError, ValueError, OSError) as exc:
            raise error("TRT", f"cannot run {str(path)!r}: {exc}") from exc
        label = "engine" if engine == path else ("fp16" if self.fp16 else "fp32")
        return TrtSession(runner, label=label)

    def _engine(self, path: Path, shape: tuple[int, int, int, int]) -> Path:
        return engine_for(
            path, shape, fp16=self.fp16, workspace_gib=self.workspace_gib, cache_dir=self.cache_dir,
            device_id=self.device_id,
        )  # fmt: skip


def engine_for(
    path: Path,
    shape: tuple[int, int, int, int],
    *,
    fp16: bool,
    workspace_gib: float,
    cache_dir: str | None,
    device_id: int,
) -> Path:
    """The engine for ONNX ``path`` at exactly ``shape``: built (or found in the cache) once per process, then
    reused by every stream and every filter on the same model (native TRT and vs-mlrt ``core.trt`` alike).

    Raises :class:`~vs_colorize.trt_engine.TRTError` or ``ValueError`` as ``trt_engine.build_engine`` does.
    """
    from .. import trt_engine

    st = path.stat()
    key = (path.resolve(), st.st_mtime_ns, st.st_size, shape, fp16, workspace_gib, cache_dir, device_id)
    engine = _BUILT.get(key)
    if engine is None or not engine.is_file():
        engine = trt_engine.build_engine(
            path,
            min_shape=shape,
            opt_shape=shape,
            max_shape=shape,
            fp16=fp16,
            workspace_gib=workspace_gib,
            cache_dir=cache_dir,
            device_id=device_id,
        )
        _BUILT[key] = engine
    return engine


class TrtSession:
    """A ``trt_engine.TRTRunner`` as a :class:`~vs_colorize.backends.session.Session`; the runner's stream, buffers
    and context are freed when the session is garbage-collected (or at interpreter exit)."""

    def __init__(self, runner: Any, *, label: str) -> None:
        self._runner = runner
        weakref.finalize(self, runner.close)
        self.description = f"TensorRT[{label}]"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._runner(np.ascontiguousarray(x, dtype=np.float32)), dtype=np.float32)
