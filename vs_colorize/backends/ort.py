"""ONNX Runtime backend: CPU, CUDA and TensorRT execution providers."""

from __future__ import annotations

import functools
import importlib.metadata
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np

from ..checks import check_choice, check_int, error
from ..core.contract import ModelInfo
from .base import SessionBackend, cuda_device_count

if TYPE_CHECKING:
    import onnxruntime

log = logging.getLogger("vs_colorize")

Provider = Literal["auto", "cpu", "cuda", "tensorrt"]
_EP: dict[Provider, str] = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
#: Distributions that all install the same ``onnxruntime`` module and overwrite each other.
_ORT_DISTRIBUTIONS = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino")


def installed_ort_distributions() -> list[str]:
    """The onnxruntime distributions installed in this environment (importlib.metadata)."""
    found = []
    for dist in _ORT_DISTRIBUTIONS:
        try:
            importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
        found.append(dist)
    return found


def import_onnxruntime(func: str = "ORT") -> onnxruntime:
    """Import onnxruntime, refusing an environment with several onnxruntime distributions."""
    dists = installed_ort_distributions()
    if len(dists) > 1:
        raise error(
            func,
            f"several ONNX Runtime distributions are installed ({', '.join(dists)}); they overwrite each "
            "other's files and break. Keep exactly one: pip uninstall -y "
            f"{' '.join(dists)} && pip install onnxruntime-gpu   (or onnxruntime for CPU only)",
        )
    try:
        import onnxruntime
    except ImportError as exc:
        raise error(
            func, "onnxruntime is not installed: pip install 'vs-colorize[cpu]' (or [gpu] for CUDA)"
        ) from exc
    return onnxruntime


