"""TensorRT engines for exported ONNX artifacts: build (cached per GPU) and run.

**Unverified:** TensorRT and CUDA are not available on the machines this project is developed and tested
on. This module is written against the documented TensorRT 10 Python API (``tensorrt.Builder``,
``OnnxParser``, optimisation profiles, ``IExecutionContext.execute_async_v3``) and cuda-python's
``cuda.bindings.runtime``; its tests carry the ``trt``/``gpu`` markers and skip here.

Nothing heavy is imported with this module: ``tensorrt`` and ``cuda.bindings`` are imported on first use.
Engines are GPU- and version-specific, so they are built on the user's machine and cached under
``<cache>/engines/`` by a key over everything that makes an engine (ONNX hash, TensorRT version, GPU
name and compute capability, shapes, precision, workspace).

An engine is native code: TensorRT runs what the file holds as it deserialises it. So the runtime is made
with host code in engines disallowed (``engine_host_code_allowed = False``, TensorRT's default, set
explicitly), and a cached engine is loaded only when it is a regular file of this user that nobody else may
write (:func:`cached_engine_problem`); engine files from elsewhere are refused by the filters unless the
caller says ``trust_engine=True`` (:func:`vs_colorize.models.check_engine_trust`).
"""

from __future__ import annotations

import ctypes
import importlib
import logging
import os
import re
import stat
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .core import cache, fileio

log = logging.getLogger(__name__)

Shape = tuple[int, ...]


class TRTError(RuntimeError):
    """TensorRT or CUDA failed, or is not installed."""


def _import_trt() -> ModuleType:
    try:
        return importlib.import_module("tensorrt")
    except ImportError as exc:
        raise TRTError(
            "TensorRT is not installed: pip install 'vs-colorize[trt]' (tensorrt comes from NVIDIA's index)"
        ) from exc


def _import_cudart() -> ModuleType:
    try:
        return importlib.import_module("cuda.bindings.runtime")
    except ImportError as exc:
        raise TRTError("cuda-python is not installed: pip install 'vs-colorize[trt]'") from exc


def _cuda(result: tuple[Any, ...], what: str) -> Any:
    """Unpack a cuda-python ``(err, *values)`` tuple, raising TRTError on a CUDA error."""
    cudart = _import_cudart()
    err, *values = result
    if err != cudart.cudaError_t.cudaSuccess:
        _, name = cudart.cudaGetErrorName(err)
        raise TRTError(f"{what} failed: {name.decode() if isinstance(name, bytes) else name}")
    return values[0] if len(values) == 1 else tuple(values)


def _logger(trt: ModuleType) -> Any:
    return trt.Logger(trt.Logger.WARNING)


def _runtime(trt: ModuleType) -> Any:
    """A TensorRT runtime that refuses engines carrying host code (lean/dispatch runtimes, embedded plugins)."""
    runtime = trt.Runtime(_logger(trt))
    runtime.engine_host_code_allowed = False
    return runtime