@dataclass(frozen=True, kw_only=True)
class ORT(SessionBackend):
    """ONNX Runtime.

    Args:
        provider: ``"cpu"``, ``"cuda"``, ``"tensorrt"`` or ``"auto"`` (TensorRT > CUDA > CPU, whatever
            the installed build offers and a session really gets). An explicit GPU provider that the
            session does not get raises instead of silently running on the CPU.
        device_id: CUDA device for the GPU providers.
        intra_op_threads: CPU threads per session (0 = ONNX Runtime's default, one per core). Small
            numbers are faster inside VapourSynth, whose own threads compete for the cores.
        spinning: let idle ORT threads spin (off by default: spinning steals CPU from VapourSynth).
        trt_fp16: let the TensorRT provider build fp16 engines.
        trt_cache_dir: where the TensorRT provider caches engines (None = ORT's default, no cache).
        cuda_graph: capture the model into a CUDA graph and replay it (CUDA provider ``enable_cuda_graph``,
            TensorRT provider ``trt_cuda_graph_enable``); the session then runs through an I/O binding over
            fixed GPU buffers, one per input shape. Refused with ``provider="cpu"``; ignored with a warning when
            ``"auto"`` ends on the CPU.
        prefer_nhwc: let the CUDA provider run convolutions in NHWC layout (``prefer_nhwc``; tensor cores
            prefer it). Same refusal/warning rule as ``cuda_graph``.
        num_streams: concurrent sessions (see :class:`Backend`).
        batch_size: frames per model call (see :class:`~vs_colorize.backends.base.SessionBackend`).
    """

    provider: Provider = "auto"
    device_id: int = 0
    intra_op_threads: int = 1
    spinning: bool = False
    trt_fp16: bool = True
    trt_cache_dir: str | None = None
    cuda_graph: bool = False
    prefer_nhwc: bool = False

    name: ClassVar[str] = "ort"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice(self.provider, "ORT", "provider", ("auto", *_EP))
        check_int(self.device_id, "ORT", "device_id", 0)
        check_int(self.intra_op_threads, "ORT", "intra_op_threads", 0, 256)
        for option in self._gpu_options:
            if self.provider == "cpu":
                raise error("ORT", f"{option} needs provider 'cuda' or 'tensorrt', got provider='cpu'")

    @property
    def _gpu_options(self) -> list[str]:
        """The GPU-only options that are switched on."""
        return [name for name in ("cuda_graph", "prefer_nhwc") if getattr(self, name)]

    @property
    def gpu(self) -> bool:
        if self.provider in ("cuda", "tensorrt"):
            return True
        if self.provider == "cpu":
            return False
        return _gpu_build() and cuda_device_count() > 0

    def _providers(self) -> list[str | tuple[str, dict[str, str]]]:
        ort = import_onnxruntime()
        available = ort.get_available_providers()
        wanted: list[Provider] = (
            ["tensorrt", "cuda", "cpu"]
            if self.provider == "auto"
            else list(dict.fromkeys([self.provider, "cpu"]))
        )
        if self.provider == "auto" and cuda_device_count() == 0:
            wanted = ["cpu"]
        out: list[str | tuple[str, dict[str, str]]] = []
        for key in wanted:
            ep = _EP[key]
            if ep not in available:
                if key == self.provider:
                    raise error(
                        "ORT",
                        f"provider={key!r} is not in this onnxruntime build ({', '.join(available)}); "
                        "install onnxruntime-gpu (and only it)",
                    )
                continue
            if key == "cuda":
                cuda = {"device_id": str(self.device_id)}
                if self.cuda_graph:
                    cuda["enable_cuda_graph"] = "1"
                if self.prefer_nhwc:
                    cuda["prefer_nhwc"] = "1"
                out.append((ep, cuda))
            elif key == "tensorrt":
                opts = {"device_id": str(self.device_id), "trt_fp16_enable": str(self.trt_fp16)}
                if self.cuda_graph:
                    opts["trt_cuda_graph_enable"] = "True"
                if self.trt_cache_dir:
                    opts |= {"trt_engine_cache_enable": "True", "trt_engine_cache_path": self.trt_cache_dir}
                out.append((ep, opts))
            else:
                out.append(ep)
        return out

    def open(self, path: Path, info: ModelInfo, shape: tuple[int, int, int, int]) -> OrtSession:
        ort = import_onnxruntime()
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.intra_op_threads
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        so.add_session_config_entry("session.intra_op.allow_spinning", "1" if self.spinning else "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "1" if self.spinning else "0")
        providers = self._providers()
        try:
            session = ort.InferenceSession(str(path), sess_options=so, providers=providers)
        except Exception as exc:
            raise error("ORT", f"cannot load {str(path)!r}: {exc}") from exc
        actual = session.get_providers()
        if self.provider in ("cuda", "tensorrt") and actual[0] != _EP[self.provider]:
            raise error(
                "ORT",
                f"provider={self.provider!r} was requested but the session runs on {actual[0]} "
                "(CUDA/cuDNN/TensorRT libraries missing or no GPU visible)",
            )
        log.debug("ORT session for %s on %s", path, actual)
        graph = self.cuda_graph
        if self._gpu_options and actual[0] == _EP["cpu"]:
            log.warning(
                "ORT: %s ignored: the session runs on CPUExecutionProvider (no GPU provider here)",
                " and ".join(self._gpu_options),
            )
            graph = False
        if graph:
            n, _, h, w = shape
            out = (n, info.out_channels, h * info.scale, w * info.scale)
            return OrtGraphSession(session, self.device_id, shape, out)
        return OrtSession(session)


class OrtSession:
    """An ``onnxruntime.InferenceSession`` as a :class:`~vs_colorize.backends.session.Session`."""

    def __init__(self, session: onnxruntime.InferenceSession) -> None:
        self._session = session
        inp = session.get_inputs()[0]
        self._input = inp.name
        self._output = session.get_outputs()[0].name
        self._dtype = np.float16 if inp.type == "tensor(float16)" else np.float32
        self.provider: str = session.get_providers()[0]
        self.description = f"ORT[{self.provider}]"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        (y,) = self._session.run([self._output], {self._input: x.astype(self._dtype, copy=False)})
        return np.asarray(y, dtype=np.float32)


class OrtGraphSession(OrtSession):
    """An :class:`OrtSession` for CUDA-graph sessions. ONNX Runtime replays its captured graph only while the
    input and output buffers keep their GPU addresses, so the session owns one input and one output ``OrtValue``
    on the device for its one input shape (the batch and tile plan make every call the same shape), bound once
    through an I/O binding; a call updates the input in place, runs and copies the output back.
    **Unverified:** written against ONNX Runtime's documented ``io_binding``/``OrtValue`` API (CUDA graphs
    section of the CUDA provider docs); the development machines have no GPU.
    """

    def __init__(
        self,
        session: onnxruntime.InferenceSession,
        device_id: int,
        shape: tuple[int, int, int, int],
        out: tuple[int, int, int, int],
    ) -> None:
        super().__init__(session)
        ort = import_onnxruntime()
        out_type = np.float16 if session.get_outputs()[0].type == "tensor(float16)" else np.float32
        self._shape = shape
        self._in = ort.OrtValue.ortvalue_from_shape_and_type(shape, self._dtype, "cuda", device_id)
        self._out = ort.OrtValue.ortvalue_from_shape_and_type(out, out_type, "cuda", device_id)
        self._binding = session.io_binding()
        self._binding.bind_ortvalue_input(self._input, self._in)
        self._binding.bind_ortvalue_output(self._output, self._out)
        self.description = f"ORT[{self.provider}/cuda-graph]"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if x.shape != self._shape:
            raise ValueError(f"a CUDA-graph session runs one input shape, {self._shape}; got {x.shape}")
        self._in.update_inplace(np.ascontiguousarray(x, dtype=self._dtype))
        self._session.run_with_iobinding(self._binding)
        return np.asarray(self._out.numpy(), dtype=np.float32)


def _field(number: int, payload: bytes | int) -> bytes:
    """One protobuf field: varint (int) or length-delimited (bytes)."""

    def varint(v: int) -> bytes:
        out = bytearray()
        while True:
            out.append((v & 0x7F) | (0x80 if v > 0x7F else 0))
            v >>= 7
            if not v:
                return bytes(out)

    if isinstance(payload, int):
        return varint(number << 3) + varint(payload)
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def probe_model() -> bytes:
    """A serialized 1-node ONNX model (``Identity`` on float ``[1]``), written without the onnx package."""
    tensor_type = _field(1, _field(1, 1) + _field(2, _field(1, _field(1, 1))))  # float, shape [1]

    def value(name: str) -> bytes:
        return _field(1, name.encode()) + _field(2, tensor_type)

    node = _field(1, b"x") + _field(2, b"y") + _field(4, b"Identity")
    graph = _field(1, node) + _field(2, b"probe") + _field(11, value("x")) + _field(12, value("y"))
    return _field(1, 8) + _field(7, graph) + _field(8, _field(2, 13))


@functools.cache
def probe_gpu_provider(device_id: int = 0) -> Provider | None:
    """The GPU provider a real session gets here (``"tensorrt"``/``"cuda"``), None when it falls to the CPU."""
    if not _gpu_build() or cuda_device_count() == 0:
        return None
    ort = import_onnxruntime()
    so = ort.SessionOptions()
    so.log_severity_level = 4
    providers = [
        p
        for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider")
        if p in ort.get_available_providers()
    ]
    options = [{"device_id": str(device_id)}] * len(providers)
    try:
        session = ort.InferenceSession(
            probe_model(), sess_options=so, providers=[*providers, "CPUExecutionProvider"],
            provider_options=[*options, {}],
        )  # fmt: skip
    except Exception:
        return None
    first = session.get_providers()[0]
    return {v: k for k, v in _EP.items()}.get(first) if first != "CPUExecutionProvider" else None


def _gpu_build() -> bool:
    """Whether the installed onnxruntime offers the CUDA provider (a compile-time list, not a GPU probe)."""
    try:
        ort = import_onnxruntime()
    except Exception:
        return False
    return "CUDAExecutionProvider" in ort.get_available_providers()