def cached_engine_problem(path: str | os.PathLike[str]) -> str | None:
    """Why the cached engine ``path`` must not be loaded, or None when it may.

    It may when it is a regular file (not a link), owned by this user and not writable by group or others:
    in a shared or world-writable ``cache_dir`` anyone else could have put native code there.
    """
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file"
    uid = os.geteuid()
    if st.st_uid != uid:
        return f"belongs to uid {st.st_uid}, not to this user (uid {uid})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"is writable by group or others (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def gpu_identity(device_id: int = 0) -> tuple[str, str]:
    """(GPU name, compute capability "major.minor") of CUDA device ``device_id``."""
    cudart = _import_cudart()
    props = _cuda(cudart.cudaGetDeviceProperties(device_id), "cudaGetDeviceProperties")
    name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
    return name.strip("\x00 "), f"{props.major}.{props.minor}"


def _check_shapes(min_shape: Shape, opt_shape: Shape, max_shape: Shape) -> None:
    shapes = {"min_shape": min_shape, "opt_shape": opt_shape, "max_shape": max_shape}
    for name, shape in shapes.items():
        if len(shape) != 4 or any(not isinstance(d, int) or d < 1 for d in shape):
            raise ValueError(f"build_engine: {name} must be 4 positive ints (N, C, H, W), got {shape!r}")
    if not all(a <= b <= c for a, b, c in zip(min_shape, opt_shape, max_shape, strict=True)):
        raise ValueError(
            f"build_engine: need min_shape <= opt_shape <= max_shape per axis, got "
            f"{min_shape} / {opt_shape} / {max_shape}"
        )


def _deserializes(trt: ModuleType, data: bytes) -> bool:
    try:
        return _runtime(trt).deserialize_cuda_engine(data) is not None
    except Exception:  # TensorRT raises plain RuntimeError/TypeError for foreign or truncated files
        return False


def build_engine(
    onnx_path: str | os.PathLike[str],
    *,
    min_shape: Shape,
    opt_shape: Shape,
    max_shape: Shape,
    fp16: bool = True,
    workspace_gib: float = 4,
    cache_dir: str | os.PathLike[str] | None = None,
    timing_cache: bool = True,
    device_id: int = 0,
) -> Path:
    """Build (or reuse) a TensorRT engine for ``onnx_path`` and return the engine file's path.

    Args:
        onnx_path: an exported ONNX artifact (single file).
        min_shape, opt_shape, max_shape: the optimisation profile of the ``input`` tensor, (N, C, H, W)
            each; equal for a static engine.
        fp16: allow float16 kernels (``BuilderFlag.FP16``; input/output stay float32). Default True.
        workspace_gib: builder workspace limit in GiB, > 0 (default 4).
        cache_dir: where engines live (default ``<cache>/engines``).
        timing_cache: keep TensorRT's timing cache in ``cache_dir`` and reuse it (faster rebuilds).
        device_id: CUDA device the engine is built for.

    The engine is cached under a key over the ONNX sha256, TensorRT version, GPU name and compute
    capability, shapes, precision and workspace, written atomically and reused when the key matches; a
    cached file that does not deserialize is rebuilt.

    Raises:
        ValueError: bad shapes or workspace; FileNotFoundError: no ``onnx_path``; TRTError: TensorRT is
        missing, the parser rejects the model or the build fails.
    """
    _check_shapes(tuple(min_shape), tuple(opt_shape), tuple(max_shape))
    if not workspace_gib > 0:
        raise ValueError(f"build_engine: workspace_gib must be > 0, got {workspace_gib!r}")
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise FileNotFoundError(f"build_engine: onnx_path {os.fspath(onnx_path)!r} does not exist")
    trt = _import_trt()
    _cuda(_import_cudart().cudaSetDevice(device_id), "cudaSetDevice")
    gpu, capability = gpu_identity(device_id)
    key = cache.engine_key(
        onnx_sha256=fileio.sha256_file(onnx_path),
        tensorrt=trt.__version__,
        gpu=gpu,
        compute_capability=capability,
        shapes=[list(min_shape), list(opt_shape), list(max_shape)],
        precision="fp16" if fp16 else "fp32",
        workspace_gib=workspace_gib,
    )
    folder = Path(cache_dir) if cache_dir is not None else cache.subdir("engines")
    folder.mkdir(parents=True, exist_ok=True)
    engine_path = folder / f"{onnx_path.stem}-{key}.engine"
    if engine_path.is_symlink() or engine_path.exists():
        problem = cached_engine_problem(engine_path)
        if problem is not None:
            raise TRTError(
                f"build_engine: cached engine {os.fspath(engine_path)!r} {problem}; an engine is native code, so "
                "it is not loaded: remove it, or give a cache_dir only you can write"
            )
        if _deserializes(trt, engine_path.read_bytes()):
            log.info("reusing TensorRT engine %s", engine_path)
            return engine_path
        log.warning("cached engine %s does not deserialize; rebuilding it", engine_path)

    slug = re.sub(r"[^A-Za-z0-9.]+", "_", f"{gpu}-sm{capability}-trt{trt.__version__}")
    timing_path = folder / f"timing-{slug}.cache" if timing_cache else None
    data = _build(trt, onnx_path, (min_shape, opt_shape, max_shape), fp16, workspace_gib, timing_path)
    # never group- or world-writable, whatever the umask: cached_engine_problem refuses such a file on reuse
    with fileio.atomic_output(engine_path, overwrite=True, mode=0o644) as tmp:
        tmp.write_bytes(data)
    log.info("wrote TensorRT engine %s (%.1f MB)", engine_path, len(data) / 1e6)
    return engine_path


def _build(
    trt: ModuleType,
    onnx_path: Path,
    shapes: tuple[Shape, Shape, Shape],
    fp16: bool,
    workspace_gib: float,
    timing_path: Path | None,
) -> bytes:
    logger = _logger(trt)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: networks are always explicit-batch
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(os.fspath(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise TRTError(f"build_engine: TensorRT cannot parse {onnx_path.name}: {errors}")
    if network.num_inputs != 1:
        raise TRTError(f"build_engine: expected one input tensor, {onnx_path.name} has {network.num_inputs}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    profile.set_shape(network.get_input(0).name, *shapes)
    config.add_optimization_profile(profile)
    if timing_path is not None:
        previous = timing_path.read_bytes() if timing_path.is_file() else b""
        config.set_timing_cache(config.create_timing_cache(previous), ignore_mismatch=True)
    log.info("building TensorRT engine for %s (%s); this takes minutes …", onnx_path.name, shapes)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise TRTError(f"build_engine: TensorRT failed to build an engine for {onnx_path.name}")
    if timing_path is not None:
        with fileio.atomic_output(timing_path, overwrite=True) as tmp:
            tmp.write_bytes(memoryview(config.get_timing_cache().serialize()))
    return bytes(memoryview(serialized))


class TRTRunner:
    """Run a TensorRT engine on float32 NCHW numpy arrays.

    One runner owns one execution context, one CUDA stream, its device buffers and page-locked (pinned) host
    staging buffers, all grown on demand; use one runner per concurrent stream (the TRT backend opens one per
    ``num_streams``, so the streams' copies and kernels overlap on the GPU). A call copies the input into the
    pinned buffer, queues host→device copy, ``execute_async_v3`` and device→host copy on the runner's stream and
    waits for that stream only. ``close()`` (or ``with``) frees everything.

    Args:
        engine_path: a file from :func:`build_engine`.
        device_id: CUDA device to run on (default 0).
    """

    def __init__(self, engine_path: str | os.PathLike[str], *, device_id: int = 0) -> None:
        trt = _import_trt()
        cudart = _import_cudart()
        self._cudart = cudart
        self._device_id = device_id
        _cuda(cudart.cudaSetDevice(device_id), "cudaSetDevice")
        self._runtime = _runtime(trt)
        path = Path(engine_path)
        self._engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
        if self._engine is None:
            raise TRTError(
                f"TRTRunner: {os.fspath(path)!r} is not an engine for this GPU/TensorRT; rebuild it"
            )
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        inputs = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if n not in inputs]
        if len(inputs) != 1 or len(outputs) != 1:
            raise TRTError(f"TRTRunner: expected one input and one output, got {inputs} / {outputs}")
        for n in names:
            if self._engine.get_tensor_dtype(n) != trt.DataType.FLOAT:
                raise TRTError(f"TRTRunner: tensor {n!r} is not float32; export with fp32 I/O")
        self._input, self._output = inputs[0], outputs[0]
        self._context = self._engine.create_execution_context()
        self._stream = _cuda(
            cudart.cudaStreamCreateWithFlags(cudart.cudaStreamNonBlocking), "cudaStreamCreate"
        )
        self._buffers: dict[str, tuple[Any, int]] = {}
        self._pinned: dict[str, tuple[int, int]] = {}

    def _device_buffer(self, name: str, nbytes: int) -> Any:
        ptr, size = self._buffers.get(name, (None, 0))
        if size < nbytes:
            if ptr is not None:
                _cuda(self._cudart.cudaFree(ptr), "cudaFree")
            ptr = _cuda(self._cudart.cudaMalloc(nbytes), "cudaMalloc")
            self._buffers[name] = (ptr, nbytes)
            self._context.set_tensor_address(name, int(ptr))
        return ptr

    def _host_buffer(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A float32 array of ``shape`` over this runner's pinned host buffer ``name`` (grown on demand)."""
        nbytes = int(np.prod(shape)) * 4
        ptr, size = self._pinned.get(name, (0, 0))
        if size < nbytes:
            if ptr:
                _cuda(self._cudart.cudaFreeHost(ptr), "cudaFreeHost")
            ptr = int(_cuda(self._cudart.cudaMallocHost(nbytes), "cudaMallocHost"))
            self._pinned[name] = (ptr, nbytes)
        raw = (ctypes.c_float * (nbytes // 4)).from_address(ptr)
        return np.ctypeslib.as_array(raw).reshape(shape)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Run the engine on ``x`` (float32 ``[N, C, H, W]`` within the engine's profile); returns a new array.

        Safe to call from any thread (CUDA's current device is per thread, so it is set on every call), but
        not from two threads at once: the runner's buffers are its own.
        """
        if self._context is None:
            raise TRTError("TRTRunner: the runner is closed")
        _cuda(self._cudart.cudaSetDevice(self._device_id), "cudaSetDevice")
        if x.ndim != 4:
            raise ValueError(f"TRTRunner: x must be a 4-D NCHW array, got shape {x.shape}")
        if not self._context.set_input_shape(self._input, x.shape):
            raise ValueError(f"TRTRunner: input shape {x.shape} is outside the engine's optimisation profile")
        out_shape = tuple(self._context.get_tensor_shape(self._output))
        host_in = self._host_buffer(self._input, x.shape)
        np.copyto(host_in, x, casting="same_kind")
        host_out = self._host_buffer(self._output, out_shape)
        d_in = self._device_buffer(self._input, host_in.nbytes)
        d_out = self._device_buffer(self._output, host_out.nbytes)
        kinds = self._cudart.cudaMemcpyKind
        _cuda(
            self._cudart.cudaMemcpyAsync(
                d_in, host_in.ctypes.data, host_in.nbytes, kinds.cudaMemcpyHostToDevice, self._stream
            ),
            "cudaMemcpyAsync",
        )
        if not self._context.execute_async_v3(self._stream):
            raise TRTError("TRTRunner: execute_async_v3 failed")
        _cuda(
            self._cudart.cudaMemcpyAsync(
                host_out.ctypes.data, d_out, host_out.nbytes, kinds.cudaMemcpyDeviceToHost, self._stream
            ),
            "cudaMemcpyAsync",
        )
        _cuda(self._cudart.cudaStreamSynchronize(self._stream), "cudaStreamSynchronize")
        return host_out.copy()

    def close(self) -> None:
        """Free the device and pinned host buffers and the stream (idempotent; callable from any thread)."""
        if self._buffers or self._pinned or self._stream is not None:
            self._cudart.cudaSetDevice(self._device_id)
        for ptr, _ in self._buffers.values():
            self._cudart.cudaFree(ptr)
        self._buffers.clear()
        for host, _ in self._pinned.values():
            self._cudart.cudaFreeHost(host)
        self._pinned.clear()
        if self._stream is not None:
            self._cudart.cudaStreamDestroy(self._stream)
            self._stream = None
        self._context = None  # released before the engine it was created from
        self._engine = None

    def __enter__(self) -> TRTRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
